import type { AlertFinding } from "../../catalog/alerts.js";
import type { AlertsConfig } from "../../policy/alerts-config.js";
import { type DeliverySettings, type DeliveryTally, deliverAlerts } from "./deliver.js";
import { evaluateAlerts } from "./evaluate.js";
import { type FactSources, gatherFacts } from "./facts.js";
import { type AlertChanges, recordFindings } from "./record.js";

/** The lease of an evaluation: one at a time across daemons, servers and `alerts check`, so no message goes twice. */
export const ALERTS_JOB = "@alerts";
/** Daemons and servers evaluate every minute. */
export const ALERTS_SCHEDULE = "* * * * *";

export interface AlertCheck {
  findings: AlertFinding[];
  changes: AlertChanges;
  delivery: DeliveryTally;
}

/**
 * One evaluation at `now`: the facts gathered, the conditions evaluated, the alerts recorded,
 * and what each receiver is owed sent. The daemon calls it every minute, `strata alerts check`
 * once.
 */
export async function checkAlerts(
  sources: FactSources & DeliverySettings,
  alerts: AlertsConfig,
  now: number,
): Promise<AlertCheck> {
  const facts = await gatherFacts(sources, alerts, now);
  const findings = evaluateAlerts(alerts, facts, now);
  const changes = await recordFindings(sources.catalog, findings, now);
  const delivery = await deliverAlerts(sources.catalog, alerts, sources, now);
  return { findings, changes, delivery };
}
