import { parentPort } from "node:worker_threads";
import { codecNamed, zstdCodec } from "../codec/codec.js";
import type { CompressReply, CompressRequest } from "./compress-protocol.js";

/**
 * A compression thread: one frame per request. zstd (zstd-napi) computes synchronously on the
 * thread that calls it, so frames are made here, in as many threads as there are cores, and the
 * main thread keeps reading, hashing and writing.
 */
const port = parentPort;
if (!port) throw new Error("compress-worker must run as a worker thread");

port.on("message", async ({ id, codec, level, data }: CompressRequest) => {
  let reply: CompressReply;
  try {
    const chosen = codec === "zstd" ? zstdCodec(level) : codecNamed(codec);
    const frame = await chosen.compress(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    reply = { id, frame };
  } catch (err) {
    reply = { id, error: (err as Error).message };
  }
  const transfer = "frame" in reply ? [reply.frame.buffer as ArrayBuffer] : [];
  port.postMessage(reply, transfer);
});
