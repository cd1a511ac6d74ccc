import { createHash } from "node:crypto";
import type { Backend, FileAttributes, ObjectInfo } from "../backends/backend.js";
import { BackendError } from "../backends/backend.js";
import { HashingStream } from "../codec/hash.js";
import { Throttle, type TokenBucket } from "./rate-limit.js";

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
 * Copies one file or object, reading the source once: the same pass hashes it. The target
 * hashes what it stored; the two must agree (and match the catalog's hash when it has one),
 * otherwise the copy is deleted and the error reported. Only a copy that passed is returned.
 */
export async function copyVerified(req: CopyRequest): Promise<CopyResult> {
  const { body, info } = await req.source.read(req.sourceKey);
  // An object's own metadata knows its file's mtime and mode; a listing (S3's) may not.
  const carried = info.attributes;
  const attributes = carried
    ? { ...req.attributes, ...carried, path: req.attributes.path ?? carried.path }
    : req.attributes;
  const hashing = new HashingStream(req.onBytes);
  const paced = req.bandwidth ? body.pipe(new Throttle(req.bandwidth)) : body;
  body.on("error", (err) => hashing.destroy(err));
  const stored = await req.target.write(req.targetKey, paced.pipe(hashing), {
    size: req.size,
    attributes,
    ...(req.storageClass ? { storageClass: req.storageClass } : {}),
    ...(req.tags ? { tags: req.tags } : {}),
  });
  const read = hashing.digest();
  const problem =
    stored.sha256 !== read.sha256
      ? `source read as ${read.sha256}, target stored ${stored.sha256 ?? "no checksum"}`
      : req.expectedHash && req.expectedHash !== read.sha256
        ? `catalog expects ${req.expectedHash}, source now reads ${read.sha256}`
        : undefined;
  if (problem) {
    await req.target.delete([req.targetKey]).catch(() => undefined);
    throw new IntegrityError(req.target.url, req.targetKey, problem);
  }
  return { sha256: read.sha256, size: read.size, stored };
}

/** Reads an object through once and returns its SHA-256. */
export async function hashObject(backend: Backend, key: string): Promise<string> {
  const { body } = await backend.read(key);
  const hash = createHash("sha256");
  for await (const chunk of body) hash.update(chunk as Buffer);
  return hash.digest("hex");
}
