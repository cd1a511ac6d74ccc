import type { CodecName } from "../codec/codec.js";

/*
 * Messages between the compression pool (compress-pool.ts) and its threads (compress-worker.ts).
 */

/** One piece of content to compress into one frame. */
export interface CompressRequest {
  id: number;
  codec: CodecName;
  /** zstd's level; other codecs have none. */
  level?: number;
  data: Uint8Array;
}

export type CompressReply = { id: number; frame: Uint8Array } | { id: number; error: string };
