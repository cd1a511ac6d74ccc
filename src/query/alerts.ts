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
}

// Placeholder until the alerts branch lands: the agreed signature only.
export async function listAlerts(_catalog: CatalogDb, _options: { state?: AlertState }): Promise<AlertRecord[]> {
  throw new Error("listAlerts: not built yet");
}
