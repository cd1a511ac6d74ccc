import type { EntryBatch } from "./entry-batch.js";

/** Messages between the scan coordinator and its walker threads. */

export interface WalkerInit {
  root: string;
}

export interface WalkRequest {
  dir: string;
}

export type WalkReply =
  | { type: "entries"; batch: EntryBatch }
  | { type: "problem"; path: string; message: string; unreadableDir: boolean }
  | { type: "done"; dir: string; subdirs: string[] };
