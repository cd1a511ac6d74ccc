import type { Backend } from "../backends/backend.js";
import { ByteBudget } from "./byte-budget.js";

/** Files in flight: a fixed number, or "auto" (see FilesInFlight). */
export type TransferSetting = number | "auto";

/**
 * "auto", files read from a local tree (uploads): once the client's CPU per file fell below the
 * store's, the upload waited on the store's answers, and 16 keep both cores busier than 8, as
 * tuned rclone's 16 do; the cost is memory, up to 16 medium bodies held at once (bench/ANALYSIS.md).
 */
export const AUTO_FROM_TREE = 16;
/**
 * "auto", files read from an object store (downloads, restores, bucket to bucket): a small GET
 * waits about 45 ms on the server whatever the client, so only more of them in flight hide that
 * latency; 16 took 9.8 s for 3,000 objects where 8 took 17.6 s, 32 took 9.5 s (bench/ANALYSIS.md).
 */
export const AUTO_FROM_STORE = 32;
/**
 * "auto", large files (those the target writes in parts or ranges) in flight at once: four keep
 * four of the sixteen streams each (StreamPlanner), where thirty-two would each get one part and
 * split the byte budget into slivers.
 */
export const AUTO_LARGE = 4;

/** Where the files of a command come from, as far as what is in flight is concerned. */
export type SourceKind = "tree" | "store";

export function sourceKindOf(backend: Backend): SourceKind {
  return backend.tree ? "tree" : "store";
}

/** The files in flight for work of one kind of source, with no file sizes to go by (verify, tags, HEADs). */
export function filesInFlight(setting: TransferSetting, source: SourceKind): number {
  if (setting !== "auto") return setting;
  return source === "tree" ? AUTO_FROM_TREE : AUTO_FROM_STORE;
}

/**
 * Decides, file by file, whether one more may start. A fixed setting is the pool's size and
 * nothing more. "auto" sizes the pool for the most any file may have (AUTO_FROM_STORE, or the
 * source's own number when one run reads from one source) and then holds each file until its
 * kind has room: files from a tree at most AUTO_FROM_TREE at once, large files at most
 * AUTO_LARGE; small files from an object store take every lane. The byte budget still caps what
 * they buffer together, whatever this lets start.
 */
export class FilesInFlight {
  // Whole-number semaphores: a ByteBudget of N slots, each file asking for one.
  private readonly fromTrees = new ByteBudget(AUTO_FROM_TREE);
  private readonly large = new ByteBudget(AUTO_LARGE);

  constructor(readonly setting: TransferSetting) {}

  /** The pool's size: for "auto", the source's number when the run has one source, else the most. */
  lanes(source?: Backend): number {
    return filesInFlight(this.setting, source ? sourceKindOf(source) : "store");
  }

  /** Runs `copy` once the file may start, holding its slots until it ends. */
  async hold<T>(file: { source: Backend; large: boolean }, copy: () => Promise<T>): Promise<T> {
    if (this.setting !== "auto") return copy();
    const gates = [...(file.source.tree ? [this.fromTrees] : []), ...(file.large ? [this.large] : [])];
    // Always taken in the same order (tree, then large), so two files cannot wait on each other.
    for (const gate of gates) await gate.acquire(1);
    try {
      return await copy();
    } finally {
      for (const gate of gates) gate.release(1);
    }
  }
}
