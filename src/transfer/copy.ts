import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { Backend, FileAttributes, ObjectInfo } from "../backends/backend.js";
import { IntegrityError, InvalidRequestError } from "../backends/backend.js";
import { parseStub, STUB_MAX_BYTES } from "../codec/stub.js";
import type { CopyRequest } from "./copy-request.js";
import { copyInRanges, planRanges } from "./ranged-download.js";
import { MeteredStream } from "./rate-limit.js";

// Callers take the request from where they take the copy.
export type { CopyRequest } from "./copy-request.js";

export interface CopyResult {
  sha256: string;
  size: number;
  stored: ObjectInfo;
}

/**
 * Copies one file or object, reading the source once. The target hashes the very bytes it
 * consumed and stored (and the clouds have their servers check them: Content-MD5, ETags, block
 * MD5s, CRC32C) and, when the hash to expect is known, refuses other bytes before they become
 * visible, leaving what was at the target exactly as it was. Only a copy that passed is
 * returned. A large object bound for a file (POSIX, the embedded store) comes down in ranges
 * read in parallel.
 */
export async function copyVerified(req: CopyRequest): Promise<CopyResult> {
  const ranged = planRanges(req.target, req.size, req.streams);
  const read = await req.source.read(req.sourceKey, ranged?.ranges[0]);
  const { info } = read;
  // Only a small source can be a stub; large ones pay nothing for the check.
  const body = !ranged && req.size <= STUB_MAX_BYTES ? await unlessStub(req, read.body) : read.body;
  // An object's own metadata knows its file's mtime, mode and owner; a listing (S3's) may not. The
  // origin is where this copy comes from, never where the source object once came from.
  const carried = isOtherFiles(info.attributes, req.ownerPath) ? undefined : info.attributes;
  const attributes = carried
    ? { ...req.attributes, ...carried, path: req.attributes.path ?? carried.path, origin: req.attributes.origin }
    : req.attributes;
  // The catalog's hash, else the one Strata stored with the object: damage since is caught too.
  const expectedHash = req.expectedHash ?? carried?.sha256;
  const checked = { ...req, attributes, ...(expectedHash ? { expectedHash } : {}) };
  if (ranged) return accepted(checked, await copyInRanges({ ...checked, ...ranged, first: { body, info } }));
  const metered = new MeteredStream({
    ...(req.bandwidth ? { bucket: req.bandwidth } : {}),
    ...(req.onBytes ? { onBytes: req.onBytes } : {}),
  });
  body.on("error", (err) => metered.destroy(err));
  const stored = await req.target
    .write(req.targetKey, body.pipe(metered), {
      size: req.size,
      attributes,
      ...(req.storageClass ? { storageClass: req.storageClass } : {}),
      ...(req.tags ? { tags: req.tags } : {}),
      ...(req.journal ? { journal: req.journal } : {}),
      ...(req.streams ? { streams: req.streams } : {}),
      ...(expectedHash ? { expectedSha256: expectedHash } : {}),
      ...(req.trust ? { trust: req.trust } : {}),
    })
    .catch((err: unknown) => {
      // A write that gave up may have left the source half read: close it now, not at GC.
      body.destroy();
      throw err;
    });
  return accepted(checked, stored);
}

/**
 * The body of a small source, unless it is a Strata stub: a stub stands in for data that lives
 * elsewhere, and copying it over its own object would destroy that data. Refused whatever the
 * catalog says of the file (a scan may have raced a release, or the catalog was lost).
 */
async function unlessStub(req: CopyRequest, body: Readable): Promise<Readable> {
  const chunks = body[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let bytes = 0;
  let ended = false;
  while (bytes <= STUB_MAX_BYTES) {
    const next = await chunks.next();
    if (next.done) {
      ended = true;
      break;
    }
    head.push(next.value as Buffer);
    bytes += (next.value as Buffer).length;
  }
  if (ended && parseStub(Buffer.concat(head))) {
    throw new InvalidRequestError(
      req.source.url,
      `${JSON.stringify(req.sourceKey)} is a Strata stub, not data: not copied`,
    );
  }
  return Readable.from(
    (async function* () {
      yield* head;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value as Buffer;
    })(),
    { objectMode: false },
  );
}

/**
 * The copy counts only if the target reported the hash expected. The target checked it before
 * its commit point; this is the caller's own look at the answer, and it deletes nothing: what is
 * at the key may be the only good copy of something.
 */
function accepted(req: CopyRequest, stored: ObjectInfo): CopyResult {
  if (!stored.sha256) throw new IntegrityError(req.target.url, req.targetKey, "the target reported no checksum");
  if (req.expectedHash && req.expectedHash !== stored.sha256) {
    const detail = `expected ${req.expectedHash}, the target stored ${stored.sha256}`;
    throw new IntegrityError(req.target.url, req.targetKey, detail);
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

/** Whether an object's attributes name another path than the file it is read for (a deduplicated object's). */
function isOtherFiles(carried: FileAttributes | undefined, path: string | undefined): boolean {
  return carried?.path !== undefined && path !== undefined && carried.path !== path;
}
