import { sql } from "kysely";
import type { CatalogDb } from "./db.js";
import type { FileRow, ReplicaState } from "./schema.js";

/*
 * The catalog side of `strata catalog rebuild` and `strata catalog check`: tying objects found
 * at a store to the files they are copies of, and the questions check asks of the rows.
 */

/** An object whose Strata metadata names the file it is a copy of. */
export interface FoundCopy {
  key: string;
  size: number;
  hash: string;
  storageClass: string | null;
  etag: string | null;
  /** A compressed object's codec and the bytes it stores (its metadata says); absent: raw. */
  compressed?: { codec: string; storedSize: number };
  /** The file it was copied from, as the object's metadata describes that version. */
  source: { locationId: number; path: string; mtimeUs: number; mode?: number; uid?: number; gid?: number };
}

/**
 * What became of one found copy: recorded as the file's replica (`linked`), already recorded
 * (`known`), not recorded because the catalog records another key as the file's copy at this
 * location (`taken`), or not recorded because the catalog has no such file (`no-file`, only
 * when rows for unknown files are not to be made).
 */
export type LinkOutcome =
  | {
      kind: "linked";
      fileId: number;
      newFile: boolean;
      /** The file is present, of the very size and mtime the copy was made from, its hash not known. */
      toHash: boolean;
    }
  | { kind: "known"; fileId: number; toHash: boolean }
  | { kind: "taken"; otherKey: string }
  | { kind: "no-file" };

/** Rows per IN list and per multi-row insert. */
const BATCH = 500;

/**
 * Records `copies` (objects at `locationId`) as replicas of the files their metadata names, in one
 * transaction. Rows the catalog already has win: a file keeps its replica, and a replica is never
 * written twice. With `missingScanId`, a copy whose file the catalog does not know gets a file row
 * in state `missing` (its data lives in its copies: a restore brings it back, and nothing deletes
 * the copies of a missing file), recorded as seen by that scan. A file's hash is never taken from
 * an object's word for it: `toHash` says which files the caller should read to learn theirs.
 */
export async function linkCopies(
  catalog: CatalogDb,
  locationId: number,
  copies: readonly FoundCopy[],
  missingScanId?: number,
): Promise<LinkOutcome[]> {
  return catalog.db.transaction().execute(async (trx) => {
    const files = new Map<string, KnownFile>();
    const fileKey = (copy: FoundCopy) => `${copy.source.locationId}\0${copy.source.path}`;
    for (const [sourceId, group] of groupBy(copies, (c) => c.source.locationId)) {
      for (let start = 0; start < group.length; start += BATCH) {
        const paths = group.slice(start, start + BATCH).map((c) => c.source.path);
        const rows = await trx
          .selectFrom("files")
          .select(["id", "path", "state", "size", "mtime_us", "hash"])
          .where("location_id", "=", sourceId)
          .where("path", "in", paths)
          .execute();
        for (const row of rows) files.set(`${sourceId}\0${row.path}`, { ...row, newFile: false });
      }
    }
    if (missingScanId !== undefined) {
      const unknown = uniqueBy(
        copies.filter((c) => !files.has(fileKey(c))),
        fileKey,
      );
      for (let start = 0; start < unknown.length; start += BATCH) {
        const inserted = await trx
          .insertInto("files")
          .values(unknown.slice(start, start + BATCH).map((c) => missingFileRow(c, missingScanId)))
          .returning(["id", "location_id", "path", "state", "size", "mtime_us", "hash"])
          .execute();
        for (const row of inserted) files.set(`${row.location_id}\0${row.path}`, { ...row, newFile: true });
      }
    }
    const fileIds = [...new Set([...files.values()].map((f) => f.id))];
    const recorded = new Map<number, string>();
    for (let start = 0; start < fileIds.length; start += BATCH) {
      const rows = await trx
        .selectFrom("replicas")
        .select(["file_id", "key"])
        .where("location_id", "=", locationId)
        .where("file_id", "in", fileIds.slice(start, start + BATCH))
        .execute();
      for (const row of rows) recorded.set(row.file_id, row.key);
    }
    const outcomes: LinkOutcome[] = [];
    const toRecord: { copy: FoundCopy; fileId: number }[] = [];
    for (const copy of copies) {
      const file = files.get(fileKey(copy));
      if (!file) {
        outcomes.push({ kind: "no-file" });
        continue;
      }
      const toHash =
        file.state === "present" &&
        file.hash === null &&
        file.size === copy.size &&
        file.mtime_us === copy.source.mtimeUs;
      const otherKey = recorded.get(file.id);
      if (otherKey !== undefined) {
        outcomes.push(otherKey === copy.key ? { kind: "known", fileId: file.id, toHash } : { kind: "taken", otherKey });
        continue;
      }
      recorded.set(file.id, copy.key);
      toRecord.push({ copy, fileId: file.id });
      outcomes.push({ kind: "linked", fileId: file.id, newFile: file.newFile, toHash });
    }
    const now = Date.now();
    for (let start = 0; start < toRecord.length; start += BATCH) {
      await trx
        .insertInto("replicas")
        .values(
          toRecord.slice(start, start + BATCH).map(({ copy, fileId }) => ({
            file_id: fileId,
            location_id: locationId,
            key: copy.key,
            size: copy.size,
            hash: copy.hash,
            storage_class: copy.storageClass,
            // As a copy records it; an archive class is told by the class (release, restore).
            state: "present" as const,
            source_size: copy.size,
            source_mtime_us: copy.source.mtimeUs,
            etag: copy.etag,
            codec: copy.compressed?.codec ?? null,
            stored_size: copy.compressed?.storedSize ?? null,
            created_at: now,
            // Nothing read these bytes back against the source: `strata verify` will.
            verified_at: null,
          })),
        )
        .onConflict((oc) => oc.columns(["file_id", "location_id"]).doNothing())
        .execute();
    }
    return outcomes;
  });
}

interface KnownFile extends Pick<FileRow, "id" | "state" | "size" | "mtime_us" | "hash"> {
  newFile: boolean;
}

/**
 * A hash read from a present file, recorded only while the row is still that version with no hash
 * (a compare-and-set: a scan in between that saw it change wins).
 */
export async function recordReadHash(
  { db }: CatalogDb,
  file: { id: number; size: number; mtimeUs: number },
  hash: string,
): Promise<void> {
  await db
    .updateTable("files")
    .set({ hash })
    .where("id", "=", file.id)
    .where("state", "=", "present")
    .where("hash", "is", null)
    .where("size", "=", file.size)
    .where("mtime_us", "=", file.mtimeUs)
    .execute();
}

function missingFileRow(copy: FoundCopy, scanId: number) {
  const { source } = copy;
  return {
    location_id: source.locationId,
    path: source.path,
    kind: "file" as const,
    size: copy.size,
    mtime_us: source.mtimeUs,
    atime_us: source.mtimeUs,
    ctime_us: source.mtimeUs,
    mode: 0o100000 | (source.mode ?? 0o644),
    uid: source.uid ?? 0,
    gid: source.gid ?? 0,
    inode: 0,
    hash: copy.hash,
    state: "missing" as const,
    first_scan_id: scanId,
    seen_scan_id: scanId,
    changed_scan_id: scanId,
  };
}

function groupBy<T, K>(items: readonly T[], keyOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

function uniqueBy<T>(items: readonly T[], keyOf: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const key = keyOf(item);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Closes the scan row of one store listing made by a rebuild: what it listed, what it could not place. */
export async function closeListing(
  { db }: CatalogDb,
  scanId: number,
  counts: { objects: number; bytes: number; newFiles: number; unlinked: number },
): Promise<void> {
  await db
    .updateTable("scans")
    .set({
      finished_at: Date.now(),
      status: "done",
      files: counts.objects,
      bytes: counts.bytes,
      new_files: counts.newFiles,
      errors: counts.unlinked,
    })
    .where("id", "=", scanId)
    .execute();
}

/** States in which the catalog vouches that the object is there. */
export const VOUCHED_STATES: readonly ReplicaState[] = ["present", "archived", "restoring"];

export interface ReplicaEntry {
  id: number;
  key: string;
  size: number;
  /** Bytes the store holds when not `size` (a compressed copy). */
  stored_size: number | null;
  state: ReplicaState;
  /** Whose copy it is: the file's location and path. */
  file_location: string;
  path: string;
  /** A pack member: its pack row and where its frame lies in the pack. */
  pack_id: number | null;
  pack_offset: number | null;
  pack_length: number | null;
}

/** Replica rows at a location with the file each is a copy of. */
function replicaEntries({ db }: CatalogDb, locationId: number) {
  return db
    .selectFrom("replicas as r")
    .innerJoin("files as f", "f.id", "r.file_id")
    .innerJoin("locations as l", "l.id", "f.location_id")
    .select(["r.id", "r.key", "r.size", "r.stored_size", "r.state", "l.name as file_location", "f.path"])
    .select(["r.pack_id", "r.pack_offset", "r.pack_length"])
    .where("r.location_id", "=", locationId);
}

const PAGE = 1000;

/**
 * Every replica row at a location in key order, as the store lists keys (both databases sort
 * keys by their bytes), for a merge with the store's listing.
 */
export async function* replicasInKeyOrder(catalog: CatalogDb, locationId: number): AsyncGenerator<ReplicaEntry> {
  let after: { key: string; id: number } | undefined;
  for (;;) {
    let query = replicaEntries(catalog, locationId);
    if (after) {
      const { key, id } = after;
      query = query.where((eb) => eb.or([eb("r.key", ">", key), eb.and([eb("r.key", "=", key), eb("r.id", ">", id)])]));
    }
    const rows = await query.orderBy("r.key").orderBy("r.id").limit(PAGE).execute();
    yield* rows;
    const last = rows.at(-1);
    if (!last || rows.length < PAGE) return;
    after = { key: last.key, id: last.id };
  }
}

/** Replica rows at a location that vouch for an object, page by page (for stores checked key by key). */
export function vouchedReplicas(catalog: CatalogDb, locationId: number): AsyncGenerator<ReplicaEntry> {
  return pagesById(
    (afterId) =>
      replicaEntries(catalog, locationId)
        .where("r.state", "in", VOUCHED_STATES)
        .where("r.id", ">", afterId)
        .orderBy("r.id")
        .limit(PAGE)
        .execute(),
    (row) => row.id,
  );
}

/** Rows a page at a time, each page after the last one's id: never the whole table at once. */
async function* pagesById<T>(page: (afterId: number) => Promise<T[]>, idOf: (row: T) => number): AsyncGenerator<T> {
  let afterId = 0;
  for (;;) {
    const rows = await page(afterId);
    yield* rows;
    const last = rows.at(-1);
    if (!last || rows.length < PAGE) return;
    afterId = idOf(last);
  }
}

/** Marks a replica lost, only while it is still in the state it was seen in; returns whether it applied. */
export async function markLostIfStill({ db }: CatalogDb, replicaId: number, seen: ReplicaState): Promise<boolean> {
  const result = await db
    .updateTable("replicas")
    .set({ state: "lost", verified_at: null })
    .where("id", "=", replicaId)
    .where("state", "=", seen)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** A replica whose object was read back and holds `hash`: the row is corrected and marked verified. */
export async function correctReplicaHash(
  { db }: CatalogDb,
  replicaId: number,
  wrongHash: string,
  hash: string,
): Promise<boolean> {
  const result = await db
    .updateTable("replicas")
    .set({ hash, verified_at: Date.now() })
    .where("id", "=", replicaId)
    .where("hash", "=", wrongHash)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export interface HashDisagreement {
  replica_id: number;
  key: string;
  replica_hash: string;
  replica_state: ReplicaState;
  path: string;
  file_hash: string;
  file_state: string;
  file_location: string;
}

/**
 * Replicas at a location made from the very version of the file the catalog holds (same size and
 * mtime) whose recorded hash is not the file's: one of the two rows is wrong. A replica of an
 * older version is merely out of date, which the next sync mends, and is not listed.
 */
export function hashDisagreements({ db }: CatalogDb, locationId: number): AsyncGenerator<HashDisagreement> {
  return pagesById(
    (afterId) =>
      db
        .selectFrom("replicas as r")
        .innerJoin("files as f", "f.id", "r.file_id")
        .innerJoin("locations as l", "l.id", "f.location_id")
        .select([
          "r.id as replica_id",
          "r.key",
          "r.hash as replica_hash",
          "r.state as replica_state",
          "f.path",
          sql<string>`f.hash`.as("file_hash"),
          "f.state as file_state",
          "l.name as file_location",
        ])
        .where("r.location_id", "=", locationId)
        .where("r.state", "in", VOUCHED_STATES)
        .where("f.hash", "is not", null)
        .whereRef("r.hash", "<>", "f.hash")
        .whereRef("r.source_size", "=", "f.size")
        .whereRef("r.source_mtime_us", "=", "f.mtime_us")
        .where("r.id", ">", afterId)
        .orderBy("r.id")
        .limit(PAGE)
        .execute(),
    (row) => row.replica_id,
  );
}

export interface JournaledUploadRow {
  id: number;
  key: string;
  upload_id: string;
  created_at: number;
}

/** The uploads journaled at a location (few: large files in flight when a run stopped). */
export async function journaledUploads({ db }: CatalogDb, locationId: number): Promise<JournaledUploadRow[]> {
  return db
    .selectFrom("uploads")
    .select(["id", "key", "upload_id", "created_at"])
    .where("location_id", "=", locationId)
    .orderBy("key")
    .execute();
}
