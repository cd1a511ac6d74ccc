import { sql } from "kysely";
import type { CatalogDb } from "../catalog/db.js";
import { AGE_CLASSES, ageClass } from "../query/du.js";

/** The age bands of the tier map, youngest first (du's: whole 30-day periods since last access). */
export const AGE_BANDS: readonly string[] = AGE_CLASSES.map((c) => c.label);

/** What one tier (a location and a storage class) holds, by time since the files were last read. */
export interface TierProfile {
  location: string;
  /** The storage class; "" where the store has none (a POSIX tree, a store without classes). */
  class: string;
  /** Files at their own location, or copies held at another one. */
  holds: "files" | "copies";
  objects: number;
  bytes: number;
  /** Objects and bytes per age band (AGE_BANDS), bands with nothing left out. */
  bands: Record<string, { objects: number; bytes: number }>;
}

const num = (value: unknown): number => Number(value ?? 0);

/**
 * Each tier's files and copies by the age of their last access, read from the usage summaries
 * the catalog's triggers keep (usage_buckets, usage_bucket_copies): grouped in SQL by location,
 * class and access period, so the rows read grow with the months of history, not with the files.
 * A location's own files count where they are present (a released file's data is elsewhere);
 * copies count at the location and class holding them, at their stored size.
 */
export async function tierProfiles(catalog: CatalogDb, nowMs: number): Promise<TierProfile[]> {
  const nowUs = nowMs * 1000;
  const names = new Map<number, { name: string; defaultClass: string }>();
  for (const row of await catalog.db.selectFrom("locations").select(["id", "name", "default_class"]).execute()) {
    names.set(row.id, { name: row.name, defaultClass: row.default_class ?? "" });
  }
  const tiers = new Map<string, TierProfile>();
  const add = (
    locationId: number,
    cls: string,
    holds: TierProfile["holds"],
    period: number,
    objects: number,
    bytes: number,
  ) => {
    const location = names.get(locationId);
    if (location === undefined || objects === 0) return;
    const key = `${location.name}\u0000${cls}\u0000${holds}`;
    const tier = tiers.get(key) ?? { location: location.name, class: cls, holds, objects: 0, bytes: 0, bands: {} };
    const band = ageClass(period, nowUs);
    const sums = tier.bands[band] ?? { objects: 0, bytes: 0 };
    sums.objects += objects;
    sums.bytes += bytes;
    tier.bands[band] = sums;
    tier.objects += objects;
    tier.bytes += bytes;
    tiers.set(key, tier);
  };
  const files = await catalog.db
    .selectFrom("usage_buckets")
    .select(["location_id", "age_period", sql<number>`SUM(files)`.as("files"), sql<number>`SUM(bytes)`.as("bytes")])
    .where("state", "=", "present")
    .groupBy(["location_id", "age_period"])
    .execute();
  for (const row of files) {
    add(
      row.location_id,
      names.get(row.location_id)?.defaultClass ?? "",
      "files",
      num(row.age_period),
      num(row.files),
      num(row.bytes),
    );
  }
  const copies = await catalog.db
    .selectFrom("usage_bucket_copies")
    .select([
      "replica_location_id",
      "storage_class",
      "age_period",
      sql<number>`SUM(copies)`.as("copies"),
      sql<number>`SUM(stored_bytes)`.as("stored_bytes"),
    ])
    .groupBy(["replica_location_id", "storage_class", "age_period"])
    .execute();
  for (const row of copies) {
    const cls = row.storage_class || (names.get(row.replica_location_id)?.defaultClass ?? "");
    add(row.replica_location_id, cls, "copies", num(row.age_period), num(row.copies), num(row.stored_bytes));
  }
  return [...tiers.values()].sort(
    (a, b) => a.location.localeCompare(b.location) || a.class.localeCompare(b.class) || a.holds.localeCompare(b.holds),
  );
}
