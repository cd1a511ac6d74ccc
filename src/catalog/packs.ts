import type { CatalogDb } from "./db.js";
import { setFileHashes } from "./files.js";
import { type ReplicaRecord, recordReplicas } from "./replicas.js";
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
  { db }: CatalogDb,
  pack: PackRecord,
  members: readonly MemberReplica[],
  fileHashes: readonly { fileId: number; hash: string }[] = [],
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    await trx
      .insertInto("packs")
      .values({
        location_id: pack.locationId,
        key: pack.key,
        size: pack.size,
        members: pack.members,
        hash: pack.hash,
        codec: pack.codec,
        created_at: Date.now(),
      })
      .onConflict((oc) => oc.columns(["location_id", "key"]).doNothing())
      .execute();
    const { id } = await trx
      .selectFrom("packs")
      .select("id")
      .where("location_id", "=", pack.locationId)
      .where("key", "=", pack.key)
      .executeTakeFirstOrThrow();
    for (let i = 0; i < members.length; i += 256) {
      const records = members.slice(i, i + 256).map(({ offset, length, ...replica }) => ({
        ...replica,
        member: { packId: id, offset, length, codec: pack.codec },
      }));
      await recordReplicas({ db: trx }, records);
    }
    // With the replicas, not after: a file whose copy is on record without its hash is planned
    // for a compare by content, which must not find a member half recorded.
    await setFileHashes({ db: trx }, fileHashes);
    return id;
  });
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
