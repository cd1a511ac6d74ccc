import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { Backend, ByteRange, FileAttributes, ObjectInfo, ObjectReader } from "../backends/backend.js";
import { IntegrityError, InvalidRequestError } from "../backends/backend.js";
import { heldBody, positionalReadsOf } from "../backends/bodies.js";
import { bodyBuffers } from "../backends/body-buffers.js";
import { contentSize } from "../backends/metadata.js";
import { type CodecSetting, storesRaw } from "../codec/choose.js";
import { type CodecName, codecNamed } from "../codec/codec.js";
import { decodedStream } from "../codec/frame-stream.js";
import { parseStub, STUB_HEADER_BYTES, STUB_MAX_BYTES, startsLikeStub } from "../codec/stub.js";
import { compressInto } from "./compress.js";
import type { CopyRequest } from "./copy-request.js";
import { copyInRanges, planRanges } from "./ranged-download.js";
import { MeteredStream } from "./rate-limit.js";
import { Spool } from "./spool.js";

// Callers take the request from where they take the copy.
export type { CopyRequest } from "./copy-request.js";

export interface CopyResult {
  /** The SHA-256 of the content (decompressed, whatever the target stores). */
  sha256: string;
  /** The content's size in bytes. */
  size: number;
  stored: ObjectInfo;
  /** How the target stores the content: "none" for the plain bytes. */
  codec: CodecName;
  /** The bytes the target holds: the frames' for a compressed object. */
  storedSize: number;
}

/**
 * Copies one file or object, reading the source once. The target hashes the very bytes it
 * consumed and stored (and the clouds have their servers check them: Content-MD5, ETags, block
 * MD5s, CRC32C) and, when the hash to expect is known, refuses other bytes before they become
 * visible, leaving what was at the target exactly as it was. Only a copy that passed is
 * returned. A large object bound for a file (POSIX, the embedded store) comes down in ranges
 * read in parallel.
 *
 * A compressed source object is decoded on the way (its content is what is copied and checked);
 * a target object store with a codec gets the content compressed (see `writeCompressed`).
 */
export async function copyVerified(req: CopyRequest): Promise<CopyResult> {
  const compressing = compressionFor(req);
  let ranged = compressing ? undefined : planRanges(req.target, req.size, req.streams);
  let read = await req.source.read(req.sourceKey, ranged?.ranges[0]);
  if (read.info.attributes?.codec && ranged) {
    // A compressed object's byte ranges are ranges of its frames, not of its content: read it whole.
    read.body.destroy();
    ranged = undefined;
    read = await req.source.read(req.sourceKey);
  }
  // A small file's bytes read whole: their buffer is used again once the target's write settled.
  const lent = positionalReadsOf(read.body)?.held;
  try {
    return await copyRead(req, read, compressing, ranged);
  } finally {
    if (lent) bodyBuffers.giveBack(lent);
  }
}

/** The copy of what `read` gives, whole or (`ranged`) in ranges read in parallel. */
async function copyRead(
  req: CopyRequest,
  read: ObjectReader,
  compressing: CodecSetting | undefined,
  ranged: ReturnType<typeof planRanges>,
): Promise<CopyResult> {
  const storedCodec = read.info.attributes?.codec;
  const { info } = read;
  const size = storedCodec ? contentSize(info) : req.size;
  const content = storedCodec ? decodedStream(read.body, codecNamed(storedCodec)) : read.body;
  // Only a small source can be a stub; large ones pay nothing for the check.
  const body = !ranged && size <= STUB_MAX_BYTES ? await unlessStub(req, content) : content;
  // An object's own metadata knows its file's mtime, mode and owner; a listing (S3's) may not. The
  // origin is where this copy comes from, never where the source object once came from. How the
  // source stored its content is no attribute of the content, and a deduplicated object's
  // attributes are the first writer's, not this file's.
  const { codec: _codec, size: _size, ...held } = info.attributes ?? { mtimeUs: 0 };
  const carried = info.attributes && !isOtherFiles(info.attributes, req.ownerPath) ? held : undefined;
  const attributes = carried
    ? { ...req.attributes, ...carried, path: req.attributes.path ?? carried.path, origin: req.attributes.origin }
    : req.attributes;
  // The catalog's hash, else the one Strata stored with the object: damage since is caught too.
  const expectedHash = req.expectedHash ?? held.sha256;
  const checked = { ...req, size, attributes, ...(expectedHash ? { expectedHash } : {}) };
  if (ranged) return accepted(checked, await copyInRanges({ ...checked, ...ranged, first: { body, info } }));
  if (compressing) return writeCompressed(checked, body, compressing);
  return accepted(checked, await writeBody(checked, body, { size, attributes, expectedHash }));
}

/** The codec setting a copy applies: object stores only, a file tree always gets the plain file. */
function compressionFor(req: CopyRequest): CodecSetting | undefined {
  if (!req.codec || req.target.tree || storesRaw(req.codec)) return undefined;
  return req.codec;
}

/** Hands `body` to the target's write, metered, with the request's class, tags, journal and trust. */
async function writeBody(
  req: CopyRequest,
  body: Readable,
  object: { size: number; attributes: FileAttributes; expectedHash: string | undefined },
): Promise<ObjectInfo> {
  const metered = new MeteredStream({
    ...(req.bandwidth ? { bucket: req.bandwidth } : {}),
    ...(req.onBytes ? { onBytes: req.onBytes } : {}),
  });
  return req.target
    .write(req.targetKey, metered.drawFrom(body), {
      size: object.size,
      attributes: object.attributes,
      ...(req.storageClass ? { storageClass: req.storageClass } : {}),
      ...(req.tags ? { tags: req.tags } : {}),
      ...(req.journal ? { journal: req.journal } : {}),
      ...(req.streams ? { streams: req.streams } : {}),
      ...(object.expectedHash ? { expectedSha256: object.expectedHash } : {}),
      ...(req.trust ? { trust: req.trust } : {}),
    })
    .catch((err: unknown) => {
      // A write that gave up may have left the source half read: close it now, not at GC.
      body.destroy();
      throw err;
    });
}

/**
 * Reads the content once, hashing it, choosing the codec from its first chunk and compressing
 * it frame by frame (off the main thread) into a spool; then writes the frames, asking the
 * target to check their SHA-256. The content's hash and size are checked before anything is
 * written, so a source that changed or a damaged one replaces nothing. The object's metadata
 * records the codec and the content's size and SHA-256 (docs/formats.md).
 */
async function writeCompressed(req: CopyRequest, body: Readable, setting: CodecSetting): Promise<CopyResult> {
  const spool = new Spool();
  try {
    const content = await compressInto(spool, body, setting).catch((err: unknown) => {
      body.destroy();
      throw err;
    });
    const framesHash = spool.sha256();
    if (content.size !== req.size) {
      const detail = `the source read ${content.size} bytes, expected ${req.size}`;
      throw new IntegrityError(req.target.url, req.targetKey, detail);
    }
    if (req.expectedHash && req.expectedHash !== content.sha256) {
      const detail = `expected ${req.expectedHash}, the source read ${content.sha256}`;
      throw new IntegrityError(req.target.url, req.targetKey, detail);
    }
    const codec = content.codec.name;
    const attributes: FileAttributes = {
      ...req.attributes,
      sha256: content.sha256,
      ...(codec === "none" ? {} : { codec, size: content.size }),
    };
    const frames = await spool.reader();
    const stored = await writeBody(req, frames, { size: spool.size, attributes, expectedHash: framesHash });
    if (stored.sha256 !== framesHash) {
      const detail = `the target stored ${stored.sha256 ?? "bytes it did not hash"}, expected ${framesHash}`;
      throw new IntegrityError(req.target.url, req.targetKey, detail);
    }
    return { sha256: content.sha256, size: content.size, stored, codec, storedSize: stored.size };
  } finally {
    await spool.dispose();
  }
}

/**
 * Whether a body can be a stub, from its first bytes read by offset where it offers that (a file):
 * then a data file is not read through a stream just to be told apart from a stub, and its
 * body is left whole for the target to read the same way.
 */
async function mayBeStub(body: Readable): Promise<boolean> {
  const reads = positionalReadsOf(body);
  if (!reads) return true;
  const head = Buffer.allocUnsafe(STUB_HEADER_BYTES.length);
  const count = await reads.readAt(head, head.length, 0);
  return startsLikeStub(head.subarray(0, count));
}

/**
 * The body of a small source, unless it is a Strata stub: a stub stands in for data that lives
 * elsewhere, and copying it over its own object would destroy that data. Refused whatever the
 * catalog says of the file (a scan may have raced a release, or the catalog was lost). A body
 * that may be one is read to its end, or to past the largest stub; one that ended is handed on
 * as its bytes (every writer holds a body this small whole anyway).
 */
async function unlessStub(req: CopyRequest, body: Readable): Promise<Readable> {
  if (!(await mayBeStub(body))) return body;
  const held = positionalReadsOf(body)?.held;
  if (held) {
    refuseStub(req, held);
    return body;
  }
  const chunks = body[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let bytes = 0;
  while (bytes <= STUB_MAX_BYTES) {
    const next = await chunks.next();
    if (next.done) {
      const data = head.length === 1 ? (head[0] as Buffer) : Buffer.concat(head, bytes);
      refuseStub(req, data);
      return heldBody(data);
    }
    head.push(next.value as Buffer);
    bytes += (next.value as Buffer).length;
  }
  return Readable.from(
    (async function* () {
      yield* head;
      for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value as Buffer;
    })(),
    { objectMode: false },
  );
}

/** Throws when `data`, a whole body, is a Strata stub. */
function refuseStub(req: CopyRequest, data: Buffer): void {
  if (!parseStub(data)) return;
  throw new InvalidRequestError(
    req.source.url,
    `${JSON.stringify(req.sourceKey)} is a Strata stub, not data: not copied`,
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
  return { sha256: stored.sha256, size: stored.size, stored, codec: "none", storedSize: stored.size };
}

/**
 * Reads an object through once and returns the SHA-256 of its content: a compressed object (as
 * its metadata says) is decoded first, so a damaged frame fails here, naming the object.
 */
export async function hashObject(backend: Backend, key: string): Promise<string> {
  const { body, info } = await backend.read(key);
  const codec = info.attributes?.codec;
  const hash = createHash("sha256");
  try {
    for await (const chunk of codec ? decodedStream(body, codecNamed(codec)) : body) hash.update(chunk as Buffer);
  } catch (err) {
    body.destroy();
    if (!codec) throw err;
    const detail = `${codec} object does not decode: ${(err as Error).message}`;
    throw new IntegrityError(backend.url, key, detail);
  }
  return hash.digest("hex");
}

/**
 * Reads an object, or one range of it, into memory: for what is small by construction (a stub, a
 * file below a pack's threshold, one pack member's frame, an index object).
 */
export async function readObject(backend: Backend, key: string, range?: ByteRange): Promise<Buffer> {
  const { body } = await backend.read(key, range);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function sha256Of(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Whether an object's attributes name another path than the file it is read for (a deduplicated object's). */
function isOtherFiles(carried: FileAttributes | undefined, path: string | undefined): boolean {
  return carried?.path !== undefined && path !== undefined && carried.path !== path;
}
