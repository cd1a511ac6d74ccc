/**
 * Where one zstd or LZ4 frame ends, read from its headers without decompressing it. The libraries
 * Strata uses decode exactly one frame per call, while an object is a run of frames (one per chunk
 * of content), so a reader splits the run here and decodes frame by frame, holding one at a time.
 *
 * Formats: zstd RFC 8878 §3.1 (frames, skippable frames); LZ4 frame format 1.6.x
 * (lz4/doc/lz4_Frame_format.md). Both keep every length in little-endian headers.
 */

/** Thrown for bytes that are not a run of frames of the format: a damaged or foreign object. */
export class FrameError extends Error {
  override name = "FrameError";
}

/**
 * The length of the frame that starts at `offset`, or undefined when `data` ends before it does
 * (a streaming reader then waits for more bytes).
 */
export type FrameLength = (data: Buffer, offset: number) => number | undefined;

const ZSTD_MAGIC = 0xfd2fb528;
const LZ4_MAGIC = 0x184d2204;
/** Skippable frames of both formats: magic 0x184D2A50..5F, a 4-byte length, that many bytes. */
const isSkippable = (magic: number) => (magic & 0xfffffff0) === 0x184d2a50;

export const zstdFrameLength: FrameLength = (data, offset) => {
  if (data.length < offset + 4) return undefined;
  const magic = data.readUInt32LE(offset);
  if (isSkippable(magic)) return skippableLength(data, offset);
  if (magic !== ZSTD_MAGIC) throw new FrameError(`no zstd frame at byte ${offset}`);
  if (data.length < offset + 5) return undefined;
  const descriptor = data[offset + 4] as number;
  const contentSizeFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const hasChecksum = (descriptor >> 2) & 1;
  const dictionaryIdBytes = [0, 1, 2, 4][descriptor & 3] as number;
  const contentSizeBytes = [singleSegment, 2, 4, 8][contentSizeFlag] as number;
  let at = offset + 5 + (singleSegment ? 0 : 1) + dictionaryIdBytes + contentSizeBytes;
  for (;;) {
    if (data.length < at + 3) return undefined;
    const header = data.readUIntLE(at, 3);
    const last = header & 1;
    const type = (header >> 1) & 3;
    if (type === 3) throw new FrameError(`zstd frame at byte ${offset}: reserved block type`);
    // An RLE block stores its one byte, whatever the length it stands for.
    at += 3 + (type === 1 ? 1 : header >>> 3);
    if (last) break;
  }
  const end = at + (hasChecksum ? 4 : 0);
  return data.length < end ? undefined : end - offset;
};

export const lz4FrameLength: FrameLength = (data, offset) => {
  if (data.length < offset + 4) return undefined;
  const magic = data.readUInt32LE(offset);
  if (isSkippable(magic)) return skippableLength(data, offset);
  if (magic !== LZ4_MAGIC) throw new FrameError(`no LZ4 frame at byte ${offset}`);
  if (data.length < offset + 5) return undefined;
  const flags = data[offset + 4] as number;
  if (flags >> 6 !== 1) throw new FrameError(`LZ4 frame at byte ${offset}: unknown version`);
  const blockChecksum = (flags >> 4) & 1;
  const contentSize = (flags >> 3) & 1;
  const contentChecksum = (flags >> 2) & 1;
  const dictionaryId = flags & 1;
  // Magic, FLG, BD, optional content size and dictionary id, header checksum.
  let at = offset + 6 + (contentSize ? 8 : 0) + (dictionaryId ? 4 : 0) + 1;
  for (;;) {
    if (data.length < at + 4) return undefined;
    const blockSize = data.readUInt32LE(at) & 0x7fffffff;
    at += 4;
    if (blockSize === 0) break; // the end mark
    at += blockSize + (blockChecksum ? 4 : 0);
  }
  const end = at + (contentChecksum ? 4 : 0);
  return data.length < end ? undefined : end - offset;
};

function skippableLength(data: Buffer, offset: number): number | undefined {
  if (data.length < offset + 8) return undefined;
  const end = offset + 8 + data.readUInt32LE(offset + 4);
  return data.length < end ? undefined : end - offset;
}

/** Whether a whole frame is a skippable one: user data beside the content, holding none of it. */
export function isSkippableFrame(frame: Buffer): boolean {
  return isSkippable(frame.readUInt32LE(0));
}

/**
 * The frames of a whole run that hold content (skippable frames left out); a run that stops
 * inside a frame is truncated, and said so.
 */
export function* contentFrames(data: Buffer, frameLength: FrameLength): Generator<{ frame: Buffer; offset: number }> {
  let offset = 0;
  while (offset < data.length) {
    const length = frameLength(data, offset);
    if (length === undefined) throw new FrameError(`truncated: the frame at byte ${offset} does not end`);
    const frame = data.subarray(offset, offset + length);
    if (!isSkippableFrame(frame)) yield { frame, offset };
    offset += length;
  }
}
