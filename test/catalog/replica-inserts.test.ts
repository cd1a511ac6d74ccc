import { describe, it } from "vitest";
import { type CatalogDb, openCatalog } from "../../src/catalog/db.js";
import { type ReplicaRecord, recordReplicas } from "../../src/catalog/replicas.js";
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

describe.each(CATALOG_KINDS)("replica inserts keep du exact (%s catalog)", (kind: CatalogKind) => {
  it("copies of every state on files of every state, alone and in batches", async () => {
    const dir = tempDir("strata-replica-inserts-");
    const url = await freshCatalogUrl(kind, dir);
    const catalog = await openCatalog(url);
    try {
      const scratch = await location(catalog, "scratch", "file:///data/scratch", "posix");
      const archive = await location(catalog, "archive", "local:///store", "local");
      const cloud = await location(catalog, "cloud", "s3://bucket/p", "s3");
      const ids = await files(catalog, scratch, 48);
      // Every (file state, replica state) pair at least once, one row at a time.
      for (let i = 0; i < 24; i++) {
        const state = REPLICA_STATES[i % REPLICA_STATES.length] as ReplicaState;
        await recordReplicas(catalog, [replica(ids[i] as number, archive, i, state)]);
      }
      // A batch: second copies of those files (some now flagged archived), first copies of others.
      await recordReplicas(
        catalog,
        ids.map((id, i) => replica(id, cloud, i, REPLICA_STATES[(i * 5 + 1) % REPLICA_STATES.length] as ReplicaState)),
      );
      await expectSummariesMatchRows(url, dir, "after the inserts");
      // What follows an insert: copies change state, some go.
      await catalog.db.updateTable("replicas").set({ state: "archived" }).where("state", "=", "present").execute();
      await catalog.db.deleteFrom("replicas").where("location_id", "=", archive).where("state", "=", "lost").execute();
      await expectSummariesMatchRows(url, dir, "after updates and deletes");
    } finally {
      await catalog.close();
    }
  }, 240_000);
});
