import { startModuleWorker } from "../codec/module-worker.js";
import { batchTransferList, type EntryBatch } from "./entry-batch.js";
import { type EntryWriter, entryWriter } from "./entry-writer.js";
import type { WriteReply, WriteRequest, WriterInit } from "./write-protocol.js";

/** Entries written so far, and bytes in files among them. */
export type WrittenProgress = (entries: number, bytes: number) => void;

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** A catalog write failed in the writer thread: the driver's message, and its code when it gave one. */
export class CatalogWriteError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/**
 * The coordinator's side of the scan's catalog writer (entry-writer.ts), on a thread of its own
 * (write-worker.ts) or, for a small tree, on this one. Batches are handed over without copying;
 * `write` makes the caller wait while more than `maxQueued` entries are handed over but not yet
 * committed, so a catalog slower than the walk holds the walk back instead of filling memory.
 */
export class CatalogWriter {
  private readonly writer: EntryWriter;
  private queued = 0;
  private failure: Error | undefined;
  private roomWaiter: (() => void) | undefined;
  private committedWaiter: Waiter | undefined;
  private finishWaiter: Waiter | undefined;

  constructor(
    init: WriterInit,
    private readonly maxQueued: number,
    private readonly onWritten: WrittenProgress = () => {},
    onThisThread = false,
  ) {
    const heard = (reply: WriteReply) => this.heard(reply);
    this.writer = onThisThread ? entryWriter(init, heard) : this.writerThread(init, heard);
  }

  /** Entries handed over and not yet committed. */
  get backlog(): number {
    return this.queued;
  }

  /** Hands a batch over; resolves once there is room for the next. Rejects if the writer failed. */
  async write(batch: EntryBatch): Promise<void> {
    this.throwIfFailed();
    this.queued += batch.paths.length;
    this.writer.handle({ type: "entries", batch });
    while (this.queued > this.maxQueued) {
      await new Promise<void>((resolve) => (this.roomWaiter = resolve));
      this.throwIfFailed();
    }
  }

  /**
   * Commits what is left. Resolves once every entry is committed, while the thread's last step
   * goes on: the deferred indexes built (a first scan's, about 1 s at 1,000,000 entries), its
   * connection closed, the thread ended; `closed` settles when it has. Meanwhile the catalog may
   * be read; a write would wait for the index build's lock.
   */
  async commitAll(): Promise<{ closed: Promise<void> }> {
    this.throwIfFailed();
    const committed = new Promise<void>((resolve, reject) => (this.committedWaiter = { resolve, reject }));
    const finished = new Promise<void>((resolve, reject) => (this.finishWaiter = { resolve, reject }));
    this.writer.handle({ type: "finish" });
    const closed = finished.then(() => this.stop());
    // Awaited by the caller once its reads are done; a failure before then is not unhandled.
    closed.catch(() => {});
    await committed;
    return { closed };
  }

  /** Ends the writer, whatever it was doing: for a scan given up (and its thread once done). */
  async stop(): Promise<void> {
    await this.writer.abort();
  }

  private writerThread(init: WriterInit, heard: (reply: WriteReply) => void): EntryWriter {
    const worker = startModuleWorker(import.meta.url, "write-worker", init);
    worker.on("message", heard);
    worker.on("error", (err) => this.failed(err));
    worker.on("exit", (code) => this.failed(new Error(`the catalog writer thread exited (code ${code})`)));
    return {
      handle: (request: WriteRequest) =>
        worker.postMessage(request, request.type === "entries" ? batchTransferList(request.batch) : []),
      abort: async () => {
        worker.removeAllListeners("exit");
        await worker.terminate();
      },
    };
  }

  private heard(reply: WriteReply): void {
    if (reply.type === "written") {
      this.queued -= reply.entries;
      this.onWritten(reply.entries, reply.bytes);
      this.wakeForRoom();
    } else if (reply.type === "committed") {
      this.committedWaiter?.resolve();
    } else if (reply.type === "finished") {
      this.finishWaiter?.resolve();
    } else {
      this.failed(new CatalogWriteError(reply.message, reply.code));
    }
  }

  private failed(err: Error): void {
    this.failure ??= err;
    this.wakeForRoom();
    this.committedWaiter?.reject(this.failure);
    this.finishWaiter?.reject(this.failure);
  }

  private wakeForRoom(): void {
    const waiter = this.roomWaiter;
    this.roomWaiter = undefined;
    waiter?.();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }
}
