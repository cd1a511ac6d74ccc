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
  /** How the object holds the content, and the bytes it takes: a sharer records the same. */
  codec: string | null;
  storedSize: number | null;
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
    .select(["key", "storage_class", "codec", "stored_size", "state", sql<number>`min(id)`.as("first_id")])
    .where("location_id", "=", locationId)
    .where("hash", "=", content.hash)
    .where("size", "=", content.size)
    .where("state", "in", SHAREABLE)
    .where("file_id", "!=", fileId)
    // A pack member's key is its pack's: the pack is not the content.
    .where("pack_id", "is", null)
    .groupBy(["key", "storage_class", "codec", "stored_size", "state"])
    .orderBy("first_id")
    .limit(4)
    .execute();
  return rows.map((r) => ({
    key: r.key,
    storageClass: r.storage_class,
    codec: r.codec,
    storedSize: r.stored_size === null ? null : Number(r.stored_size),
    state: r.state,
  }));
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

/**
 * Bytes of the copies of a location's files under `path` ("" for all), per location holding
 * them, whose key an older copy there (lower id, not lost) already holds: what deduplication kept
 * from being stored again. Read from replicas through the (location, key) index.
 */
export async function deduplicatedUnder(
  { db }: CatalogDb,
  locationId: number,
  path: string,
  replicaLocationIds: ReadonlySet<number>,
): Promise<{ locationId: number; bytes: number }[]> {
  let query = db
    .selectFrom("replicas as r")
    .innerJoin("files as f", "f.id", "r.file_id")
    .select(["r.location_id", sql<number>`SUM(r.size)`.as("bytes")])
    .where("f.location_id", "=", locationId)
    .where("r.location_id", "in", [...replicaLocationIds])
    .where("r.state", "!=", "lost")
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom("replicas as o")
          .select("o.id")
          .whereRef("o.location_id", "=", "r.location_id")
          .whereRef("o.key", "=", "r.key")
          .whereRef("o.id", "<", "r.id")
          .where("o.state", "!=", "lost"),
      ),
    );
  if (path !== "") {
    // The path itself, and "path/" up to "path0" ('0' follows '/'): the subtree in byte order.
    query = query.where((eb) =>
      eb.or([eb("f.path", "=", path), eb.and([eb("f.path", ">=", `${path}/`), eb("f.path", "<", `${path}0`)])]),
    );
  }
  const rows = await query.groupBy("r.location_id").execute();
  return rows.map((r) => ({ locationId: Number(r.location_id), bytes: Number(r.bytes) }));
}
