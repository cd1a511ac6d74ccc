import type { EntryBatch } from "./entry-batch.js";

/** Messages between the scan coordinator and its catalog writer thread. */

export interface WriterInit {
  /** The catalog's full URL: the writer opens its own connection to it. */
  catalogUrl: string;
  locationId: number;
  scanId: number;
  /** Entries per transaction. */
  batchSize: number;
}

export type WriteRequest = { type: "entries"; batch: EntryBatch } | { type: "finish" };

export type WriteReply =
  /** A transaction committed: these entries (and bytes in files) are in the catalog. */
  | { type: "written"; entries: number; bytes: number }
  /** Every entry handed over is committed; the thread goes on to build deferred indexes and close. */
  | { type: "committed" }
  | { type: "finished" }
  /** The catalog refused a write; the writer wrote nothing more. `code` is the driver's (SQLITE_FULL, …). */
  | { type: "failed"; message: string; code?: string };
