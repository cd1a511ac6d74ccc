import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { type CodecSetting, chooseCodec } from "../codec/choose.js";
import { type Codec, codecNamed } from "../codec/codec.js";
import { inPieces } from "../codec/frame-stream.js";
import type { Spool } from "./spool.js";

/** What one pass over a file's content found: its hash and size, and the codec its frames use. */
export interface CompressedContent {
  sha256: string;
  size: number;
  codec: Codec;
}

/**
 * Reads `body` once: hashes the content, picks the codec from its first piece, and appends one
 * frame per piece to `spool`. gzip (zlib) and LZ4 (napi) compress on libuv's thread pool, off the
 * main thread; zstd is WebAssembly and runs on the calling thread.
 */
export async function compressInto(spool: Spool, body: Readable, setting: CodecSetting): Promise<CompressedContent> {
  const hash = createHash("sha256");
  let size = 0;
  let codec: Codec | undefined;
  for await (const piece of inPieces(body)) {
    hash.update(piece);
    size += piece.length;
    codec ??= await chooseCodec(setting, piece);
    await spool.append(await codec.compress(piece));
  }
  return { sha256: hash.digest("hex"), size, codec: codec ?? codecNamed("none") };
}
