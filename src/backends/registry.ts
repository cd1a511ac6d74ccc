import { isAbsolute, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Backend } from "./backend.js";
import { LocalStoreBackend } from "./local.js";
import { PosixBackend } from "./posix.js";

export type BackendKind = "posix" | "local";

/** A location URL taken apart: which backend serves it and where its root is. */
export interface ParsedLocation {
  kind: BackendKind;
  /** The URL in its one canonical spelling, used as the location's identity in the catalog. */
  url: string;
  /** For posix and local: the absolute directory. */
  root: string;
}

export interface BackendOptions {
  restoreDelayMs: number;
}

export class LocationUrlError extends Error {}

/**
 * Accepts a plain path (relative to `baseDir`), `file:///abs/path`, `local:///abs/dir` or
 * `local:relative/dir`.
 * Cloud schemes are named so the message is clear until their backends land.
 */
export function parseLocationUrl(text: string, baseDir = process.cwd()): ParsedLocation {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    const root = stripTrailingSlash(resolve(baseDir, text));
    return { kind: "posix", url: canonicalUrl("file", root), root };
  }
  if (scheme === "local" && !text.startsWith("local://")) {
    // local:store/dir, the short form for the quick start, is relative like a plain path.
    const root = stripTrailingSlash(resolve(baseDir, text.slice("local:".length)));
    return { kind: "local", url: canonicalUrl("local", root), root };
  }
  if (scheme === "file" || scheme === "local") {
    const root = stripTrailingSlash(pathFromUrl(text, scheme));
    return { kind: scheme === "file" ? "posix" : "local", url: canonicalUrl(scheme, root), root };
  }
  if (["s3", "gs", "az"].includes(scheme)) {
    throw new LocationUrlError(`${text}: ${scheme}:// locations are not supported by this build yet`);
  }
  throw new LocationUrlError(
    `${text}: unknown location scheme "${scheme}:" (expected a path, file:///path or local:///dir)`,
  );
}

export async function openBackend(location: ParsedLocation, options: BackendOptions): Promise<Backend> {
  switch (location.kind) {
    case "posix":
      return new PosixBackend(location.root, location.url);
    case "local":
      return LocalStoreBackend.open(location.root, location.url, options);
  }
}

function pathFromUrl(text: string, scheme: string): string {
  // file:///abs is standard; local:///abs follows it. Percent-escapes are decoded as bytes would be.
  const asFile = `file:${text.slice(scheme.length + 1)}`;
  let path: string;
  try {
    path = fileURLToPath(asFile);
  } catch (err) {
    throw new LocationUrlError(`${text}: ${(err as Error).message}`);
  }
  if (!isAbsolute(path)) throw new LocationUrlError(`${text}: the path must be absolute`);
  return path;
}

function canonicalUrl(scheme: string, root: string): string {
  return `${scheme}:${pathToFileURL(root).href.slice("file:".length)}`;
}

function stripTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}
