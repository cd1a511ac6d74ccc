import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";

/**
 * A compression format whose frames its own command-line tool reads. Frames concatenate into one
 * valid stream (`zstd -dc`, `lz4 -dc` and `gzip -dc` all read a run of frames), so a large object
 * is compressed in independent chunks, in parallel, and a pack member is one frame of its own.
 */
export interface Codec {
  /** As recorded in the catalog's `replicas.codec` and in object metadata; "none" is stored raw. */
  readonly name: CodecName;
  /** One independent frame holding `data`. */
  compress(data: Buffer): Promise<Buffer>;
  /** The content of one frame or of several concatenated. */
  decompress(data: Buffer): Promise<Buffer>;
}

export type CodecName = "none" | "gzip" | "zstd" | "lz4";

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
  decompress: (data) => gunzipAsync(data),
};

const CODECS: ReadonlyMap<CodecName, Codec> = new Map([
  ["none", NONE],
  ["gzip", GZIP],
]);

/** The codec recorded under `name`; an unknown name is a damaged record, not a default. */
export function codecNamed(name: string): Codec {
  const codec = CODECS.get(name as CodecName);
  if (!codec) throw new Error(`unknown codec ${JSON.stringify(name)}`);
  return codec;
}
