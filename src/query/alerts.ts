import { type AlertRow, alertRows } from "../catalog/alerts.js";
import type { CatalogDb } from "../catalog/db.js";

export type AlertState = "firing" | "resolved";

/** One alert as Strata evaluated it (the same conditions the Prometheus rules express). */
export interface AlertRecord {
  id: number;
  /** posix_fill, policy_stale, run_failed, replicas_lost, cost_over_budget, thaw_waiting. */
  rule: string;
  /** What it is about (a location, a policy): one rule fires once per subject. */
  subject: string;
  state: AlertState;
  severity: "warning" | "critical";
  summary: string;
  startsAt: string;
  endsAt?: string;
  labels: Record<string, string>;
  /** When a firing message last reached a receiver. */
  lastSentAt?: string;
}

/** Alerts listed at most, newest first: resolved ones pile up over the years. */
export const ALERTS_LISTED = 500;

/** The alerts the catalog recorded, newest first; firing or resolved ones only with `state`. */
export async function listAlerts(
  catalog: CatalogDb,
  options: { state?: AlertState; limit?: number },
): Promise<AlertRecord[]> {
  const limit = Math.min(options.limit ?? ALERTS_LISTED, ALERTS_LISTED);
  const rows = await alertRows(catalog, { limit, ...(options.state ? { state: options.state } : {}) });
  return rows.map(asRecord);
}

function asRecord(row: AlertRow): AlertRecord {
  return {
    id: row.id,
    rule: row.rule,
    subject: row.subject,
    state: row.state,
    severity: row.severity,
    summary: row.summary,
    startsAt: new Date(row.starts_at).toISOString(),
    ...(row.ends_at === null ? {} : { endsAt: new Date(row.ends_at).toISOString() }),
    labels: JSON.parse(row.labels) as Record<string, string>,
    ...(row.last_sent_at === null ? {} : { lastSentAt: new Date(row.last_sent_at).toISOString() }),
  };
}
