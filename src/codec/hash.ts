import { createHash, type Hash } from "node:crypto";
import { Transform, type TransformCallback } from "node:stream";

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
