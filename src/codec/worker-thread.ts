import { createHash, type Hash } from "node:crypto";
import { parentPort } from "node:worker_threads";
import { codecNamed, zstdCodec } from "./codec.js";
import type { CompressRequest, DigestRequest, WorkerReply, WorkerRequest } from "./worker-protocol.js";

/**
 * A worker thread: compresses frames and hashes content. zstd (zstd-napi) and the hashes compute
 * synchronously on the thread that calls them, so they run here, in as many threads as there are
 * cores, and the main thread keeps reading, sending and writing.
 */
const port = parentPort;
if (!port) throw new Error("worker-thread must run as a worker thread");

/** The digests taken in order across requests, by session. */
const sessions = new Map<number, Hash>();

port.on("message", async (request: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    const bytes = request.kind === "compress" ? await compress(request) : digest(request);
    reply = { id: request.id, bytes };
  } catch (err) {
    reply = { id: request.id, error: (err as Error).message };
  }
  // A frame is new memory of this thread: handed over, not copied. Digests are small.
  const transfer = "bytes" in reply && request.kind === "compress" ? [reply.bytes.buffer as ArrayBuffer] : [];
  port.postMessage(reply, transfer);
});

async function compress({ codec, level, data }: CompressRequest): Promise<Uint8Array> {
  const chosen = codec === "zstd" ? zstdCodec(level) : codecNamed(codec);
  return chosen.compress(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

function digest({ algorithm, data, session, final }: DigestRequest): Uint8Array {
  if (session === undefined) return createHash(algorithm).update(data).digest();
  const hash = sessions.get(session) ?? createHash(algorithm);
  hash.update(data);
  if (!final) {
    sessions.set(session, hash);
    return new Uint8Array(0);
  }
  sessions.delete(session);
  return hash.digest();
}
