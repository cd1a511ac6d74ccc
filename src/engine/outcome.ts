import type { ReplicaRecord } from "../catalog/replicas.js";

/** What carrying out one action came to. `deferred`: settled later (notices go out per owner). */
export type Outcome =
  | {
      state: "done";
      attempts: number;
      bytes: number;
      /** A replica the action made, recorded in the run's batch before the action is settled. */
      replica?: ReplicaRecord;
      /** The file's content hash, learnt by reading it. */
      fileHash?: string;
      /** What the event says beyond the kind, locations and bytes (the key, classes). */
      detail?: Record<string, unknown>;
    }
  | { state: "stale"; reason: string }
  | { state: "failed"; attempts: number; error: string }
  | { state: "deferred" };

/** Skipped: the file or replica is no longer what the action was planned for. */
export const stale = (reason: string): Outcome => ({ state: "stale", reason });

export const failed = (error: string, attempts = 1): Outcome => ({ state: "failed", attempts, error });
