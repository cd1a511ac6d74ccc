import { isAbsolute, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { AzureOptions, GcsOptions, S3Options } from "../config/schema.js";
import type { Backend } from "./backend.js";
import { LocalStoreBackend } from "./local.js";
import { PosixBackend } from "./posix.js";

export type DirectoryKind = "posix" | "local";
export type CloudKind = "s3" | "azure" | "gcs";
export type BackendKind = DirectoryKind | CloudKind;

/** A location URL taken apart: which backend serves it and where its root is. */
export type ParsedLocation = DirectoryLocation | CloudLocation<"s3"> | CloudLocation<"azure"> | CloudLocation<"gcs">;

export interface DirectoryLocation {
  kind: DirectoryKind;
  /** The URL in its one canonical spelling, the location's identity in the catalog. */
  url: string;
  /** The absolute directory. */
  root: string;
}

export interface CloudLocation<K extends CloudKind = CloudKind> {
  kind: K;
  url: string;
  /** Bucket (S3, GCS) or container (Azure). */
  bucket: string;
  /** Key prefix without a trailing slash; "" for the whole bucket. */
  prefix: string;
}

export interface BackendOptions {
  restoreDelayMs: number;
  s3?: S3Options;
  azure?: AzureOptions;
  gcs?: GcsOptions;
}

export class LocationUrlError extends Error {}

const CLOUD_SCHEMES: Record<string, CloudKind> = { s3: "s3", gs: "gcs", az: "azure" };

/** Each provider's documented bucket (container) naming rules, checked before any request. */
const BUCKET_RULES: Record<CloudKind, { pattern: RegExp; rule: string }> = {
  s3: {
    pattern: /^(?!xn--)(?!.*\.\.)(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
    rule: "3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit",
  },
  gcs: {
    pattern: /^(?!goog)[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/,
    rule: "3 to 63 lowercase letters, digits, dots, hyphens and underscores, starting and ending with a letter or digit",
  },
  azure: {
    pattern: /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/,
    rule: "3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit",
  },
};

/**
 * Accepts a plain path (relative to `baseDir`), `file:///abs/path`, `local:///abs/dir`,
 * `local:relative/dir`, `s3://bucket/prefix`, `gs://bucket/prefix` or `az://container/prefix`.
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
  const cloud = CLOUD_SCHEMES[scheme];
  if (cloud) return parseCloudUrl(text, scheme, cloud);
  throw new LocationUrlError(
    `${text}: unknown location scheme "${scheme}:" (expected a path, file://, local:, s3://, gs:// or az://)`,
  );
}

function parseCloudUrl<K extends CloudKind>(text: string, scheme: string, kind: K): CloudLocation<K> {
  const match = new RegExp(`^${scheme}://([^/]*)/?(.*)$`, "i").exec(text);
  const bucket = match?.[1] ?? "";
  const prefix = (match?.[2] ?? "").replace(/\/+$/, "");
  const { pattern, rule } = BUCKET_RULES[kind];
  if (!pattern.test(bucket)) {
    throw new LocationUrlError(
      `${text}: "${bucket}" is not a valid ${kind === "azure" ? "container" : "bucket"} name (${rule})`,
    );
  }
  return { kind, url: `${scheme}://${bucket}${prefix ? `/${prefix}` : ""}`, bucket, prefix };
}

export async function openBackend(location: ParsedLocation, options: BackendOptions): Promise<Backend> {
  switch (location.kind) {
    case "posix":
      return new PosixBackend(location.root, location.url);
    case "local":
      return LocalStoreBackend.open(location.root, location.url, { restoreDelayMs: options.restoreDelayMs });
    // The cloud SDKs are large; load each only when a location needs it.
    case "s3": {
      const { S3Backend } = await import("./s3.js");
      return S3Backend.open(location, options.s3 ?? defaultsOf("s3"));
    }
    case "azure": {
      const { AzureBackend } = await import("./azure.js");
      return AzureBackend.open(location, options.azure ?? defaultsOf("azure"));
    }
    case "gcs": {
      const { GcsBackend } = await import("./gcs.js");
      return GcsBackend.open(location, options.gcs ?? defaultsOf("gcs"));
    }
  }
}

function defaultsOf(kind: "s3"): S3Options;
function defaultsOf(kind: "azure"): AzureOptions;
function defaultsOf(kind: "gcs"): GcsOptions;
function defaultsOf(kind: CloudKind): S3Options | AzureOptions | GcsOptions {
  if (kind === "s3")
    return { region: "us-east-1", forcePathStyle: false, checksums: "when_supported", partsInFlight: 4 };
  if (kind === "azure") return { concurrency: 4 };
  return {};
}

function pathFromUrl(text: string, scheme: string): string {
  // file:///abs is standard; local:///abs follows it. Percent-escapes are decoded.
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
