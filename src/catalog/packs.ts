import { sql } from "kysely";
import type { CatalogDb } from "./db.js";
import { setFileHashes } from "./files.js";
import { type ReplicaRecord, recordReplicasInBulk } from "./replicas.js";
import type { ActionKind } from "./schema.js";

/** A pack object as written and checked: its place, size, hash, codec and member count. */
export interface PackRecord {
  locationId: number;
  key: string;
  size: number;
  hash: string;
  codec: string;
  members: number;
}

/** A member's replica before its pack has an id. */
export type MemberReplica = Omit<ReplicaRecord, "member"> & { offset: number; length: number };

/**
 * Records a pack and the replicas of its members in one transaction, so no member is ever on
 * record in a pack that is not (called only once the pack and its index are written and checked).
 * A pack already on record (a rebuild, or a re-run that found it) keeps its row. `fileHashes`:
 * the hashes of the files just read to pack them (a rebuild learns none from the store).
 */
export async function recordPack(
  { db, dialect }: CatalogDb,
  pack: PackRecord,
  members: readonly MemberReplica[],
  fileHashes: readonly { fileId: number; hash: string }[] = [],
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    await trx
      .insertInto("packs")
      .values(packRow(pack))
      .onConflict((oc) => oc.columns(["location_id", "key"]).doNothing())
      .execute();
    const { id } = await trx
      .selectFrom("packs")
      .select("id")
      .where("location_id", "=", pack.locationId)
      .where("key", "=", pack.key)
      .executeTakeFirstOrThrow();
    const records = members.map(({ offset, length, ...replica }) => ({
      ...replica,
      member: { packId: id, offset, length, codec: pack.codec },
    }));
    await recordReplicasInBulk(trx, dialect, records);
    // With the replicas, not after: a file whose copy is on record without its hash is planned
    // for a compare by content, which must not find a member half recorded.
    await setFileHashes({ db: trx }, fileHashes);
    return id;
  });
}

/** A pack's row as inserted: created now, which is the age its class's minimum duration counts from. */
function packRow(pack: PackRecord) {
  return {
    location_id: pack.locationId,
    key: pack.key,
    size: pack.size,
    members: pack.members,
    hash: pack.hash,
    codec: pack.codec,
    created_at: Date.now(),
  };
}

/** The pack on record at a key of a location, if any. */
export async function packAt({ db }: CatalogDb, locationId: number, key: string) {
  return db
    .selectFrom("packs")
    .selectAll()
    .where("location_id", "=", locationId)
    .where("key", "=", key)
    .executeTakeFirst();
}

/** Pack keys that dead runs were writing at a location, with their journaled actions and files (not yet looked at). */
export async function interruptedPacks({ db }: CatalogDb, targetLocationId: number) {
  const kind: ActionKind = "pack";
  const rows = await db
    .selectFrom("actions")
    .select(["id", "key", "file_id"])
    .where("state", "=", "interrupted")
    .where("kind", "=", kind)
    .where("target_location_id", "=", targetLocationId)
    .orderBy("id")
    .execute();
  const byKey = new Map<string, { key: string; actionIds: number[]; fileIds: number[] }>();
  for (const row of rows) {
    const pack = byKey.get(row.key) ?? { key: row.key, actionIds: [], fileIds: [] };
    pack.actionIds.push(row.id);
    if (row.file_id !== null) pack.fileIds.push(row.file_id);
    byKey.set(row.key, pack);
  }
  return [...byKey.values()];
}

/**
 * A compare by content found a file's version in its pack member: the member now stands for that
 * version (its size and mtime), where it is. Only a member holding that very content is touched.
 */
export async function confirmMemberVersion(
  { db }: CatalogDb,
  fileId: number,
  locationId: number,
  version: { sourceSize: number; sourceMtimeUs: number; hash: string },
): Promise<void> {
  await db
    .updateTable("replicas")
    .set({ source_size: version.sourceSize, source_mtime_us: version.sourceMtimeUs, verified_at: Date.now() })
    .where("file_id", "=", fileId)
    .where("location_id", "=", locationId)
    .where("hash", "=", version.hash)
    .where("pack_id", "is not", null)
    .execute();
}

/** A pack at a location and how much of it replica rows still reference: what `pack gc` weighs. */
export interface PackUsage {
  id: number;
  key: string;
  size: number;
  hash: string;
  codec: string;
  createdAt: number;
  /** Distinct member frames some replica row (any file, any state) points at, and their bytes. */
  liveFrames: number;
  liveBytes: number;
  /** The class the members record (null: the location's default class). */
  storageClass: string | null;
  /** Members recorded archived: the pack cannot be read without a thaw. */
  archived: number;
}

const PACK_PAGE = 500;

/**
 * Every pack at a location with its live frames and bytes, a page at a time by id: those on
 * record when the walk began (a pack written during it is not weighed in the same walk).
 */
export async function* packUsage({ db }: CatalogDb, locationId: number): AsyncGenerator<PackUsage> {
  const last = await db
    .selectFrom("packs")
    .select(sql<number | null>`max(id)`.as("id"))
    .where("location_id", "=", locationId)
    .executeTakeFirst();
  const lastId = Number(last?.id ?? 0);
  let afterId = 0;
  for (;;) {
    const packs = await db
      .selectFrom("packs")
      .select(["id", "key", "size", "hash", "codec", "created_at"])
      .where("location_id", "=", locationId)
      .where("id", ">", afterId)
      .where("id", "<=", lastId)
      .orderBy("id")
      .limit(PACK_PAGE)
      .execute();
    if (packs.length === 0) return;
    const ids = packs.map((p) => p.id);
    // Sharers of one frame (dedup) count it once: frames are distinct by offset and length.
    const frames = await db
      .selectFrom((eb) =>
        eb
          .selectFrom("replicas")
          .select(["pack_id", "pack_offset", "pack_length"])
          .distinct()
          .where("pack_id", "in", ids)
          .as("f"),
      )
      .select(["f.pack_id", sql<number>`count(*)`.as("frames"), sql<number>`sum(f.pack_length)`.as("bytes")])
      .groupBy("f.pack_id")
      .execute();
    const states = await db
      .selectFrom("replicas")
      .select([
        "pack_id",
        sql<string | null>`max(storage_class)`.as("storage_class"),
        sql<number>`sum(case when state = 'archived' then 1 else 0 end)`.as("archived"),
      ])
      .where("pack_id", "in", ids)
      .groupBy("pack_id")
      .execute();
    const framesOf = new Map(frames.map((f) => [Number(f.pack_id), f]));
    const statesOf = new Map(states.map((s) => [Number(s.pack_id), s]));
    for (const pack of packs) {
      const f = framesOf.get(pack.id);
      const s = statesOf.get(pack.id);
      yield {
        id: pack.id,
        key: pack.key,
        size: Number(pack.size),
        hash: pack.hash,
        codec: pack.codec ?? "none",
        createdAt: Number(pack.created_at),
        liveFrames: Number(f?.frames ?? 0),
        liveBytes: Number(f?.bytes ?? 0),
        storageClass: s?.storage_class ?? null,
        archived: Number(s?.archived ?? 0),
      };
    }
    afterId = packs.at(-1)?.id as number;
  }
}

/** One replica row's place in a pack: whose copy it is, which frame, and the content's hash. */
export interface MemberRow {
  fileId: number;
  offset: number;
  length: number;
  hash: string;
}

/** The replica rows in one pack, in frame order (one pack's rows: bounded by its member count). */
export async function membersOfPack({ db }: CatalogDb, packId: number): Promise<MemberRow[]> {
  const rows = await db
    .selectFrom("replicas")
    .select(["file_id", "pack_offset", "pack_length", "hash"])
    .where("pack_id", "=", packId)
    .orderBy("pack_offset")
    .orderBy("id")
    .execute();
  return rows.map((r) => ({
    fileId: r.file_id,
    offset: Number(r.pack_offset),
    length: Number(r.pack_length),
    hash: r.hash,
  }));
}

/** A frame's place in the old pack and in the new one. */
export interface FrameMove {
  from: { offset: number; length: number };
  to: { offset: number; length: number };
}

/**
 * A repacked pack's move, in one transaction: the new pack's row, then every replica row still
 * pointing at a moved frame of the old pack (sharers included) pointed at its frame in the new
 * one. A row that changed meanwhile (no longer at that frame) is left alone, so no row ever
 * names a pack that does not hold its content. Returns the rows moved.
 */
export async function movePackMembers(
  { db }: CatalogDb,
  oldPackId: number,
  pack: PackRecord,
  moves: readonly FrameMove[],
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const { id } = await trx.insertInto("packs").values(packRow(pack)).returning("id").executeTakeFirstOrThrow();
    let moved = 0;
    for (const { from, to } of moves) {
      const result = await trx
        .updateTable("replicas")
        .set({ key: pack.key, pack_id: id, pack_offset: to.offset, pack_length: to.length, stored_size: to.length })
        .where("pack_id", "=", oldPackId)
        .where("pack_offset", "=", from.offset)
        .where("pack_length", "=", from.length)
        .executeTakeFirst();
      moved += Number(result.numUpdatedRows);
    }
    return moved;
  });
}

/** A pack on record: its row's id, and its key at its location. */
export interface PackPlace {
  id: number;
  locationId: number;
  key: string;
}

/**
 * Whether any replica row still names this pack: by its id (a member at any location) or by its
 * key at its location (a deduplicated sharer, or a whole-object row at that key). Both through
 * an index: by pack_id, and by (location_id, key).
 */
export async function packReferenced({ db }: CatalogDb, pack: PackPlace): Promise<boolean> {
  const row = await db
    .selectFrom("replicas")
    .select("id")
    .where((eb) =>
      eb.or([eb("pack_id", "=", pack.id), eb.and([eb("location_id", "=", pack.locationId), eb("key", "=", pack.key)])]),
    )
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Drops a pack's row once no replica row names it (its objects deleted first); false if one does. */
export async function forgetPack(catalog: CatalogDb, pack: PackPlace): Promise<boolean> {
  return catalog.db.transaction().execute(async (trx) => {
    if (await packReferenced({ ...catalog, db: trx }, pack)) return false;
    await trx.deleteFrom("packs").where("id", "=", pack.id).execute();
    return true;
  });
}

/** The locations whose packs the catalog records. */
export async function packLocationIds({ db }: CatalogDb): Promise<number[]> {
  const rows = await db.selectFrom("packs").select("location_id").distinct().execute();
  return rows.map((r) => r.location_id);
}

/** A location's pack rows: id, key and size. */
export async function packRowsAt({ db }: CatalogDb, locationId: number) {
  return db.selectFrom("packs").select(["id", "key", "size"]).where("location_id", "=", locationId).execute();
}
