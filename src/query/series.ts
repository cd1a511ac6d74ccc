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

// Placeholder until the metrics branch lands: the agreed signature only.
export async function capacitySeries(_catalog: CatalogDb, _options: { since: number }): Promise<CapacityPoint[]> {
  throw new Error("capacitySeries: not built yet");
}
