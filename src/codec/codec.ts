import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";
import type { Compressor, Decompressor } from "zstd-napi";
import { contentFrames, FrameError, type FrameLength, lz4FrameLength, zstdFrameLength } from "./frames.js";

/**
 * A compression format whose frames its own command-line tool reads. Frames concatenate into one
 * valid stream (`zstd -dc`, `lz4 -dc` and `gzip -dc` all read a run of frames), so a large object
 * is compressed in independent chunks, in parallel, and a pack member is one frame of its own.
 */
export interface Codec {
  /** As recorded in the catalog's `replicas.codec` and in object metadata; "none" is stored raw. */
  readonly name: CodecName;
  /** zstd's compression level; other codecs have none. */
  readonly level?: number;
  /** One independent frame holding `data`. */
  compress(data: Buffer): Promise<Buffer>;
  /** The content of one frame or of several concatenated. */
  decompress(data: Buffer): Promise<Buffer>;
  /** zstd and LZ4: how a run splits into frames and one frame decodes, for readers of a stream. */
  readonly frames?: FrameFormat;
}

/** Where a frame ends, and the content of one whole frame. */
export interface FrameFormat {
  length: FrameLength;
  decode(frame: Buffer): Promise<Buffer>;
}

export type CodecName = "none" | "gzip" | "zstd" | "lz4";

export const CODEC_NAMES: readonly CodecName[] = ["none", "gzip", "zstd", "lz4"];

/** zstd's own default (`zstd` with no level): a throughput level, about `gzip -6`'s ratio at many times its speed. */
export const ZSTD_DEFAULT_LEVEL = 3;
/** zstd's levels without `--ultra` (which needs a larger window than a frame of a few MiB uses). */
export const ZSTD_MAX_LEVEL = 19;

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

const NONE: Codec = {
  name: "none",
  compress: async (data) => data,
  decompress: async (data) => data,
};

const GZIP: Codec = {
  name: "gzip",
  compress: (data) => gzipAsync(data),
  // zlib reads a run of gzip members as one stream, as `gzip -dc` does.
  decompress: (data) => gunzipAsync(data),
};

// The native libraries load on first use: the CLI and every worker thread import this module, and
// a run without a codec would otherwise hold both bindings in each of its isolates.
let zstdLibrary: Promise<typeof import("zstd-napi")> | undefined;
let lz4Library: Promise<typeof import("lz4-napi")> | undefined;
const zstdNapi = () => (zstdLibrary ??= import("zstd-napi"));
const lz4Napi = () => (lz4Library ??= import("lz4-napi"));

// zstd-napi is libzstd itself (bundled, built with node-gyp): one compression context per level
// and one decompression context, made on first use in each thread (a worker has its own).
const zstdCompressors = new Map<number, Compressor>();
let zstdDecompressor: Decompressor | undefined;

async function zstdCompressor(level: number): Promise<Compressor> {
  const { Compressor } = await zstdNapi();
  let compressor = zstdCompressors.get(level);
  if (!compressor) {
    compressor = new Compressor();
    // A content checksum in every frame, as the `zstd` CLI writes by default: `zstd -dc` checks it.
    compressor.setParameters({ compressionLevel: level, checksumFlag: true });
    zstdCompressors.set(level, compressor);
  }
  return compressor;
}

/** The zstd codec compressing at `level` (1–19); any level's frames decode the same. */
export function zstdCodec(level = ZSTD_DEFAULT_LEVEL): Codec {
  return {
    name: "zstd",
    level,
    frames: ZSTD_FRAMES,
    compress: async (data) => (await zstdCompressor(level)).compress(data),
    decompress: (data) => eachFrame(data, ZSTD_FRAMES),
  };
}

const ZSTD_FRAMES: FrameFormat = {
  length: zstdFrameLength,
  decode: async (frame) => {
    const { Decompressor } = await zstdNapi();
    zstdDecompressor ??= new Decompressor();
    return zstdDecompressor.decompress(frame);
  },
};

const ZSTD = zstdCodec();

const LZ4_FRAMES: FrameFormat = {
  length: lz4FrameLength,
  decode: async (frame) => (await lz4Napi()).decompressFrame(frame),
};

const LZ4: Codec = {
  name: "lz4",
  frames: LZ4_FRAMES,
  // A content checksum in every frame, as the `lz4` CLI writes by default: `lz4 -dc` checks it.
  compress: async (data) => (await lz4Napi()).compressFrame(data, { contentChecksum: true }),
  decompress: (data) => eachFrame(data, LZ4_FRAMES),
};

/** The libraries decode one frame per call: split the run and join what each frame holds. */
async function eachFrame(data: Buffer, format: FrameFormat) {
  const parts: Buffer[] = [];
  for (const { frame, offset } of contentFrames(data, format.length)) parts.push(await decodeAt(format, frame, offset));
  return Buffer.concat(parts);
}

/**
 * The content of the frame found at byte `offset` of a run; one that does not decode is named by
 * where it starts (the libraries' own words are obscure, or an assertion of sizes).
 */
export async function decodeAt(format: FrameFormat, frame: Buffer, offset: number): Promise<Buffer> {
  try {
    return await format.decode(frame);
  } catch (err) {
    throw new FrameError(`the frame at byte ${offset} does not decode (${(err as Error).message})`);
  }
}

const CODECS: ReadonlyMap<CodecName, Codec> = new Map([
  ["none", NONE],
  ["gzip", GZIP],
  ["zstd", ZSTD],
  ["lz4", LZ4],
]);

/** The codec recorded under `name`; an unknown name is a damaged record, not a default. */
export function codecNamed(name: string): Codec {
  const codec = CODECS.get(name as CodecName);
  if (!codec) throw new Error(`unknown codec ${JSON.stringify(name)}`);
  return codec;
}
