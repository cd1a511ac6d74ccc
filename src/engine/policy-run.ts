import type { Backend } from "../backends/backend.js";
import type { CatalogDb } from "../catalog/db.js";
import type { LocationRow } from "../catalog/schema.js";
import type { PolicyAction } from "../policy/actions.js";
import type { RetryPolicy } from "../transfer/retry.js";
import type { Outcome } from "./outcome.js";

/**
 * What the carrying-out of one policy action (release, notify, purge) needs of its run: the
 * port apply.ts implements, so those modules depend on this file and never on apply.ts.
 */

/** A location as apply uses it; the CLI's Context resolves these by configured name. */
export interface ApplyLocation {
  name: string;
  row: LocationRow;
  backend: Backend;
  settings: { tags: Record<string, string>; codec?: string | undefined; dedup?: boolean };
}

/** An action with its journal row. */
export interface Journaled {
  action: PolicyAction;
  actionId: number;
}

export interface PolicyRun {
  readonly catalog: CatalogDb;
  readonly retry: RetryPolicy;
  /** When the actions now running were planned; notices count their grace from their own sending. */
  readonly plannedAt: number | undefined;
  /** A location by its configured name (cached per run). */
  resolve(name: string): Promise<ApplyLocation>;
  /** Counts an outcome and records it; for outcomes settled later than their action returned. */
  settle(item: Journaled, outcome: Outcome): Promise<void>;
}
