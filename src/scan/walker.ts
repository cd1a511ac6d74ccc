import { existsSync } from "node:fs";
import { Worker } from "node:worker_threads";
import type { FileStat } from "../catalog/files.js";
import type { EntryTuple, WalkerInit, WalkReply } from "./walk-protocol.js";

export interface ScanProblem {
  path: string;
  message: string;
}

export interface WalkResult {
  problems: ScanProblem[];
  /** Directories that could not be read: what was under them is unknown, not deleted. */
  unreadableDirs: string[];
}

export interface WalkOptions {
  threads: number;
  /** Receives entries in batches; the walk waits while it runs, so memory stays bounded. */
  onEntries: (entries: FileStat[]) => Promise<void>;
  batchSize: number;
}

/**
 * Walks a POSIX tree with `threads` walker threads, depth first (the stack of pending
 * directories stays small however wide the tree is), and hands entries over in batches.
 */
export async function walkTree(root: string, options: WalkOptions): Promise<WalkResult> {
  const workers = Array.from({ length: options.threads }, () => startWorker({ root }));
  const result: WalkResult = { problems: [], unreadableDirs: [] };
  const pending: string[] = [""];
  const idle = [...workers];
  const inbox: { worker: Worker; reply: WalkReply }[] = [];
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  for (const worker of workers) {
    worker.on("message", (reply: WalkReply) => {
      inbox.push({ worker, reply });
      wake?.();
    });
    worker.on("error", (err) => {
      failure = err;
      wake?.();
    });
  }

  let buffer: FileStat[] = [];
  const flush = async () => {
    const batch = buffer;
    buffer = [];
    if (batch.length > 0) await options.onEntries(batch);
  };

  try {
    while (pending.length > 0 || idle.length < workers.length) {
      while (pending.length > 0 && idle.length > 0) {
        (idle.pop() as Worker).postMessage({ dir: pending.pop() });
      }
      if (inbox.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      if (failure) throw failure;
      for (const { worker, reply } of inbox.splice(0)) {
        if (reply.type === "entries") {
          for (const tuple of reply.entries) buffer.push(toFileStat(tuple));
          if (buffer.length >= options.batchSize) await flush();
        } else if (reply.type === "problem") {
          result.problems.push({ path: reply.path, message: reply.message });
          if (reply.unreadableDir) result.unreadableDirs.push(reply.path);
        } else {
          for (let i = reply.subdirs.length - 1; i >= 0; i--) pending.push(reply.subdirs[i] as string);
          idle.push(worker);
        }
      }
    }
    await flush();
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return result;
}

function startWorker(init: WalkerInit): Worker {
  const compiled = new URL("./walk-worker.js", import.meta.url);
  if (existsSync(compiled)) return new Worker(compiled, { workerData: init });
  // Running from TypeScript sources (the test runner): Node 20 does not apply --import hooks to
  // a worker's entry module, so the worker registers tsx itself before importing the walker.
  const source = new URL("./walk-worker.ts", import.meta.url).href;
  const bootstrap = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); })`;
  return new Worker(bootstrap, { eval: true, workerData: init });
}

function toFileStat(t: EntryTuple): FileStat {
  const stat: FileStat = {
    path: t[0],
    kind: t[1],
    size: t[2],
    mtimeUs: t[3],
    atimeUs: t[4],
    ctimeUs: t[5],
    mode: t[6],
    uid: t[7],
    gid: t[8],
    inode: t[9],
  };
  if (t[10]) stat.stub = t[10];
  return stat;
}
