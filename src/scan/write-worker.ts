import { parentPort, workerData } from "node:worker_threads";
import { entryWriter } from "./entry-writer.js";
import type { WriteReply, WriteRequest, WriterInit } from "./write-protocol.js";

/**
 * The scan's catalog writer thread (entry-writer.ts on a thread of its own), so the walkers are
 * handed directories while rows are written.
 */
const port = parentPort;
if (!port) throw new Error("write-worker must run as a worker thread");

const writer = entryWriter(workerData as WriterInit, (message: WriteReply) => port.postMessage(message));
port.on("message", (request: WriteRequest) => writer.handle(request));
