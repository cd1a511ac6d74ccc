import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { Codec } from "../codec/codec.js";
import type { CompressReply, CompressRequest } from "./compress-protocol.js";

interface Job {
  request: CompressRequest;
  resolve(frame: Buffer): void;
  reject(err: Error): void;
}

/**
 * Threads that compress frames, one per core, started on first use and never holding the
 * process open. Jobs wait in order for a free thread; a thread that dies fails its job and is
 * replaced by the next job's.
 */
class CompressPool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Job>();
  private readonly waiting: Job[] = [];
  private started = 0;
  private nextId = 0;

  constructor(private readonly size: number) {}

  compress(codec: Codec, data: Buffer): Promise<Buffer> {
    const request: CompressRequest = { id: this.nextId++, codec: codec.name, data };
    if (codec.level !== undefined) request.level = codec.level;
    return new Promise((resolve, reject) => {
      this.waiting.push({ request, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.waiting.length > 0) {
      const worker = this.idle.pop() ?? (this.started < this.size ? this.start() : undefined);
      if (!worker) return;
      const job = this.waiting.shift() as Job;
      this.busy.set(worker, job);
      worker.ref();
      worker.postMessage(job.request);
    }
  }

  private start(): Worker {
    this.started += 1;
    const worker = startWorker();
    worker.on("message", (reply: CompressReply) => {
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      // Idle threads must not keep a finished command running.
      worker.unref();
      this.idle.push(worker);
      if (job) {
        if ("frame" in reply)
          job.resolve(Buffer.from(reply.frame.buffer, reply.frame.byteOffset, reply.frame.byteLength));
        else job.reject(new Error(`compression failed: ${reply.error}`));
      }
      this.dispatch();
    });
    worker.on("error", (err) => {
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      this.started -= 1;
      job?.reject(err);
      this.dispatch();
    });
    return worker;
  }
}

function startWorker(): Worker {
  const compiled = new URL("./compress-worker.js", import.meta.url);
  if (existsSync(compiled)) return new Worker(compiled);
  // Running from TypeScript sources (the test runner): as the scan's walker does (src/scan/walker.ts).
  const source = new URL("./compress-worker.ts", import.meta.url).href;
  const bootstrap = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); })`;
  return new Worker(bootstrap, { eval: true });
}

let shared: CompressPool | undefined;

/** One frame of `data` made on a compression thread ("none" is the data itself, made nowhere). */
export function compressOffThread(codec: Codec, data: Buffer): Promise<Buffer> {
  if (codec.name === "none") return Promise.resolve(data);
  shared ??= new CompressPool(Math.max(1, availableParallelism()));
  return shared.compress(codec, data);
}
