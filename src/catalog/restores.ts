import type { Transaction } from "kysely";
import type { RestoreTier } from "../backends/backend.js";
import type { CatalogDb } from "./db.js";
import type { CatalogSchema, ReplicaState } from "./schema.js";

export interface NewRestoreRequest {
  replicaId: number;
  fileId: number;
  tier: RestoreTier;
  days: number;
  expectedAt: number | null;
  targetDir: string | null;
}

/**
 * Records a requested thaw and marks its replica 'restoring', in one transaction. The state the
 * replica had before its first pending thaw is kept with the request, to be given back later.
 */
export async function recordRestoreRequest({ db }: CatalogDb, request: NewRestoreRequest): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const replica = await trx
      .selectFrom("replicas")
      .select("state")
      .where("id", "=", request.replicaId)
      .executeTakeFirstOrThrow();
    const earlier = await firstPendingOf(trx, request.replicaId);
    const before: ReplicaState = earlier?.replica_state ?? (replica.state === "restoring" ? "archived" : replica.state);
    const row = await trx
      .insertInto("restore_requests")
      .values({
        replica_id: request.replicaId,
        file_id: request.fileId,
        tier: request.tier,
        days: request.days,
        requested_at: Date.now(),
        expected_at: request.expectedAt,
        target_dir: request.targetDir,
        replica_state: before,
        state: "pending",
        finished_at: null,
        error: null,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    await trx.updateTable("replicas").set({ state: "restoring" }).where("id", "=", request.replicaId).execute();
    return row.id;
  });
}

/** The oldest request still waiting on this replica's thaw, if any. */
function firstPendingOf(trx: Transaction<CatalogSchema>, replicaId: number) {
  return trx
    .selectFrom("restore_requests")
    .select(["id", "replica_state"])
    .where("replica_id", "=", replicaId)
    .where("state", "=", "pending")
    .orderBy("id")
    .executeTakeFirst();
}

const PAGE = 500;

/** A pending request with what finishing it needs: the replica to read, the file to write. */
function pendingQuery({ db }: CatalogDb) {
  return db
    .selectFrom("restore_requests as q")
    .innerJoin("replicas as r", "r.id", "q.replica_id")
    .innerJoin("locations as rl", "rl.id", "r.location_id")
    .innerJoin("files as f", "f.id", "q.file_id")
    .innerJoin("locations as fl", "fl.id", "f.location_id")
    .select([
      "q.id",
      "q.tier",
      "q.days",
      "q.requested_at",
      "q.expected_at",
      "q.target_dir",
      "q.replica_state",
      "r.id as replica_id",
      "r.key as replica_key",
      "r.hash as replica_hash",
      "r.size as replica_size",
      "r.source_mtime_us",
      "r.storage_class",
      "r.pack_id",
      "r.pack_offset",
      "r.pack_length",
      "r.codec",
      "rl.name as replica_location",
      "f.id as file_id",
      "f.path",
      "f.size",
      "f.mtime_us",
      "f.atime_us",
      "f.mode",
      "f.uid",
      "f.gid",
      "f.hash as file_hash",
      "f.state as file_state",
      "fl.name as file_location",
    ])
    .where("q.state", "=", "pending");
}

export type PendingRestore = Awaited<ReturnType<ReturnType<typeof pendingQuery>["executeTakeFirstOrThrow"]>>;

/** Every pending request (or those among `ids`), page by page. */
export async function* pendingRestores(catalog: CatalogDb, ids?: readonly number[]): AsyncIterable<PendingRestore> {
  if (ids) {
    // A few hundred ids per query: a long wait list stays under the databases' parameter limits.
    for (let i = 0; i < ids.length; i += PAGE) {
      yield* await pendingQuery(catalog)
        .where("q.id", "in", ids.slice(i, i + PAGE))
        .orderBy("q.id")
        .execute();
    }
    return;
  }
  let after = 0;
  for (;;) {
    const rows = await pendingQuery(catalog).where("q.id", ">", after).orderBy("q.id").limit(PAGE).execute();
    yield* rows;
    const last = rows.at(-1);
    if (!last || rows.length < PAGE) return;
    after = last.id;
  }
}

/** The locations that pending requests restore into in place: what finishing them changes. */
export async function locationsRestoredInPlace({ db }: CatalogDb): Promise<string[]> {
  const rows = await db
    .selectFrom("restore_requests as q")
    .innerJoin("files as f", "f.id", "q.file_id")
    .innerJoin("locations as fl", "fl.id", "f.location_id")
    .select("fl.name")
    .distinct()
    .where("q.state", "=", "pending")
    .where("q.target_dir", "is", null)
    .execute();
  return rows.map((r) => r.name);
}

/** Which of `ids` are still pending. */
export async function stillPending(catalog: CatalogDb, ids: readonly number[]): Promise<number[]> {
  const pending: number[] = [];
  for await (const row of pendingRestores(catalog, ids)) pending.push(row.id);
  return pending;
}

/** The pending request that restores this file into `targetDir` (null: its own place), if any. */
export async function pendingRestoreOf(
  catalog: CatalogDb,
  fileId: number,
  targetDir: string | null,
): Promise<PendingRestore | undefined> {
  const query = pendingQuery(catalog).where("q.file_id", "=", fileId);
  return (targetDir === null ? query.where("q.target_dir", "is", null) : query.where("q.target_dir", "=", targetDir))
    .orderBy("q.id")
    .executeTakeFirst();
}

/**
 * The thaw pending for an object of a location, as its oldest pending request recorded it: the
 * members of one pack share their pack's key, so a request for any of them names the pack's thaw.
 */
export async function pendingThawOf(
  { db }: CatalogDb,
  locationId: number,
  key: string,
): Promise<{ tier: RestoreTier; expected_at: number | null } | undefined> {
  return db
    .selectFrom("restore_requests as q")
    .innerJoin("replicas as r", "r.id", "q.replica_id")
    .select(["q.tier", "q.expected_at"])
    .where("r.location_id", "=", locationId)
    .where("r.key", "=", key)
    .where("q.state", "=", "pending")
    .orderBy("q.id")
    .executeTakeFirst();
}

/** The size of the pack a member's thaw brings back whole (members are read from it by range). */
export async function packSize({ db }: CatalogDb, packId: number): Promise<number | undefined> {
  const row = await db.selectFrom("packs").select("size").where("id", "=", packId).executeTakeFirst();
  return row?.size;
}

/** A thaw asked again (the earlier one lapsed before its copy was made). */
export async function rescheduleRestore({ db }: CatalogDb, id: number, expectedAt: number | null): Promise<void> {
  await db.updateTable("restore_requests").set({ expected_at: expectedAt }).where("id", "=", id).execute();
}

/**
 * Closes a request. The replica gets `replicaState` once no other request still waits on its
 * thaw; until then it stays 'restoring'.
 */
export async function settleRestore(
  { db }: CatalogDb,
  request: { id: number; replicaId: number },
  outcome:
    | { state: "done"; replicaState: ReplicaState }
    | { state: "failed"; error: string; replicaState: ReplicaState },
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable("restore_requests")
      .set({ state: outcome.state, finished_at: Date.now(), error: outcome.state === "failed" ? outcome.error : null })
      .where("id", "=", request.id)
      .where("state", "=", "pending")
      .execute();
    if (!(await firstPendingOf(trx, request.replicaId))) {
      await trx
        .updateTable("replicas")
        .set({ state: outcome.replicaState })
        .where("id", "=", request.replicaId)
        .execute();
    }
  });
}

/**
 * A released (or missing) file whose data is back in its place is present again (as a new
 * inode), when what came back is the version the catalog holds.
 */
export async function markRestoredInPlace(
  { db }: CatalogDb,
  fileId: number,
  restored: { size: number; mtimeUs: number; inode: number; ctimeUs: number },
): Promise<void> {
  await db
    .updateTable("files")
    // The ctime too: the scan takes a moved ctime for an edit, and this write was ours.
    .set({
      state: "present",
      inode: restored.inode,
      ctime_us: restored.ctimeUs,
      stub_size: null,
      stub_mtime_us: null,
      stub_inode: null,
    })
    .where("id", "=", fileId)
    .where("state", "in", ["released", "missing"])
    .where("size", "=", restored.size)
    .where("mtime_us", "=", restored.mtimeUs)
    .execute();
}
