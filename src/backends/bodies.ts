import { createHash, type Hash } from "node:crypto";
import { Readable, Transform, type TransformCallback } from "node:stream";
import { BackendError, IntegrityError, type WriteInfo } from "./backend.js";
import { bodyBuffers } from "./body-buffers.js";

/**
 * Refuses bytes whose SHA-256 is not the one the write expects. Every backend calls it before its
 * commit point (rename, PUT, completion, block list, final chunk), so the previous object or file
 * stays exactly as it was.
 */
export function checkExpectedHash(location: string, key: string, info: WriteInfo, sha256: string): void {
  if (info.expectedSha256 === undefined || sha256 === info.expectedSha256) return;
  const detail = `expected ${info.expectedSha256}, the bytes received hash to ${sha256}`;
  throw new IntegrityError(location, key, detail);
}

/** The one message for a body that is not the size its write announced. */
export function sizeError(location: string, key: string, expected: number, received: number | "more"): BackendError {
  return new BackendError(`${JSON.stringify(key)}: expected ${expected} bytes, received ${received}`, location, false);
}

/**
 * Reads a body that must be exactly `size` bytes (small ones, sent in one request), failing as
 * soon as it runs longer, or at its end when shorter. The bytes land once in one buffer of that
 * size as they come, so the chunks are let go at once instead of held for a final copy (which
 * doubled what a body held at its end); a body that comes as one chunk of that size (a small
 * file's single read) is that buffer itself, not copied at all.
 */
export async function readExactly(
  body: Readable,
  size: number,
  fail: (received: number | "more") => Error,
  allocate: (size: number) => Buffer = Buffer.allocUnsafe,
): Promise<Buffer> {
  const reads = positionalReadsOf(body);
  if (reads) return readExactlyAt(body, reads, size, fail, allocate);
  let whole: Buffer | undefined;
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (total + chunk.length > size) throw fail("more");
    if (total === 0 && chunk.length === size) whole = chunk;
    else {
      whole ??= allocate(size);
      chunk.copy(whole, total);
    }
    total += chunk.length;
  }
  if (total !== size) throw fail(total);
  return whole ?? Buffer.alloc(0);
}

/**
 * Runs `use` on a body's bytes read whole (see `readExactly`), in a buffer lent by the pool when
 * they are not in memory already, given back once `use` has settled: the bytes a writer buffers
 * (a PUT under one part, a small temp file) reuse the memory of the previous body. Bytes the body
 * held already (a small file read whole) are its reader's to give back, not this writer's.
 */
export async function withWholeBody<T>(
  body: Readable,
  size: number,
  fail: (received: number | "more") => Error,
  use: (data: Buffer) => Promise<T>,
): Promise<T> {
  const held = positionalReadsOf(body)?.held;
  const data = await readExactly(body, size, fail, (length) => bodyBuffers.take(length));
  try {
    return await use(data);
  } finally {
    if (data !== held) bodyBuffers.giveBack(data);
  }
}

/**
 * A file's bytes read by offset straight into the one buffer (no stream, no chunk copies), then
 * one byte past the end to see it did not grow, then checked unchanged since it was opened, as
 * its stream would be at its end. The body is let go of: it has given everything.
 */
async function readExactlyAt(
  body: Readable,
  reads: PositionalReads,
  size: number,
  fail: (received: number | "more") => Error,
  allocate: (size: number) => Buffer,
): Promise<Buffer> {
  try {
    if (reads.held) return exactly(reads.held, size, fail);
    const whole = allocate(size);
    let total = 0;
    while (total < size) {
      const count = await reads.readAt(whole.subarray(total), size - total, total);
      if (count === 0) throw fail(total);
      total += count;
    }
    if ((await reads.readAt(Buffer.allocUnsafe(1), 1, size)) > 0) throw fail("more");
    const changed = await reads.changed();
    if (changed) throw changed;
    return whole;
  } finally {
    body.destroy();
  }
}

function exactly(bytes: Buffer, size: number, fail: (received: number | "more") => Error): Buffer {
  if (bytes.length > size) throw fail("more");
  if (bytes.length < size) throw fail(bytes.length);
  return bytes;
}

/**
 * A body whose bytes are all in memory already (a small file read whole, checked as it was
 * read): its stream gives them as one chunk, and a reader by offset takes them as they are.
 */
export function heldBody(bytes: Buffer): Readable {
  const body = new Readable({
    read() {
      this.push(bytes);
      this.push(null);
    },
  });
  offerPositionalReads(body, {
    held: bytes,
    readAt: async (buffer, length, position) =>
      position >= bytes.length ? 0 : bytes.copy(buffer, 0, position, Math.min(bytes.length, position + length)),
    changed: async () => undefined,
  });
  return body;
}

/**
 * Passes a streamed body through, failing it when it runs longer or shorter than announced:
 * before a multipart or resumable upload can complete, so the previous object stays.
 */
export class ExactSize extends Transform {
  private seen = 0;

  constructor(
    private readonly expected: number,
    private readonly fail: (received: number | "more") => Error,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.expected) callback(this.fail("more"));
    else callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    callback(this.seen === this.expected ? null : this.fail(this.seen));
  }
}

/**
 * Passes a streamed body through while hashing it, and fails it before its end reaches the
 * upload when it is not the announced size or not the expected SHA-256: for uploads that commit
 * with their last bytes (GCS resumable sessions), so the previous object stays.
 */
export class CheckedBody extends ExactSize {
  private readonly hash = createHash("sha256");
  private sha256: string | undefined;

  constructor(
    private readonly location: string,
    private readonly key: string,
    private readonly info: WriteInfo,
  ) {
    super(info.size, (received) => sizeError(location, key, info.size, received));
  }

  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    super._transform(chunk, encoding, callback);
  }

  override _flush(callback: TransformCallback): void {
    super._flush((sizeProblem) => {
      if (sizeProblem) return callback(sizeProblem);
      this.sha256 = this.hash.digest("hex");
      try {
        checkExpectedHash(this.location, this.key, this.info, this.sha256);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    });
  }

  /** The body's SHA-256, once it has passed whole. */
  digest(): string {
    if (this.sha256 === undefined) throw new Error("the body has not ended");
    return this.sha256;
  }
}

/**
 * Passes bytes through unchanged while hashing them, so a file is read once: the same pass
 * that feeds the destination yields the content hash. SHA-256 because Node's is native (with
 * SHA extensions it runs well over 1 GB/s a core here) and S3 verifies it server-side.
 */
export class HashingStream extends Transform {
  private readonly hash: Hash = createHash("sha256");
  private byteCount = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.byteCount += chunk.length;
    callback(null, chunk);
  }

  /** Only valid once the stream has ended. */
  digest(): { sha256: string; size: number } {
    return { sha256: this.hash.digest("hex"), size: this.byteCount };
  }
}

/**
 * What a body that is a file offers besides its stream: its bytes read at any offset, so a
 * multipart write reads each part straight into its buffer, several at once, instead of copying
 * stream chunks into it. Whoever reads this way reads no chunk of the stream.
 */
export interface PositionalReads {
  /** Reads up to `length` bytes at `position` (from the body's first byte) into `buffer`'s start; how many (0 past the end). */
  readAt(buffer: Buffer, length: number, position: number): Promise<number>;
  /** Once every byte was read: the error to fail with when the source changed meanwhile, else undefined. */
  changed(): Promise<Error | undefined>;
  /** Every byte of the body, when they were read (and checked) before it was handed over. */
  held?: Buffer;
}

const positionalReads = new WeakMap<Readable, PositionalReads>();

/** Marks `body` as also readable by offset. */
export function offerPositionalReads(body: Readable, reads: PositionalReads): void {
  positionalReads.set(body, reads);
}

/** How `body` reads by offset, when it offers that. */
export function positionalReadsOf(body: Readable): PositionalReads | undefined {
  return positionalReads.get(body);
}
