import type { Readable } from "node:stream";
import { digestOffThread, OrderedDigest } from "../codec/worker-pool.js";
import {
  IntegrityError,
  type JournaledUpload,
  TransientError,
  type UploadedPart,
  type UploadJournal,
  type WriteInfo,
} from "./backend.js";
import { checkExpectedHash, ExactSize, type PositionalReads, positionalReadsOf, sizeError } from "./bodies.js";

/*
 * The one multipart upload engine, for every store that takes an object in parts and makes it
 * visible only when told (S3's multipart uploads, Azure's staged blocks): the body cut into
 * parts, several in flight within what writeBuffer announced, each part checked by its MD5, the
 * parts journaled as the store acknowledges them (the UploadJournal port, which the catalog
 * implements), and a killed upload resumed by a later write of the same source version. A store
 * says how to begin, send a part, complete and abort (its `<kind>-upload.ts`); the rest is here.
 */

/**
 * What a store does for one multipart upload; `Completed` is what its completion answers. Its
 * requests throw the backend's typed errors.
 */
export interface PartStore<Completed = void> {
  /** Begins an upload; its id. */
  create(): Promise<string>;
  /** Stores one part, which the store checks against `part.md5`; what completion needs of it. */
  upload(uploadId: string, part: Part): Promise<UploadedPart>;
  /** Makes the object visible from every part, in order. Throws UploadGoneError when the upload is gone. */
  complete(uploadId: string, parts: UploadedPart[], body: PartedBody): Promise<Completed>;
  /** Abandons the upload and its parts; one already gone is not an error. */
  abort(uploadId: string): Promise<void>;
}

/**
 * The upload is gone from the store (aborted by another run or a lifecycle rule, expired, or
 * completed): its journal is dropped and the write starts over.
 */
export class UploadGoneError extends TransientError {}

export interface Part {
  /** 1-based, in body order. */
  number: number;
  /** The pooled buffer the part was read into; `data` is its filled start. */
  buffer: Buffer;
  data: Buffer;
  md5: Buffer;
}

/** The body as the store received it. */
export interface PartedBody {
  parts: UploadedPart[];
  sha256: string;
  /** Each part's MD5, in order (S3's ETag of the whole is their MD5). */
  partMd5s: Buffer[];
  /** The MD5 of the whole body, when the write asked for it (Azure keeps it as Content-MD5). */
  md5?: Buffer;
}

export interface PartedWrite {
  /** The location and key, for messages. */
  url: string;
  key: string;
  info: WriteInfo;
  partSize: number;
  /** Parts in flight at once. */
  streams: number;
  buffers: BufferPool;
  /** Also hash the whole body with MD5. */
  wholeMd5?: boolean;
}

/**
 * Sends a body as a multipart upload and completes it. With `info.journal`, acknowledged parts
 * are recorded as they complete and a later write of the same source version skips the parts
 * whose bytes still read the same (the prefix is read again for the hashes, not sent again); a
 * failed upload is then left for that write to resume. Without one, a failed upload is aborted,
 * as is one whose bytes are not the SHA-256 expected (or not the size announced): it is never
 * completed, so the previous object stays.
 */
export async function writeInParts<Completed>(
  store: PartStore<Completed>,
  body: Readable,
  write: PartedWrite,
): Promise<PartedBody & { completed: Completed }> {
  const { url, key, info } = write;
  const exact = new ExactSize(info.size, (received) => sizeError(url, key, info.size, received));
  body.on("error", (err) => exact.destroy(err));
  const upload = await openUpload(store, info.journal, write.partSize);
  const reads = positionalReadsOf(body);
  const buffers = write.buffers.sized(upload.partSize);
  // A file is read by offset straight into the part buffers; any other body is cut from its stream.
  const parts = reads
    ? readPartsAt(reads, info.size, buffers, (received) => sizeError(url, key, info.size, received))
    : cutParts(body.pipe(exact), buffers);
  let sent: PartedBody;
  let completed: Completed;
  try {
    sent = await sendParts(store, parts, upload, { ...write, buffers });
    checkExpectedHash(url, key, info, sent.sha256);
    completed = await store.complete(upload.uploadId, sent.parts, sent);
  } catch (err) {
    if (err instanceof UploadGoneError) await info.journal?.clear();
    else if (err instanceof IntegrityError || !info.journal) {
      await store.abort(upload.uploadId).catch(() => undefined);
      await info.journal?.clear();
    }
    throw err;
  } finally {
    // Read by offset, the stream was never consumed: its file is let go here.
    if (reads) body.destroy();
  }
  await info.journal?.clear();
  return { ...sent, completed };
}

/** The journaled upload of this source version when its parts fit, else a new one. */
async function openUpload(
  store: PartStore<unknown>,
  journal: UploadJournal | undefined,
  partSize: number,
): Promise<JournaledUpload> {
  const earlier = await journal?.load();
  if (earlier?.partSize === partSize) return earlier;
  // Cut at other offsets (the part size setting changed), its parts cannot be reused.
  if (earlier) await store.abort(earlier.uploadId);
  const uploadId = await store.create();
  const replaced = await journal?.begin(uploadId, partSize);
  if (replaced) await store.abort(replaced).catch(() => undefined);
  return { uploadId, partSize, parts: [] };
}

/** A part as read, before its MD5 is known. */
type ReadPart = Omit<Part, "md5">;

/**
 * Sends the parts the upload does not hold yet, at most `streams` at once. Returns every part
 * and the body's hashes. The hashing runs on worker threads, reading the shared part buffers in
 * place: each part's MD5 on any of them, in parallel, and the whole body's SHA-256 (and MD5) on
 * one, fed the parts in order. A buffer goes back to the pool once sent and hashed.
 */
async function sendParts(
  store: PartStore<unknown>,
  parts: AsyncGenerator<ReadPart>,
  upload: JournaledUpload,
  { info, streams, buffers, wholeMd5 }: Omit<PartedWrite, "buffers"> & { buffers: PartBuffers },
): Promise<PartedBody> {
  const sha256 = new OrderedDigest("sha256");
  const md5 = wholeMd5 ? new OrderedDigest("md5") : undefined;
  const held = new Map(upload.parts.map((p) => [p.number, p]));
  const partMd5s: Buffer[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const fail = (error: unknown) => {
    failure ??= { error };
  };
  try {
    for await (const read of parts) {
      const wholeHashed = Promise.all([sha256.update(read.data), md5?.update(read.data)]).catch(fail);
      while (inFlight.size >= streams) await Promise.race(inFlight);
      if (failure) {
        await wholeHashed;
        buffers.release(read.buffer);
        break;
      }
      const sending: Promise<void> = digestOffThread("md5", read.data)
        .then(async (partMd5) => {
          partMd5s[read.number - 1] = partMd5;
          if (held.get(read.number)?.md5 === partMd5.toString("hex")) return;
          const sent = await store.upload(upload.uploadId, { ...read, md5: partMd5 });
          held.set(sent.number, sent);
          await info.journal?.savePart(sent);
        })
        .catch(fail)
        .finally(async () => {
          await wholeHashed;
          buffers.release(read.buffer);
          inFlight.delete(sending);
        });
      inFlight.add(sending);
    }
  } catch (err) {
    fail(err);
  } finally {
    // Never leave a part upload running behind a failed write.
    await Promise.all(inFlight);
  }
  if (failure) {
    sha256.discard();
    md5?.discard();
    throw failure.error;
  }
  const [sha, whole] = await Promise.all([sha256.digest(), md5?.digest()]);
  return {
    parts: [...held.values()].sort((a, b) => a.number - b.number),
    sha256: sha.toString("hex"),
    partMd5s,
    ...(whole ? { md5: whole } : {}),
  };
}

/**
 * Part buffers reused across parts and uploads. An upload holds at most its streams + 1 at once
 * (what `writeBuffer` announces); freed ones wait for the next part of their size instead
 * of waiting for the garbage collector, so memory follows the buffered-bytes cap closely. What
 * is kept is at most what was once in use together, which that cap bounds.
 */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();

  sized(size: number): PartBuffers {
    let free = this.free.get(size);
    if (!free) {
      free = [];
      this.free.set(size, free);
    }
    const list = free;
    // Shared memory, so the hashing threads read a part where it is instead of a copy of it.
    const allocate = () => Buffer.from(new SharedArrayBuffer(size));
    return { take: () => list.pop() ?? allocate(), release: (buffer) => list.push(buffer) };
  }

  clear(): void {
    this.free.clear();
  }
}

interface PartBuffers {
  take(): Buffer;
  release(buffer: Buffer): void;
}

/**
 * Reads a body into parts of the buffers' size (the last one shorter), in order. The next part
 * is read only when the consumer asks for it, which is how parts in flight stay bounded.
 */
async function* cutParts(body: Readable, buffers: PartBuffers): AsyncGenerator<ReadPart> {
  let number = 1;
  let buffer = buffers.take();
  let filled = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    for (let offset = 0; offset < chunk.length; ) {
      const copied = chunk.copy(buffer, filled, offset);
      filled += copied;
      offset += copied;
      if (filled === buffer.length) {
        yield { number: number++, buffer, data: buffer };
        buffer = buffers.take();
        filled = 0;
      }
    }
  }
  if (filled > 0) yield { number, buffer, data: buffer.subarray(0, filled) };
  else buffers.release(buffer);
}

/**
 * Reads a file's `size` bytes by offset, each part straight into its buffer (no stream chunks to
 * copy), in order and only when the consumer asks, as cutParts does. A file found shorter or
 * longer than announced, or changed once read, fails the write before it can complete.
 */
async function* readPartsAt(
  reads: PositionalReads,
  size: number,
  buffers: PartBuffers,
  sizeError: (received: number | "more") => Error,
): AsyncGenerator<ReadPart> {
  let number = 1;
  for (let position = 0; position < size; ) {
    const buffer = buffers.take();
    const length = Math.min(buffer.length, size - position);
    try {
      for (let filled = 0; filled < length; ) {
        const count = await reads.readAt(buffer.subarray(filled), length - filled, position + filled);
        if (count === 0) throw sizeError(position + filled);
        filled += count;
      }
    } catch (err) {
      buffers.release(buffer);
      throw err;
    }
    yield { number: number++, buffer, data: buffer.subarray(0, length) };
    position += length;
  }
  if ((await reads.readAt(Buffer.alloc(1), 1, size)) > 0) throw sizeError("more");
  const changed = await reads.changed();
  if (changed) throw changed;
}
