import { createHash } from "node:crypto";
import type { Backend, FileAttributes, ObjectInfo } from "../backends/backend.js";
import { BackendError } from "../backends/backend.js";
import { MeteredStream, type TokenBucket } from "./rate-limit.js";

export interface CopyRequest {
  source: Backend;
  sourceKey: string;
  target: Backend;
  targetKey: string;
  size: number;
  attributes: FileAttributes;
  storageClass?: string;
  tags?: Record<string, string>;
  /** The content hash the catalog expects of the source, when it knows one. */
  expectedHash?: string;
  /** Called with each chunk's size as it passes, for progress. */
  onBytes?: (count: number) => void;
  /** The bandwidth cap shared by all transfers, if any. */
  bandwidth?: TokenBucket;
}

export interface CopyResult {
  sha256: string;
  size: number;
  stored: ObjectInfo;
}

export class IntegrityError extends BackendError {
  constructor(location: string, key: string, detail: string) {
    super(`${JSON.stringify(key)}: integrity check failed: ${detail}`, location, false);
  }
}

/**
 * Copies one file or object, reading the source once. The target hashes the very bytes it
 * consumed and stored (and the clouds have their servers check them: Content-MD5, ETags, block
 * MD5s, CRC32C); that hash must match the catalog's when it has one, otherwise the copy is
 * deleted and the error reported. Only a copy that passed is returned.
 */
export async function copyVerified(req: CopyRequest): Promise<CopyResult> {
  const { body, info } = await req.source.read(req.sourceKey);
  // An object's own metadata knows its file's mtime and mode; a listing (S3's) may not.
  const carried = info.attributes;
  const attributes = carried
    ? { ...req.attributes, ...carried, path: req.attributes.path ?? carried.path }
    : req.attributes;
  const metered = new MeteredStream({
    ...(req.bandwidth ? { bucket: req.bandwidth } : {}),
    ...(req.onBytes ? { onBytes: req.onBytes } : {}),
  });
  body.on("error", (err) => metered.destroy(err));
  const stored = await req.target.write(req.targetKey, body.pipe(metered), {
    size: req.size,
    attributes,
    ...(req.storageClass ? { storageClass: req.storageClass } : {}),
    ...(req.tags ? { tags: req.tags } : {}),
  });
  const problem = !stored.sha256
    ? "the target reported no checksum"
    : req.expectedHash && req.expectedHash !== stored.sha256
      ? `catalog expects ${req.expectedHash}, the source now reads ${stored.sha256}`
      : undefined;
  if (problem || !stored.sha256) {
    await req.target.delete([req.targetKey]).catch(() => undefined);
    throw new IntegrityError(req.target.url, req.targetKey, problem ?? "no checksum");
  }
  return { sha256: stored.sha256, size: stored.size, stored };
}

/** Reads an object through once and returns its SHA-256. */
export async function hashObject(backend: Backend, key: string): Promise<string> {
  const { body } = await backend.read(key);
  const hash = createHash("sha256");
  for await (const chunk of body) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
