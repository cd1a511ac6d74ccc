import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import type { Codec } from "./codec.js";
import { startModuleWorker } from "./module-worker.js";
import type { DigestAlgorithm, FileExtent, Unnumbered, WorkerReply, WorkerRequest } from "./worker-protocol.js";

interface Job {
  request: WorkerRequest;
  resolve(bytes: Buffer): void;
  reject(err: Error): void;
}

/**
 * Threads that compress frames and hash content, one per core, started on first use and never
 * holding the process open. Jobs wait in order for a free thread; a thread that dies fails its
 * job and is replaced by the next job's. A digest session lives in one thread (a hash's state
 * cannot move between threads), so its steps are pinned there, run in the order they were asked.
 */
class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Job>();
  private readonly waiting: Job[] = [];
  /** The thread that holds each open digest session. */
  private readonly pinned = new Map<number, Worker>();
  private started = 0;
  private nextId = 0;
  private nextSession = 0;

  constructor(private readonly size: number) {}

  run(request: Unnumbered<WorkerRequest>): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      // Spreading a member of the union gives back that member with its id.
      this.waiting.push({ request: { ...request, id: this.nextId++ } as WorkerRequest, resolve, reject });
      this.dispatch();
    });
  }

  openSession(): number {
    return this.nextSession++;
  }

  private dispatch(): void {
    for (let i = 0; i < this.waiting.length; ) {
      const job = this.waiting[i] as Job;
      const worker = this.workerFor(job.request);
      if (!worker) {
        i += 1;
        continue;
      }
      this.waiting.splice(i, 1);
      this.busy.set(worker, job);
      worker.ref();
      worker.postMessage(job.request);
    }
  }

  /** An idle thread for the request: its session's own, else any (pinning a session's first step). */
  private workerFor(request: WorkerRequest): Worker | undefined {
    const session = request.kind === "digest" ? request.session : undefined;
    const holder = session === undefined ? undefined : this.pinned.get(session);
    if (holder) {
      const index = this.idle.indexOf(holder);
      return index < 0 ? undefined : this.idle.splice(index, 1)[0];
    }
    const worker = this.idle.pop() ?? (this.started < this.size ? this.start() : undefined);
    if (worker && session !== undefined) this.pinned.set(session, worker);
    return worker;
  }

  private start(): Worker {
    this.started += 1;
    const worker = startModuleWorker(import.meta.url, "worker-thread");
    worker.on("message", (reply: WorkerReply) => {
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      // Idle threads must not keep a finished command running.
      worker.unref();
      this.idle.push(worker);
      if (job) this.settle(job, reply);
      this.dispatch();
    });
    worker.on("error", (err) => {
      const job = this.busy.get(worker);
      this.busy.delete(worker);
      this.started -= 1;
      job?.reject(err);
      this.dropSessionsOf(worker, err);
      this.dispatch();
    });
    return worker;
  }

  private settle(job: Job, reply: WorkerReply): void {
    const { request } = job;
    if (request.kind === "digest" && request.session !== undefined && request.final) {
      this.pinned.delete(request.session);
    }
    if ("bytes" in reply) job.resolve(Buffer.from(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.byteLength));
    else job.reject(new Error(`${request.kind === "compress" ? "compression" : "hashing"} failed: ${reply.error}`));
  }

  /** A dead thread took its sessions' state with it: their waiting steps fail. */
  private dropSessionsOf(worker: Worker, err: Error): void {
    for (const [session, holder] of this.pinned) {
      if (holder !== worker) continue;
      this.pinned.delete(session);
      for (const job of this.waiting.filter((j) => j.request.kind === "digest" && j.request.session === session)) {
        this.waiting.splice(this.waiting.indexOf(job), 1);
        job.reject(err);
      }
    }
  }
}

let shared: WorkerPool | undefined;

function pool(): WorkerPool {
  shared ??= new WorkerPool(Math.max(1, availableParallelism()));
  return shared;
}

/** One frame of `data` made on a compression thread ("none" is the data itself, made nowhere). */
export function compressOffThread(codec: Codec, data: Buffer): Promise<Buffer> {
  if (codec.name === "none") return Promise.resolve(data);
  return pool().run({
    kind: "compress",
    codec: codec.name,
    ...(codec.level !== undefined ? { level: codec.level } : {}),
    data,
  });
}

/**
 * The digest of `data`, taken on a worker thread. Data in a SharedArrayBuffer is read there in
 * place (not copied), so it must not change until the digest is answered.
 */
export function digestOffThread(algorithm: DigestAlgorithm, data: Buffer): Promise<Buffer> {
  return pool().run({ kind: "digest", algorithm, data });
}

/**
 * A digest of content given piece by piece, in order, taken on one worker thread: the pieces
 * are queued there as they come, and each one's promise says when its bytes (read in place when
 * in a SharedArrayBuffer) are no longer needed.
 */
export class OrderedDigest {
  private readonly session = pool().openSession();
  private ended = false;

  constructor(private readonly algorithm: DigestAlgorithm) {}

  update(data: Buffer): Promise<void> {
    return pool()
      .run({ kind: "digest", algorithm: this.algorithm, data, session: this.session })
      .then(() => undefined);
  }

  /** Adds a file's bytes, read by the thread: the file must stay open and those bytes unchanged until this resolves. */
  updateFromFile(file: FileExtent): Promise<void> {
    return pool()
      .run({ kind: "digest", algorithm: this.algorithm, file, session: this.session })
      .then(() => undefined);
  }

  /** The digest of every piece given; its promise settles after theirs. */
  digest(): Promise<Buffer> {
    this.ended = true;
    return pool().run({
      kind: "digest",
      algorithm: this.algorithm,
      data: new Uint8Array(0),
      session: this.session,
      final: true,
    });
  }

  /** Lets go of the thread's state of a digest that will not be finished (its write failed). */
  discard(): void {
    if (!this.ended) this.digest().catch(() => undefined);
  }
}
