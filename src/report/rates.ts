import { sql } from "kysely";
import type { CatalogDb } from "../catalog/db.js";
import type { PairRate } from "./model.js";

/**
 * What Strata's own finished runs achieved between each pair of locations: the bytes and files
 * their copies and restores moved, over the runs' wall time. A run that moved between several
 * pairs lends each pair its share of the wall time in proportion to the bytes moved, so a pair
 * is never credited with time another pair used. Failed copies move no bytes and count no file.
 */
export async function transferRates(catalog: CatalogDb): Promise<PairRate[]> {
  const rows = await catalog.db
    .selectFrom("events")
    .innerJoin("runs", "runs.id", "events.run_id")
    .innerJoin("locations as source", "source.id", "events.location_id")
    .innerJoin("locations as target", "target.id", "events.target_location_id")
    .select([
      "events.run_id as run",
      "source.name as from",
      "target.name as to",
      "runs.started_at",
      "runs.finished_at",
      sql<number>`count(*)`.as("files"),
      sql<number>`sum(events.bytes)`.as("bytes"),
    ])
    .where("events.kind", "in", ["copy", "restore"])
    .where("events.outcome", "=", "done")
    .where("runs.finished_at", "is not", null)
    .groupBy(["events.run_id", "source.name", "target.name", "runs.started_at", "runs.finished_at"])
    .execute();
  const runBytes = new Map<number, number>();
  for (const row of rows) runBytes.set(row.run as number, (runBytes.get(row.run as number) ?? 0) + Number(row.bytes));
  const pairs = new Map<string, PairRate>();
  for (const row of rows) {
    const key = `${row.from}\u0000${row.to}`;
    const pair = pairs.get(key) ?? emptyPair(row.from, row.to);
    const bytes = Number(row.bytes);
    const total = runBytes.get(row.run as number) ?? 0;
    const wallSeconds = ((row.finished_at as number) - row.started_at) / 1000;
    pair.runs += 1;
    pair.files += Number(row.files);
    pair.bytes += bytes;
    pair.seconds += total > 0 ? (wallSeconds * bytes) / total : 0;
    pairs.set(key, pair);
  }
  return [...pairs.values()].map((pair) => ({
    ...pair,
    bytesPerSecond: pair.seconds > 0 ? pair.bytes / pair.seconds : 0,
    filesPerSecond: pair.seconds > 0 ? pair.files / pair.seconds : 0,
  }));
}

function emptyPair(from: string, to: string): PairRate {
  return { from, to, runs: 0, files: 0, bytes: 0, seconds: 0, bytesPerSecond: 0, filesPerSecond: 0 };
}
