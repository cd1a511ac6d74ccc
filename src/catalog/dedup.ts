import { sql } from "kysely";
import type { CatalogDb } from "./db.js";
import type { ReplicaState } from "./schema.js";

/**
 * Deduplication's questions to the catalog. Content is shared by key: a file whose content a
 * location already holds gets a replica row of its own whose `key` is the holder's, so the
 * reference count of an object is the number of replica rows at that location and key.
 */

/** Replica states whose object may hold the content and be shared: the object is there to read or thaw. */
const SHAREABLE: readonly ReplicaState[] = ["present", "archived"];

/** A replica at a location whose object may already hold a given content. */
export interface ShareCandidate {
  key: string;
  storageClass: string | null;
  codec: string | null;
  state: ReplicaState;
}

/**
 * Replicas of other files at a location with this SHA-256 and size, present or archived, one per
 * key, oldest first: the objects a new copy of that content could point at instead.
 */
export async function shareCandidates(
  { db }: CatalogDb,
  locationId: number,
  content: { hash: string; size: number },
  fileId: number,
): Promise<ShareCandidate[]> {
  const rows = await db
    .selectFrom("replicas")
    .select(["key", "storage_class", "codec", "state", sql<number>`min(id)`.as("first_id")])
    .where("location_id", "=", locationId)
    .where("hash", "=", content.hash)
    .where("size", "=", content.size)
    .where("state", "in", SHAREABLE)
    .where("file_id", "!=", fileId)
    .groupBy(["key", "storage_class", "codec", "state"])
    .orderBy("first_id")
    .limit(4)
    .execute();
  return rows.map((r) => ({ key: r.key, storageClass: r.storage_class, codec: r.codec, state: r.state }));
}

/**
 * Which of `keys` at a location a replica other than `excluding` still references (any state
 * but lost): objects that must not be deleted or overwritten, because another file's copy is them.
 */
export async function keysStillReferenced(
  { db }: CatalogDb,
  locationId: number,
  keys: readonly string[],
  excluding: readonly number[],
): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  let query = db
    .selectFrom("replicas")
    .select("key")
    .distinct()
    .where("location_id", "=", locationId)
    .where("key", "in", [...new Set(keys)])
    .where("state", "!=", "lost");
  if (excluding.length > 0) query = query.where("id", "not in", excluding);
  const rows = await query.execute();
  return new Set(rows.map((r) => r.key));
}

/** Whether a replica of a file other than `fileId` references this key at a location (any state but lost). */
export async function keyHeldByOthers(
  catalog: CatalogDb,
  locationId: number,
  key: string,
  fileId: number,
): Promise<boolean> {
  const row = await catalog.db
    .selectFrom("replicas")
    .select("id")
    .where("location_id", "=", locationId)
    .where("key", "=", key)
    .where("file_id", "!=", fileId)
    .where("state", "!=", "lost")
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Per location: replicas that share an object another replica there holds, and their bytes. */
export interface Deduplicated {
  locationId: number;
  replicas: number;
  bytes: number;
}

/**
 * The replicas (not lost) at each location whose key an older replica there already holds: the
 * copies deduplication kept from being stored again. Read through the (location, key) index.
 */
export async function deduplicatedByLocation(
  { db }: CatalogDb,
  locationIds?: readonly number[],
): Promise<Deduplicated[]> {
  let query = db
    .selectFrom("replicas as r")
    .select(["r.location_id", sql<number>`count(*)`.as("replicas"), sql<number>`coalesce(sum(r.size), 0)`.as("bytes")])
    .where("r.state", "!=", "lost")
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom("replicas as older")
          .select("older.id")
          .whereRef("older.location_id", "=", "r.location_id")
          .whereRef("older.key", "=", "r.key")
          .whereRef("older.id", "<", "r.id")
          .where("older.state", "!=", "lost"),
      ),
    )
    .groupBy("r.location_id");
  if (locationIds !== undefined) {
    if (locationIds.length === 0) return [];
    query = query.where("r.location_id", "in", locationIds);
  }
  const rows = await query.execute();
  return rows.map((r) => ({ locationId: Number(r.location_id), replicas: Number(r.replicas), bytes: Number(r.bytes) }));
}
