import { sql } from "kysely";
import type { CatalogDb } from "./db.js";
import type { PackPlace } from "./replicas.js";
import type { ReplicaState } from "./schema.js";

/**
 * Deduplication's questions to the catalog. Content is shared by key: a file whose content a
 * location already holds gets a replica row of its own whose `key` is the holder's, so the
 * reference count of an object is the number of replica rows at that location and key.
 */

/** Replica states whose object may hold the content and be shared: the object is there to read or thaw. */
const SHAREABLE: readonly ReplicaState[] = ["present", "archived"];

/** A replica at a location whose object (or pack member) may already hold a given content. */
export interface ShareCandidate {
  key: string;
  storageClass: string | null;
  /** How the object holds the content, and the bytes it takes: a sharer records the same. */
  codec: string | null;
  storedSize: number | null;
  state: ReplicaState;
  /** A pack member: where its frame lies, and the pack object's size and SHA-256 as recorded. */
  member?: PackPlace & { packSize: number; packHash: string | null };
}

/**
 * Replicas of other files at a location with this SHA-256 and size, present or archived, one
 * per object or pack member, oldest first: the bytes a new copy of that content could point at
 * instead of storing them again.
 */
export async function shareCandidates(
  { db }: CatalogDb,
  locationId: number,
  content: { hash: string; size: number },
  fileId: number,
): Promise<ShareCandidate[]> {
  const rows = await db
    .selectFrom("replicas as r")
    .leftJoin("packs as p", "p.id", "r.pack_id")
    .select(["r.key", "r.storage_class", "r.codec", "r.stored_size", "r.state"])
    .select(["r.pack_id", "r.pack_offset", "r.pack_length", "p.size as pack_size", "p.hash as pack_hash"])
    .select(sql<number>`min(r.id)`.as("first_id"))
    .where("r.location_id", "=", locationId)
    .where("r.hash", "=", content.hash)
    .where("r.size", "=", content.size)
    .where("r.state", "in", SHAREABLE)
    .where("r.file_id", "!=", fileId)
    .groupBy(["r.key", "r.storage_class", "r.codec", "r.stored_size", "r.state"])
    .groupBy(["r.pack_id", "r.pack_offset", "r.pack_length", "p.size", "p.hash"])
    .orderBy("first_id")
    .limit(4)
    .execute();
  return rows.map((r) => ({
    key: r.key,
    storageClass: r.storage_class,
    codec: r.codec,
    storedSize: r.stored_size === null ? null : Number(r.stored_size),
    state: r.state,
    ...(r.pack_id !== null && r.pack_offset !== null && r.pack_length !== null && r.pack_size !== null
      ? {
          member: {
            packId: Number(r.pack_id),
            offset: Number(r.pack_offset),
            length: Number(r.pack_length),
            codec: r.codec ?? "none",
            packSize: Number(r.pack_size),
            packHash: r.pack_hash,
          },
        }
      : {}),
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
 * The copies of a location's files under `path` ("" for all), per location holding them, whose
 * bytes an older copy there (lower id, not lost) already holds: the same key, and for a pack
 * member the same member (other members of its pack hold other files). Their logical bytes are
 * what deduplication kept from being stored again; their stored bytes (coalesce(stored_size,
 * size)) are what the summaries counted for them. Read through the (location, key) index.
 */
export async function deduplicatedUnder(
  { db }: CatalogDb,
  locationId: number,
  path: string,
  replicaLocationIds: ReadonlySet<number>,
): Promise<{ locationId: number; bytes: number; storedBytes: number }[]> {
  let query = db
    .selectFrom("replicas as r")
    .innerJoin("files as f", "f.id", "r.file_id")
    .select([
      "r.location_id",
      sql<number>`SUM(r.size)`.as("bytes"),
      sql<number>`SUM(COALESCE(r.stored_size, r.size))`.as("stored_bytes"),
    ])
    .where("f.location_id", "=", locationId)
    .where("r.location_id", "in", [...replicaLocationIds])
    .where("r.state", "!=", "lost")
    .where((eb) => {
      // Whole objects and members apart, so each lookup seeks (location, key, offset) rather than
      // scanning every member of a pack (quadratic in its members).
      const older = eb
        .selectFrom("replicas as o")
        .select("o.id")
        .whereRef("o.location_id", "=", "r.location_id")
        .whereRef("o.key", "=", "r.key")
        .whereRef("o.id", "<", "r.id")
        .where("o.state", "!=", "lost");
      return eb.or([
        eb.and([eb("r.pack_offset", "is", null), eb.exists(older.where("o.pack_offset", "is", null))]),
        eb.and([eb("r.pack_offset", "is not", null), eb.exists(older.whereRef("o.pack_offset", "=", "r.pack_offset"))]),
      ]);
    });
  if (path !== "") {
    // The path itself, and "path/" up to "path0" ('0' follows '/'): the subtree in byte order.
    query = query.where((eb) =>
      eb.or([eb("f.path", "=", path), eb.and([eb("f.path", ">=", `${path}/`), eb("f.path", "<", `${path}0`)])]),
    );
  }
  const rows = await query.groupBy("r.location_id").execute();
  return rows.map((r) => ({
    locationId: Number(r.location_id),
    bytes: Number(r.bytes),
    storedBytes: Number(r.stored_bytes),
  }));
}
