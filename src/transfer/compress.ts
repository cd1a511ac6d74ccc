import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { type CodecSetting, chooseCodec } from "../codec/choose.js";
import { type Codec, codecNamed } from "../codec/codec.js";
import { inPieces } from "../codec/frame-stream.js";
import { compressOffThread } from "../codec/worker-pool.js";
import type { Spool } from "./spool.js";

/** What one pass over a file's content found: its hash and size, and the codec its frames use. */
export interface CompressedContent {
  sha256: string;
  size: number;
  codec: Codec;
}

/** Frames of one file being made at once: the next piece compresses while one is appended. */
const FRAMES_IN_FLIGHT = 2;

/**
 * Reads `body` once: hashes the content, picks the codec from its first piece, and appends one
 * frame per piece to `spool`, in order. Frames are made on the compression threads, so the main
 * thread only reads, hashes and writes; memory is a few pieces per file.
 */
export async function compressInto(spool: Spool, body: Readable, setting: CodecSetting): Promise<CompressedContent> {
  const hash = createHash("sha256");
  let size = 0;
  let codec: Codec | undefined;
  const frames: Promise<Buffer>[] = [];
  for await (const piece of inPieces(body)) {
    hash.update(piece);
    size += piece.length;
    let rest = piece;
    if (!codec) {
      const choice = await chooseCodec(setting, piece, compressOffThread);
      codec = choice.codec;
      // The trial's frame is the first of the object; the piece's rest becomes a frame of its own.
      if (choice.frame) {
        frames.push(Promise.resolve(choice.frame.data));
        rest = piece.subarray(choice.frame.covers);
      }
    }
    if (rest.length > 0) {
      const frame = compressOffThread(codec, rest);
      // Awaited in turn below; a frame that fails while an earlier one is awaited is not unhandled.
      frame.catch(() => undefined);
      frames.push(frame);
    }
    while (frames.length >= FRAMES_IN_FLIGHT) await spool.append(await (frames.shift() as Promise<Buffer>));
  }
  while (frames.length > 0) await spool.append(await (frames.shift() as Promise<Buffer>));
  return { sha256: hash.digest("hex"), size, codec: codec ?? codecNamed("none") };
}
