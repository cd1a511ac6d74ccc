import { sql } from "kysely";
import type { CatalogDb } from "./db.js";
import type { SnapshotTable } from "./schema.js";

/**
 * A snapshot is one row per (location, class, state) at one time, summed from usage_buckets
 * (a location's own files, class "") and usage_replica_states (copies held at a location; see
 * capacity-summaries.ts): a few hundred rows at most, never a walk of files.
 */

/** What a location holds at one state and class, now: its own files (class "") and the copies kept there. */
export type CapacityRow = Omit<SnapshotTable, "id" | "at">;

/**
 * The current capacity per location, class and state, from the summaries. A location's own
 * files store their bytes while present (a released file leaves a stub, a missing one nothing).
 */
const CAPACITY_NOW = `SELECT location_id, storage_class, state,
    SUM(files) AS files, SUM(logical_bytes) AS logical_bytes, SUM(stored_bytes) AS stored_bytes FROM (
  SELECT location_id, '' AS storage_class, state, SUM(files) AS files, SUM(bytes) AS logical_bytes,
    SUM(CASE WHEN state = 'present' THEN bytes ELSE 0 END) AS stored_bytes
  FROM usage_buckets GROUP BY location_id, state
  UNION ALL
  SELECT location_id, storage_class, state, SUM(copies), SUM(logical_bytes), SUM(stored_bytes)
  FROM usage_replica_states GROUP BY location_id, storage_class, state
) c GROUP BY location_id, storage_class, state`;

export async function capacityNow({ db }: CatalogDb): Promise<CapacityRow[]> {
  const { rows } = await sql<CapacityRow>`${sql.raw(CAPACITY_NOW)} ORDER BY 1, 2, 3`.execute(db);
  return rows.map((r) => ({
    ...r,
    files: Number(r.files),
    logical_bytes: Number(r.logical_bytes),
    stored_bytes: Number(r.stored_bytes),
  }));
}

/** Writes one snapshot of every location's capacity at `at` (ms), after a scan or a run. */
export async function takeSnapshot({ db }: CatalogDb, at = Date.now()): Promise<void> {
  await sql`INSERT INTO snapshots (at, location_id, storage_class, state, files, logical_bytes, stored_bytes)
    SELECT ${at}, location_id, storage_class, state, files, logical_bytes, stored_bytes FROM (${sql.raw(CAPACITY_NOW)}) n`.execute(
    db,
  );
}
