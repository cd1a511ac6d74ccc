import { hostname } from "node:os";
import { processAlive } from "../backends/writers.js";
import type { CatalogDb } from "./db.js";
import type { ActionKind, ActionState, EventTable, RunTable } from "./schema.js";
import { takeSnapshot } from "./snapshots.js";

/** Runs, actions and events: what Strata did, so a killed run can be understood and finished. */

export async function startRun({ db }: CatalogDb, command: string): Promise<number> {
  const row = await db
    .insertInto("runs")
    .values({
      command,
      host: hostname(),
      pid: process.pid,
      started_at: Date.now(),
      status: "running",
      finished_at: null,
      stop_requested_at: null,
      summary: null,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Asks a running run to stop, whichever process runs it; false when it is not running. */
export async function requestRunStop({ db }: CatalogDb, runId: number): Promise<boolean> {
  const result = await db
    .updateTable("runs")
    .set({ stop_requested_at: Date.now() })
    .where("id", "=", runId)
    .where("status", "=", "running")
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Whether someone asked run `runId` to stop. */
export async function runStopRequested({ db }: CatalogDb, runId: number): Promise<boolean> {
  const row = await db.selectFrom("runs").select("stop_requested_at").where("id", "=", runId).executeTakeFirst();
  return row?.stop_requested_at != null;
}

/**
 * Closes a run with its summary, then prunes events past the catalog's retention: every run
 * that changes something passes here, so history stays within its bound without a job of its
 * own, and read-only commands never delete.
 */
export async function finishRun(
  catalog: CatalogDb,
  runId: number,
  status: RunTable["status"],
  summary: unknown,
): Promise<void> {
  await catalog.db
    .updateTable("runs")
    .set({ status, finished_at: Date.now(), summary: JSON.stringify(summary) })
    .where("id", "=", runId)
    .execute();
  // Capacity history for the dashboard's series: every run that may have moved bytes ends here.
  await takeSnapshot(catalog);
  if (catalog.eventsRetentionMs !== undefined) await pruneEvents(catalog, Date.now() - catalog.eventsRetentionMs);
}

/** Events deleted per statement, so a first prune of years of history never holds the catalog long. */
const PRUNE_BATCH = 10_000;

/** Deletes events older than `beforeMs` (by the `events_at` index), a batch at a time; returns how many. */
async function pruneEvents({ db }: CatalogDb, beforeMs: number): Promise<number> {
  let pruned = 0;
  for (;;) {
    const result = await db
      .deleteFrom("events")
      .where("id", "in", (eb) =>
        eb.selectFrom("events").select("id").where("at", "<", beforeMs).orderBy("at").limit(PRUNE_BATCH),
      )
      .executeTakeFirst();
    const deleted = Number(result.numDeletedRows);
    pruned += deleted;
    if (deleted < PRUNE_BATCH) return pruned;
  }
}

export interface PlannedAction {
  kind: ActionKind;
  fileId: number | null;
  sourceLocationId: number | null;
  targetLocationId: number | null;
  key: string;
  bytes: number;
}

/** Journals actions as pending before they start; returns their ids in the same order. */
export async function journalActions({ db }: CatalogDb, runId: number, actions: readonly PlannedAction[]) {
  if (actions.length === 0) return [];
  const now = Date.now();
  const rows = await db
    .insertInto("actions")
    .values(
      actions.map((a) => ({
        run_id: runId,
        kind: a.kind,
        file_id: a.fileId,
        source_location_id: a.sourceLocationId,
        target_location_id: a.targetLocationId,
        key: a.key,
        bytes: a.bytes,
        state: "pending" as const,
        attempts: 0,
        error: null,
        progress: null,
        updated_at: now,
      })),
    )
    .returning("id")
    .execute();
  return rows.map((r) => r.id);
}

export interface ActionOutcome {
  id: number;
  state: ActionState;
  attempts: number;
  error: string | null;
}

/** Settles finished actions: one UPDATE per distinct outcome, not one per action. */
export async function settleActions({ db }: CatalogDb, outcomes: readonly ActionOutcome[]): Promise<void> {
  const groups = new Map<string, { outcome: ActionOutcome; ids: number[] }>();
  for (const o of outcomes) {
    const key = JSON.stringify([o.state, o.attempts, o.error]);
    const group = groups.get(key) ?? { outcome: o, ids: [] };
    group.ids.push(o.id);
    groups.set(key, group);
  }
  const now = Date.now();
  await db.transaction().execute(async (trx) => {
    for (const { outcome, ids } of groups.values()) {
      await trx
        .updateTable("actions")
        .set({ state: outcome.state, attempts: outcome.attempts, error: outcome.error, updated_at: now })
        .where("id", "in", ids)
        .execute();
    }
  });
}

/** An event as written: everything but its id. */
export type EventRow = Omit<EventTable, "id">;

/** Appends events, many rows per statement. */
export async function recordEvents({ db }: CatalogDb, events: readonly EventRow[]): Promise<void> {
  // 12 columns a row: well under SQLite's 32766 bound variables per statement.
  for (let i = 0; i < events.length; i += 1000) {
    await db
      .insertInto("events")
      .values(events.slice(i, i + 1000))
      .execute();
  }
}

/**
 * Closes the journal of runs on this host whose process is gone (killed, crashed): their
 * pending actions are marked interrupted. Nothing is replayed from them; the planner compares
 * desired with actual state and redoes only what is still missing, once a copy's target has
 * been looked at (see engine/reconcile.ts): the dead run may have written it unrecorded.
 */
export async function closeDeadRuns({ db }: CatalogDb): Promise<number[]> {
  const running = await db
    .selectFrom("runs")
    .select(["id", "pid"])
    .where("status", "=", "running")
    .where("host", "=", hostname())
    .execute();
  const dead = running.filter((run) => run.pid !== process.pid && !processAlive(run.pid)).map((r) => r.id);
  if (dead.length === 0) return [];
  await db
    .updateTable("actions")
    .set({ state: "interrupted", error: INTERRUPTED, updated_at: Date.now() })
    .where("state", "=", "pending")
    .where("run_id", "in", dead)
    .execute();
  await db.updateTable("runs").set({ status: "failed", finished_at: Date.now() }).where("id", "in", dead).execute();
  return dead;
}

const INTERRUPTED = "interrupted: the run stopped before this finished";

export interface InterruptedCopy {
  actionIds: number[];
  fileId: number;
  key: string;
}

/** Copies into a location that dead runs left unsettled, one per file (its actions together). */
export async function interruptedCopies({ db }: CatalogDb, targetLocationId: number): Promise<InterruptedCopy[]> {
  const rows = await db
    .selectFrom("actions")
    .select(["id", "file_id", "key"])
    .where("state", "=", "interrupted")
    .where("kind", "=", "copy")
    .where("target_location_id", "=", targetLocationId)
    .orderBy("id")
    .execute();
  const byFile = new Map<number, InterruptedCopy>();
  for (const row of rows) {
    if (row.file_id === null) continue;
    const copy = byFile.get(row.file_id) ?? { actionIds: [], fileId: row.file_id, key: row.key };
    copy.actionIds.push(row.id);
    copy.key = row.key;
    byFile.set(row.file_id, copy);
  }
  return [...byFile.values()];
}

/** Names of the locations that copies (whole or into packs) of dead runs were writing into, not yet looked at. */
export async function interruptedCopyTargets({ db }: CatalogDb): Promise<string[]> {
  const kinds: ActionKind[] = ["copy", "pack"];
  const rows = await db
    .selectFrom("actions")
    .innerJoin("locations", "locations.id", "actions.target_location_id")
    .select("locations.name")
    .distinct()
    .where("actions.state", "=", "interrupted")
    .where("actions.kind", "in", kinds)
    .execute();
  return rows.map((r) => r.name);
}

/** Interrupted actions whose target was looked at: failed, as they would have been before. */
export async function closeInterrupted({ db }: CatalogDb, actionIds: readonly number[]): Promise<void> {
  if (actionIds.length === 0) return;
  await db
    .updateTable("actions")
    .set({ state: "failed", updated_at: Date.now() })
    .where("id", "in", actionIds)
    .execute();
}
