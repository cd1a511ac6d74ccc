/** What carrying out one action came to. `deferred`: settled later (notices go out per owner). */
export type Outcome =
  | { state: "done"; attempts: number; bytes: number }
  | { state: "stale"; reason: string }
  | { state: "failed"; attempts: number; error: string }
  | { state: "deferred" };

/** Skipped: the file or replica is no longer what the action was planned for. */
export const stale = (reason: string): Outcome => ({ state: "stale", reason });

export const failed = (error: string, attempts = 1): Outcome => ({ state: "failed", attempts, error });
