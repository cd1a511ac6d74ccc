import type { Readable } from "node:stream";
import { Transform, type TransformCallback } from "node:stream";
import { BackendError } from "./backend.js";

/** The one message for a body that is not the size its write announced. */
export function sizeError(location: string, key: string, expected: number, received: number | "more"): BackendError {
  return new BackendError(`${JSON.stringify(key)}: expected ${expected} bytes, received ${received}`, location, false);
}

/**
 * Reads a body that must be exactly `size` bytes (small ones, sent in one request), failing as
 * soon as it runs longer, or at its end when shorter.
 */
export async function readExactly(
  body: Readable,
  size: number,
  fail: (received: number | "more") => Error,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > size) throw fail("more");
    chunks.push(chunk as Buffer);
  }
  if (total !== size) throw fail(total);
  return Buffer.concat(chunks, total);
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
