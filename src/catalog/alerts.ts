import type { Selectable } from "kysely";
import type { CatalogDb } from "./db.js";
import type { AlertDeliveryTable, AlertRowState, AlertTable } from "./schema.js";

export type AlertRow = Selectable<AlertTable>;
export type AlertDeliveryKind = AlertDeliveryTable["kind"];

/** What one evaluation found firing: one per rule and subject. */
export interface AlertFinding {
  rule: string;
  subject: string;
  severity: AlertTable["severity"];
  summary: string;
  labels: Record<string, string>;
}

/** The alerts firing now, oldest first. */
export function firingAlerts({ db }: CatalogDb): Promise<AlertRow[]> {
  return db.selectFrom("alerts").selectAll().where("state", "=", "firing").orderBy("id").execute();
}

/** Starts a firing episode. */
export async function openAlert({ db }: CatalogDb, finding: AlertFinding, now: number): Promise<void> {
  await db
    .insertInto("alerts")
    .values({
      rule: finding.rule,
      subject: finding.subject,
      state: "firing",
      severity: finding.severity,
      summary: finding.summary,
      labels: JSON.stringify(finding.labels),
      starts_at: now,
      ends_at: null,
      last_sent_at: null,
    })
    .execute();
}

/** A firing alert still firing: its summary and labels as the latest evaluation saw them. */
export async function refreshAlert({ db }: CatalogDb, id: number, finding: AlertFinding): Promise<void> {
  await db
    .updateTable("alerts")
    .set({ severity: finding.severity, summary: finding.summary, labels: JSON.stringify(finding.labels) })
    .where("id", "=", id)
    .execute();
}

/** Ends a firing episode. */
export async function resolveAlert({ db }: CatalogDb, id: number, now: number): Promise<void> {
  await db
    .updateTable("alerts")
    .set({ state: "resolved", ends_at: now })
    .where("id", "=", id)
    .where("state", "=", "firing")
    .execute();
}

/** Firing alerts, and those resolved at or after `resolvedSince` (whose resolved message may be owed). */
export function alertsToTell({ db }: CatalogDb, resolvedSince: number): Promise<AlertRow[]> {
  return db
    .selectFrom("alerts")
    .selectAll()
    .where((eb) =>
      eb.or([eb("state", "=", "firing"), eb.and([eb("state", "=", "resolved"), eb("ends_at", ">=", resolvedSince)])]),
    )
    .orderBy("id")
    .execute();
}

/** When each alert last reached each receiver, per kind of message (successful deliveries only). */
export async function lastSent({ db }: CatalogDb, alertIds: readonly number[]): Promise<Map<string, number>> {
  if (alertIds.length === 0) return new Map();
  const rows = await db
    .selectFrom("alert_deliveries")
    .select(["alert_id", "receiver", "kind"])
    .select((eb) => eb.fn.max("at").as("at"))
    .where("alert_id", "in", alertIds)
    .where("outcome", "=", "sent")
    .groupBy(["alert_id", "receiver", "kind"])
    .execute();
  return new Map(rows.map((r) => [deliveryKey(r.alert_id, r.receiver, r.kind), Number(r.at)]));
}

export function deliveryKey(alertId: number, receiver: string, kind: AlertDeliveryKind): string {
  return `${alertId}\u0000${receiver}\u0000${kind}`;
}

export interface DeliveryRecord {
  alertId: number;
  receiver: string;
  kind: AlertDeliveryKind;
  at: number;
  error?: string;
}

/** One attempt, sent or failed; a firing message that reached its receiver restarts the repeat period. */
export async function recordDelivery({ db }: CatalogDb, delivery: DeliveryRecord): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto("alert_deliveries")
      .values({
        alert_id: delivery.alertId,
        receiver: delivery.receiver,
        kind: delivery.kind,
        at: delivery.at,
        outcome: delivery.error === undefined ? "sent" : "failed",
        error: delivery.error ?? null,
      })
      .execute();
    if (delivery.error === undefined && delivery.kind === "firing") {
      await trx.updateTable("alerts").set({ last_sent_at: delivery.at }).where("id", "=", delivery.alertId).execute();
    }
  });
}

/** Alerts newest first, in one state or both. */
export function alertRows({ db }: CatalogDb, options: { state?: AlertRowState; limit: number }): Promise<AlertRow[]> {
  let query = db.selectFrom("alerts").selectAll().orderBy("id", "desc").limit(options.limit);
  if (options.state) query = query.where("state", "=", options.state);
  return query.execute();
}
