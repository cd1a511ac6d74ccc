import { describe, it } from "vitest";
import { type CatalogDb, openCatalog } from "../../src/catalog/db.js";
import { type ReplicaRecord, recordReplicas, recordReplicasInBulk } from "../../src/catalog/replicas.js";
import type { FileState, ReplicaState } from "../../src/catalog/schema.js";
import { expectSummariesMatchRows } from "../query/summaries-check.js";
import { CATALOG_KINDS, type CatalogKind, freshCatalogUrl } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";

/*
 * A new replica that cannot move its file between du's bucket keys takes the replica insert
 * trigger's short way (migration 0022): its own copy added, nothing taken away. du's and the
 * capacity summaries must stay exactly the sums of the rows, held against them computed in plain
 * TypeScript, for copies of every state on files of every state, tagged or not, one at a time
 * and in batches, and through the updates and deletes that follow.
 */

const FILE_STATES: FileState[] = ["present", "missing", "deleted", "released"];
const REPLICA_STATES: ReplicaState[] = ["present", "archived", "restoring", "released", "lost", "replacing"];

async function location(catalog: CatalogDb, name: string, url: string, kind: string): Promise<number> {
  const row = await catalog.db
    .insertInto("locations")
    .values({ name, url, kind, created_at: 0 })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}

async function files(catalog: CatalogDb, locationId: number, count: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const row = await catalog.db
      .insertInto("files")
      .values({
        location_id: locationId,
        path: `d${i % 3}/sub${i % 2}/f${i}`,
        kind: i === 17 ? "dir" : "file",
        size: 1000 + i * 37,
        mtime_us: 0,
        atime_us: i * 40 * 86_400 * 1_000_000,
        ctime_us: 0,
        mode: 0o644,
        uid: 1000 + (i % 2),
        gid: 50,
        inode: i,
        tags: i % 4 === 0 ? '{"project":"a"}' : i % 4 === 1 ? '{"project":"b","team":"x"}' : null,
        state: FILE_STATES[i % FILE_STATES.length] as FileState,
        first_scan_id: 1,
        seen_scan_id: 1,
        changed_scan_id: 1,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    ids.push(row.id);
  }
  return ids;
}

function replica(fileId: number, locationId: number, i: number, state: ReplicaState): ReplicaRecord {
  return {
    fileId,
    locationId,
    key: `k${i}`,
    size: 1000 + i * 37,
    hash: `h${i}`,
    storageClass: i % 2 ? "GLACIER" : null,
    state,
    sourceSize: 1000 + i * 37,
    sourceMtimeUs: 0,
    etag: null,
    verifiedAt: i % 3 === 0 ? null : 5,
    storedSize: i % 5 === 0 ? 100 + i : null,
  };
}

/** A fresh catalog with a scanned tree and two stores, and a check of its summaries against its rows. */
interface Fixture {
  catalog: CatalogDb;
  scratch: number;
  archive: number;
  cloud: number;
  check(when: string): Promise<void>;
}

async function onFreshCatalog(kind: CatalogKind, body: (fixture: Fixture) => Promise<void>): Promise<void> {
  const dir = tempDir("strata-replica-inserts-");
  const url = await freshCatalogUrl(kind, dir);
  const catalog = await openCatalog(url);
  try {
    await body({
      catalog,
      scratch: await location(catalog, "scratch", "file:///data/scratch", "posix"),
      archive: await location(catalog, "archive", "local:///store", "local"),
      cloud: await location(catalog, "cloud", "s3://bucket/p", "s3"),
      check: (when) => expectSummariesMatchRows(url, dir, when),
    });
  } finally {
    await catalog.close();
  }
}

/** What follows an insert: copies change state, some at `location` go. */
async function changeAndDrop({ catalog, check }: Fixture, location: number): Promise<void> {
  await catalog.db.updateTable("replicas").set({ state: "archived" }).where("state", "=", "present").execute();
  await catalog.db.deleteFrom("replicas").where("location_id", "=", location).where("state", "=", "lost").execute();
  await check("after updates and deletes");
}

const stateOf = (i: number) => REPLICA_STATES[i % REPLICA_STATES.length] as ReplicaState;

describe.each(CATALOG_KINDS)("replica inserts keep du exact (%s catalog)", (kind: CatalogKind) => {
  it("copies of every state on files of every state, alone and in batches", async () => {
    await onFreshCatalog(kind, async (fixture) => {
      const { catalog, scratch, archive, cloud, check } = fixture;
      const ids = await files(catalog, scratch, 48);
      // Every (file state, replica state) pair at least once, one row at a time.
      for (let i = 0; i < 24; i++) await recordReplicas(catalog, [replica(ids[i] as number, archive, i, stateOf(i))]);
      // A batch: second copies of those files (some now flagged archived), first copies of others.
      await recordReplicas(
        catalog,
        ids.map((id, i) => replica(id, cloud, i, stateOf(i * 5 + 1))),
      );
      await check("after the inserts");
      await changeAndDrop(fixture, archive);
    });
  }, 240_000);

  it("in bulk, as a pack's members are recorded: the same sums, upserts and all", async () => {
    await onFreshCatalog(kind, async (fixture) => {
      const { catalog, scratch, archive, cloud, check } = fixture;
      const bulk = (records: ReplicaRecord[]) =>
        catalog.db.transaction().execute((trx) => recordReplicasInBulk(trx, catalog.dialect, records));
      const ids = await files(catalog, scratch, 300);
      // Some copies already there, recorded row by row: the first batch meets them (upserts).
      for (let i = 0; i < 12; i++) await recordReplicas(catalog, [replica(ids[i] as number, archive, i, "present")]);
      // Every (file state, replica state) pair, one copy per file: 300 rows, more than one statement.
      await bulk(ids.map((id, i) => replica(id, archive, i, stateOf(i))));
      await check("after the first bulk insert");
      // Second copies, some of files now flagged archived or restoring by their first.
      await bulk(ids.map((id, i) => replica(id, cloud, i, stateOf(i * 5 + 1))));
      await check("after the second bulk insert");
      // The marker never outlives its batch: a plain insert afterwards takes the triggers again.
      const more = await files(catalog, await location(catalog, "home", "file:///home", "posix"), 4);
      await recordReplicas(
        catalog,
        more.map((id, i) => replica(id, cloud, 400 + i, "present")),
      );
      await check("after a plain insert that follows");
      await changeAndDrop(fixture, cloud);
    });
  }, 240_000);

  it("two new copies of one file in one batch, one of them archived (plain and bulk)", async () => {
    await onFreshCatalog(kind, async ({ catalog, scratch, archive, cloud, check }) => {
      const tape = await location(catalog, "tape", "local:///tape", "local");
      const glacier = await location(catalog, "glacier", "s3://cold/p", "s3");
      const ids = await files(catalog, scratch, 40);
      const pairs = (a: number, b: number) =>
        ids.flatMap((id, i) => [replica(id, a, i, "present"), replica(id, b, i, stateOf(i))]);
      // One statement of 80 rows (PostgreSQL fired its row triggers after both rows of a file were in).
      await recordReplicas(catalog, pairs(tape, glacier));
      await check("after a plain batch of pairs");
      await catalog.db
        .transaction()
        .execute((trx) => recordReplicasInBulk(trx, catalog.dialect, pairs(archive, cloud)));
      await check("after a bulk batch of pairs");
    });
  }, 240_000);
});
