import type { CatalogDb } from "../catalog/db.js";

/** One capacity snapshot row: taken after each scan and run, per location, class and state. */
export interface CapacityPoint {
  /** ISO time of the snapshot. */
  at: string;
  location: string;
  /** Storage class; "" for a POSIX tree's own files. */
  class: string;
  /** File state on a tree (present, released, …), replica state on a store (present, archived, …). */
  state: string;
  files: number;
  logicalBytes: number;
  storedBytes: number;
}

/** The capacity snapshots taken since `since` (ms since the epoch), oldest first. */
export async function capacitySeries(catalog: CatalogDb, options: { since: number }): Promise<CapacityPoint[]> {
  const rows = await catalog.db
    .selectFrom("snapshots as s")
    .innerJoin("locations as l", "l.id", "s.location_id")
    .select(["s.at", "l.name", "s.storage_class", "s.state", "s.files", "s.logical_bytes", "s.stored_bytes"])
    .where("s.at", ">=", options.since)
    .orderBy("s.at")
    .orderBy("l.name")
    .orderBy("s.storage_class")
    .orderBy("s.state")
    .execute();
  return rows.map((r) => ({
    at: new Date(Number(r.at)).toISOString(),
    location: r.name,
    class: r.storage_class,
    state: r.state,
    files: Number(r.files),
    logicalBytes: Number(r.logical_bytes),
    storedBytes: Number(r.stored_bytes),
  }));
}
