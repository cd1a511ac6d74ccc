import {
  type AlertFinding,
  type AlertRow,
  firingAlerts,
  openAlert,
  refreshAlert,
  resolveAlert,
} from "../../catalog/alerts.js";
import type { CatalogDb } from "../../catalog/db.js";

export interface AlertChanges {
  opened: number;
  resolved: number;
  firing: number;
}

/**
 * Brings the catalog's alerts to what an evaluation found: a finding with no firing row opens
 * one, one still firing keeps its row (its summary refreshed), a firing row no longer found is
 * resolved. One row per episode of a rule firing for a subject.
 */
export async function recordFindings(
  catalog: CatalogDb,
  findings: readonly AlertFinding[],
  now: number,
): Promise<AlertChanges> {
  const firing = new Map((await firingAlerts(catalog)).map((row) => [keyOf(row), row]));
  let opened = 0;
  for (const finding of findings) {
    const row = firing.get(keyOf(finding));
    firing.delete(keyOf(finding));
    if (row) {
      await refreshAlert(catalog, row.id, finding);
    } else {
      await openAlert(catalog, finding, now);
      opened += 1;
    }
  }
  for (const row of firing.values()) await resolveAlert(catalog, row.id, now);
  return { opened, resolved: firing.size, firing: findings.length };
}

function keyOf(alert: Pick<AlertRow, "rule" | "subject">): string {
  return `${alert.rule}\u0000${alert.subject}`;
}
