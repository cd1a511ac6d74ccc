import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { type Codec, decodeAt, type FrameFormat } from "./codec.js";
import { FrameError, isSkippableFrame } from "./frames.js";

/**
 * Logical bytes per frame of a compressed object. Frames are independent, so memory stays at a
 * few of them whatever the object's size, and the run of frames is one standard stream that the
 * codec's CLI reads whole.
 */
export const FRAME_CONTENT_BYTES = 4 * 1024 * 1024;

/** The content of `body` in pieces of exactly `size` bytes (the last one shorter), for one frame each. */
export async function* inPieces(body: AsyncIterable<Buffer>, size = FRAME_CONTENT_BYTES): AsyncGenerator<Buffer> {
  let held: Buffer[] = [];
  let heldBytes = 0;
  for await (const chunk of body) {
    let rest = chunk;
    while (heldBytes + rest.length >= size) {
      const take = size - heldBytes;
      yield Buffer.concat([...held, rest.subarray(0, take)]);
      rest = rest.subarray(take);
      held = [];
      heldBytes = 0;
    }
    if (rest.length > 0) {
      held.push(rest);
      heldBytes += rest.length;
    }
  }
  if (heldBytes > 0) yield Buffer.concat(held);
}

/** How many new bytes a reader gathers before it looks for a whole frame again. */
const LOOK_EVERY = 256 * 1024;

/**
 * The logical content of a stored object that `codec` compressed: a run of frames decoded one
 * at a time as they arrive. A damaged or truncated object fails with a FrameError naming the
 * byte where the run broke.
 */
export function decodedStream(body: Readable, codec: Codec): Readable {
  if (codec.name === "none") return body;
  if (codec.name === "gzip") {
    // zlib's streaming reader takes a run of gzip members as one stream, as `gzip -dc` does.
    const gunzip = createGunzip();
    body.on("error", (err) => gunzip.destroy(err));
    return body.pipe(gunzip);
  }
  if (!codec.frames) throw new Error(`codec ${codec.name} has no frames to split`);
  return Readable.from(decodeFrames(body, codec.frames), { objectMode: false });
}

async function* decodeFrames(body: Readable, format: FrameFormat): AsyncGenerator<Buffer> {
  const frameLength = format.length;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let consumed = 0;
  let unseen = 0;
  const decodeWhole = async function* (atEnd: boolean) {
    const data = Buffer.concat(pending);
    let offset = 0;
    for (let length = frameLength(data, offset); length !== undefined; length = frameLength(data, offset)) {
      const frame = data.subarray(offset, offset + length);
      if (!isSkippableFrame(frame)) yield await decodeAt(format, frame, consumed + offset);
      offset += length;
      if (offset === data.length) break;
    }
    if (atEnd && offset < data.length) {
      throw new FrameError(`truncated: the frame at byte ${consumed + offset} does not end`);
    }
    consumed += offset;
    pending = offset < data.length ? [data.subarray(offset)] : [];
    pendingBytes = data.length - offset;
    unseen = 0;
  };
  for await (const chunk of body) {
    pending.push(chunk as Buffer);
    pendingBytes += (chunk as Buffer).length;
    unseen += (chunk as Buffer).length;
    if (unseen >= LOOK_EVERY) yield* decodeWhole(false);
  }
  if (pendingBytes > 0) yield* decodeWhole(true);
}
