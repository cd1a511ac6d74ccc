import { parentPort, workerData } from "node:worker_threads";
import { dirWalker } from "./walk-dir.js";
import type { WalkerInit, WalkReply, WalkRequest } from "./walk-protocol.js";

/** A walker thread: walks the directories it is sent, one after another (walk-dir.ts). */
const { root } = workerData as WalkerInit;
const port = parentPort;

if (!port) throw new Error("walk-worker must run as a worker thread");

const walkDir = dirWalker(root, (reply: WalkReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer));

// Requests are walked one after another: a directory holding a stub-sized file waits for the
// stub parser to load, and the next directory must not start meanwhile (they share a batch).
let walking: Promise<void> = Promise.resolve();
port.on("message", ({ dir }: WalkRequest) => {
  walking = walking
    .then(() => walkDir(dir))
    .catch((err: unknown) => {
      // Thrown outside the chain: the thread fails as it did when walking was synchronous.
      process.nextTick(() => {
        throw err;
      });
    });
});
