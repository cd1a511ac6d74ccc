import { CompiledQuery, type Kysely, sql } from "kysely";
import type { StubRecord } from "../codec/stub.js";
import { bulkInsertedReplicaStates } from "./capacity-summaries.js";
import type { CatalogDb } from "./db.js";
import type { CatalogSchema, Dialect, ReplicaRow, ReplicaState } from "./schema.js";
import { BULK_REPLICAS_MARKER, bulkInsertedReplicasSummaries, largestId } from "./summaries.js";

export interface ReplicaRecord {
  fileId: number;
  locationId: number;
  key: string;
  size: number;
  hash: string;
  storageClass: string | null;
  state: ReplicaState;
  sourceSize: number;
  sourceMtimeUs: number;
  etag: string | null;
  verifiedAt: number | null;
  /** How the store holds the content; absent or null: raw. */
  codec?: string | null;
  /** Bytes the store holds, when not `size`; absent or null: `size`. */
  storedSize?: number | null;
  /** A pack member: where its frame lies in which pack, and the frame's codec. Absent: a whole object. */
  member?: PackPlace;
}

/** Where a pack member's frame lies. */
export interface PackPlace {
  packId: number;
  offset: number;
  length: number;
  codec: string;
}

/** Records a replica that was written and checked; called only after the check passed. */
export async function recordReplicas(
  { db }: { db: Kysely<CatalogSchema> },
  records: readonly ReplicaRecord[],
): Promise<void> {
  for (const rows of statementRows(records)) await insertReplicaRows(db, rows);
}

/**
 * The records in runs of at most INSERT_ROWS, no file twice in one run. PostgreSQL fires a
 * statement's row triggers once all its rows are in, so two new copies of one file in one
 * statement would each see the other in the file's "before" and du's sums would drift.
 */
function* statementRows(records: readonly ReplicaRecord[]): Generator<ReplicaRecord[]> {
  let rows: ReplicaRecord[] = [];
  let files = new Set<number>();
  for (const record of records) {
    if (rows.length >= INSERT_ROWS || files.has(record.fileId)) {
      yield rows;
      rows = [];
      files = new Set();
    }
    rows.push(record);
    files.add(record.fileId);
  }
  if (rows.length > 0) yield rows;
}

async function insertReplicaRows(db: Kysely<CatalogSchema>, records: readonly ReplicaRecord[]): Promise<void> {
  const now = Date.now();
  await db
    .insertInto("replicas")
    .values(
      records.map((r) => ({
        file_id: r.fileId,
        location_id: r.locationId,
        key: r.key,
        size: r.size,
        hash: r.hash,
        storage_class: r.storageClass,
        state: r.state,
        source_size: r.sourceSize,
        source_mtime_us: r.sourceMtimeUs,
        etag: r.etag,
        created_at: now,
        verified_at: r.verifiedAt,
        // A whole object written over a member's replica is no longer in the pack: all four reset.
        pack_id: r.member?.packId ?? null,
        pack_offset: r.member?.offset ?? null,
        pack_length: r.member?.length ?? null,
        codec: r.member?.codec ?? r.codec ?? null,
        // A member's stored bytes are its frame in the pack.
        stored_size: r.member?.length ?? r.storedSize ?? null,
      })),
    )
    .onConflict((oc) =>
      oc.columns(["file_id", "location_id"]).doUpdateSet((eb) => ({
        pack_id: eb.ref("excluded.pack_id"),
        pack_offset: eb.ref("excluded.pack_offset"),
        pack_length: eb.ref("excluded.pack_length"),
        key: eb.ref("excluded.key"),
        size: eb.ref("excluded.size"),
        hash: eb.ref("excluded.hash"),
        storage_class: eb.ref("excluded.storage_class"),
        state: eb.ref("excluded.state"),
        source_size: eb.ref("excluded.source_size"),
        source_mtime_us: eb.ref("excluded.source_mtime_us"),
        etag: eb.ref("excluded.etag"),
        created_at: eb.ref("excluded.created_at"),
        verified_at: eb.ref("excluded.verified_at"),
        codec: eb.ref("excluded.codec"),
        stored_size: eb.ref("excluded.stored_size"),
      })),
    )
    .execute();
}

/** Replica rows per insert statement. */
const INSERT_ROWS = 256;

/**
 * Records many replicas at once inside the caller's transaction (a pack's members): on SQLite
 * with the insert triggers' per-row summary work skipped and done once per call, summed per key
 * (summaries.ts, BULK_REPLICAS_MARKER), which took half of a packed sync's catalog time; on
 * PostgreSQL as recordReplicas does. The sums come out the same either way.
 */
export async function recordReplicasInBulk(
  trx: Kysely<CatalogSchema>,
  dialect: Dialect,
  records: readonly ReplicaRecord[],
): Promise<void> {
  // A file with two rows here (it is never so for a pack): one row's triggers would move the
  // file's contribution with the other's copy in it before that copy was summed. Row by row then.
  const oneRowPerFile = new Set(records.map((r) => r.fileId)).size === records.length;
  if (dialect !== "sqlite" || records.length === 0 || !oneRowPerFile) return recordReplicas({ db: trx }, records);
  await sql`INSERT INTO ${sql.table(BULK_REPLICAS_MARKER)} VALUES (1)`.execute(trx);
  const before = await largestId(trx, "replicas");
  await recordReplicas({ db: trx }, records);
  await sql`DELETE FROM ${sql.table(BULK_REPLICAS_MARKER)}`.execute(trx);
  // Ids only grow and the transaction is the only writer: the new rows are those past `before`.
  // A record that met a replica already there updated it, and its update triggers ran as usual.
  const range = [before, await largestId(trx, "replicas")];
  for (const statement of [...bulkInsertedReplicasSummaries(), bulkInsertedReplicaStates()]) {
    await trx.executeQuery(CompiledQuery.raw(statement, range));
  }
}

/** The files whose copies the catalog records at one key of a location, with where each file lives. */
export async function replicasAtKey({ db }: CatalogDb, locationId: number, key: string) {
  return db
    .selectFrom("replicas as r")
    .innerJoin("files as f", "f.id", "r.file_id")
    .innerJoin("locations as l", "l.id", "f.location_id")
    .select(["r.file_id", "f.path", "l.name as location_name"])
    .where("r.location_id", "=", locationId)
    .where("r.key", "=", key)
    .execute();
}

/** A replica a stub names, at a location the catalog knows. */
export interface LearntReplica {
  fileId: number;
  locationId: number;
  stub: StubRecord;
  replica: StubRecord["replicas"][number];
}

/**
 * Records the replicas stubs name, where the catalog has none for that file and location: what
 * the catalog knows of its own copies wins. Unverified (verified_at null): a release checked
 * them when it wrote the stub, and a restore checks the bytes against the stub's hash again.
 */
export async function learnReplicas(db: Kysely<CatalogSchema>, learnt: readonly LearntReplica[]): Promise<void> {
  if (learnt.length === 0) return;
  const now = Date.now();
  await db
    .insertInto("replicas")
    .values(
      learnt.map(({ fileId, locationId, stub, replica }) => ({
        file_id: fileId,
        location_id: locationId,
        key: replica.key,
        size: stub.size,
        hash: stub.sha256,
        storage_class: replica.class,
        state: "present" as const,
        source_size: stub.size,
        source_mtime_us: stub.mtimeUs,
        etag: null,
        created_at: now,
        verified_at: null,
      })),
    )
    .onConflict((oc) => oc.columns(["file_id", "location_id"]).doNothing())
    .execute();
}

export async function removeReplicas({ db }: CatalogDb, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await db.deleteFrom("replicas").where("id", "in", ids).execute();
}

export async function replicasOfFile({ db }: CatalogDb, fileId: number) {
  return db
    .selectFrom("replicas")
    .innerJoin("locations", "locations.id", "replicas.location_id")
    .selectAll("replicas")
    .select(["locations.name as location_name", "locations.url as location_url"])
    .where("replicas.file_id", "=", fileId)
    .orderBy("locations.name")
    .execute();
}

export async function markVerified(
  { db }: CatalogDb,
  replicaId: number,
  outcome: { ok: true; at: number } | { ok: false },
): Promise<void> {
  await db
    .updateTable("replicas")
    .set(outcome.ok ? { verified_at: outcome.at, state: "present" } : { state: "lost", verified_at: null })
    .where("id", "=", replicaId)
    .execute();
}

/** A replica changed storage class in place (a server-side copy onto itself). */
export async function setReplicaClass(
  { db }: CatalogDb,
  replicaId: number,
  storageClass: string,
  etag: string | null,
): Promise<void> {
  await db
    .updateTable("replicas")
    .set((eb) => ({ storage_class: storageClass, etag: etag ?? eb.ref("etag") }))
    .where("id", "=", replicaId)
    .execute();
}

export type { ReplicaRow };

/** Replicas to check, page by page: at one location, or everywhere. */
export async function* replicasToVerify(catalog: CatalogDb, locationId: number | undefined) {
  let afterId = 0;
  for (;;) {
    let query = catalog.db
      .selectFrom("replicas")
      .innerJoin("locations", "locations.id", "replicas.location_id")
      .select([
        "replicas.id",
        "replicas.file_id",
        "replicas.location_id",
        "replicas.key",
        "replicas.hash",
        "replicas.size",
        "replicas.pack_id",
        "replicas.pack_offset",
        "replicas.pack_length",
        "replicas.codec",
        "locations.name as location_name",
      ])
      .where("replicas.state", "in", ["present", "lost"])
      .where("replicas.id", ">", afterId);
    if (locationId !== undefined) query = query.where("replicas.location_id", "=", locationId);
    const rows = await query.orderBy("replicas.id").limit(1000).execute();
    yield* rows;
    const last = rows.at(-1);
    if (!last || rows.length < 1000) return;
    afterId = last.id;
  }
}

/**
 * Files at a location under `prefix`, each with its replicas in `states` (by default the
 * present ones), for restore.
 */
export async function* filesWithReplicas(
  catalog: CatalogDb,
  locationId: number,
  prefix: string,
  states: readonly ReplicaState[] = ["present"],
) {
  let after = "";
  for (;;) {
    let query = catalog.db
      .selectFrom("files")
      .selectAll()
      .where("location_id", "=", locationId)
      .where("kind", "=", "file")
      .where("path", ">", after);
    if (prefix !== "") query = query.where("path", ">=", prefix);
    const files = await query.orderBy("path").limit(500).execute();
    if (files.length === 0) return;
    const replicas = await catalog.db
      .selectFrom("replicas")
      .innerJoin("locations", "locations.id", "replicas.location_id")
      .selectAll("replicas")
      .select("locations.name as location_name")
      .where(
        "replicas.file_id",
        "in",
        files.map((f) => f.id),
      )
      .where("replicas.state", "in", states)
      .orderBy("replicas.id")
      .execute();
    for (const file of files) {
      if (!file.path.startsWith(prefix)) return;
      yield { file, replicas: replicas.filter((r) => r.file_id === file.id) };
    }
    if (files.length < 500) return;
    after = (files.at(-1) as { path: string }).path;
  }
}

/**
 * Marks the present replica of a file at a location as being replaced, before a copy of a newer
 * version is written over its object; answers whether there was one to mark.
 */
export async function markReplacing({ db }: CatalogDb, fileId: number, locationId: number): Promise<boolean> {
  const result = await db
    .updateTable("replicas")
    .set({ state: "replacing" })
    .where("file_id", "=", fileId)
    .where("location_id", "=", locationId)
    .where("state", "=", "present")
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Settles a replica marked as being replaced whose object is known: `present` again, or `lost`. */
export async function settleReplacing(
  { db }: CatalogDb,
  fileId: number,
  locationId: number,
  state: "present" | "lost",
): Promise<void> {
  await db
    .updateTable("replicas")
    .set({ state })
    .where("file_id", "=", fileId)
    .where("location_id", "=", locationId)
    .where("state", "=", "replacing")
    .execute();
}

/** The replica of a file at a location, if any. */
export async function replicaAt({ db }: CatalogDb, fileId: number, locationId: number) {
  return db
    .selectFrom("replicas")
    .selectAll()
    .where("file_id", "=", fileId)
    .where("location_id", "=", locationId)
    .executeTakeFirst();
}
