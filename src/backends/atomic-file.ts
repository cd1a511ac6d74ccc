import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { HashingStream } from "../codec/hash.js";

/** What a streamed write to a file holds in memory at most: a few stream buffers. */
export const STREAM_BUFFER = 256 * 1024;

export interface WrittenFile {
  sha256: string;
  size: number;
}

/**
 * Streams `body` into `tempPath`, hashing what is written, and removes the temp file if
 * anything fails. The caller renames it into place, so a reader never sees half a file.
 */
export async function writeTempFile(
  tempPath: string | Buffer,
  body: Readable,
  expectedSize: number,
): Promise<WrittenFile> {
  const hashing = new HashingStream();
  try {
    await pipeline(body, hashing, createWriteStream(tempPath, { flags: "wx" }));
    const written = hashing.digest();
    if (written.size !== expectedSize) {
      throw new Error(`expected ${expectedSize} bytes, received ${written.size}`);
    }
    return written;
  } catch (err) {
    await rm(tempPath, { force: true });
    throw err;
  }
}
