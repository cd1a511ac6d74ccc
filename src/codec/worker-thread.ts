import { createHash, type Hash } from "node:crypto";
import { readSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import { codecNamed, zstdCodec } from "./codec.js";
import type { CompressRequest, DigestRequest, FileExtent, WorkerReply, WorkerRequest } from "./worker-protocol.js";

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

function digest(request: DigestRequest): Uint8Array {
  const { algorithm, session, final } = request;
  const hash = (session === undefined ? undefined : sessions.get(session)) ?? createHash(algorithm);
  if ("data" in request) hash.update(request.data);
  else hashFile(hash, request.file);
  if (session === undefined) return hash.digest();
  if (!final) {
    sessions.set(session, hash);
    return new Uint8Array(0);
  }
  sessions.delete(session);
  return hash.digest();
}

/** Read-back buffer of a file's extents (one per thread, reused). */
let readBuffer: Buffer | undefined;

function hashFile(hash: Hash, { fd, start, end }: FileExtent): void {
  readBuffer ??= Buffer.allocUnsafe(1024 * 1024);
  for (let position = start; position < end; ) {
    const count = readSync(fd, readBuffer, 0, Math.min(readBuffer.length, end - position), position);
    if (count === 0) throw new Error(`the file ends at ${position} bytes, before ${end}`);
    hash.update(readBuffer.subarray(0, count));
    position += count;
  }
}
