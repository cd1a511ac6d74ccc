import { Migrator } from "kysely";
import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { migrations } from "../../src/catalog/migrations.js";
import type { EventOutcome, ReplicaState } from "../../src/catalog/schema.js";
import { takeSnapshot } from "../../src/catalog/snapshots.js";
import { capacitySeries } from "../../src/query/series.js";
import { CATALOG_KINDS, type CatalogKind, freshCatalogUrl, kyselyAt } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";
import { bruteCapacity } from "./capacity-brute.js";
import { catalogRows } from "./du-brute.js";

/** 0012 on a catalog that already holds files, replicas and events: its summaries start exact. */

const BEFORE_SNAPSHOTS = "0010_events_by_run";

const REPLICA_STATES: ReplicaState[] = ["present", "archived", "restoring", "released", "lost", "replacing"];
const OUTCOMES: EventOutcome[] = ["done", "failed", "done"];

async function writeRowsBeforeSnapshots(kind: CatalogKind, url: string): Promise<void> {
  const db = kyselyAt(kind, url);
  try {
    const { error } = await new Migrator({ db, provider: migrations(kind) }).migrateTo(BEFORE_SNAPSHOTS);
    if (error) throw error;
    const location = async (name: string, url: string, kind: string) =>
      (
        await db
          .insertInto("locations")
          .values({ name, url, kind, created_at: 0 })
          .returning("id")
          .executeTakeFirstOrThrow()
      ).id;
    const scratch = await location("scratch", "file:///data/scratch", "posix");
    const archive = await location("archive", "local:///store", "local");
    const tape = await location("tape", "local:///tape", "local");
    const states = ["present", "released", "missing", "deleted"] as const;
    for (let i = 0; i < 60; i++) {
      const file = await db
        .insertInto("files")
        .values({
          location_id: scratch,
          path: `d${i % 5}/f${i}`,
          kind: i % 7 === 6 ? "dir" : "file",
          size: i * 1001,
          mtime_us: 0,
          atime_us: 0,
          ctime_us: 0,
          mode: 0o644,
          uid: 1000,
          gid: 100,
          inode: i,
          hash: null,
          file_type: null,
          tags: null,
          state: states[i % states.length] as (typeof states)[number],
          first_scan_id: 1,
          seen_scan_id: 1,
          changed_scan_id: 1,
          deleted_scan_id: null,
          stub_size: null,
          stub_mtime_us: null,
          stub_inode: null,
        })
        .returning("id")
        .executeTakeFirstOrThrow();
      for (const [j, target] of [archive, tape].entries()) {
        if ((i + j) % 3 === 0) continue;
        await db
          .insertInto("replicas")
          .values({
            file_id: file.id,
            location_id: target,
            key: `k${i}`,
            size: i * 500,
            hash: "h",
            storage_class: j === 0 ? null : ["GLACIER", "DEEP_ARCHIVE"][i % 2],
            state: REPLICA_STATES[i % REPLICA_STATES.length] as ReplicaState,
            codec: null,
            pack_id: null,
            source_size: i * 1001,
            source_mtime_us: 0,
            etag: null,
            created_at: 0,
            verified_at: null,
          })
          .execute();
        await db
          .insertInto("events")
          .values({
            at: i,
            kind: j === 0 ? "copy" : "restore",
            location_id: j === 0 ? scratch : target,
            target_location_id: j === 0 ? target : scratch,
            file_id: file.id,
            run_id: null,
            bytes: i * 1001,
            policy: null,
            host: "h",
            user: "u",
            outcome: OUTCOMES[i % OUTCOMES.length] as EventOutcome,
            detail: null,
          })
          .execute();
      }
    }
  } finally {
    await db.destroy();
  }
}

describe.each(CATALOG_KINDS)("migration 0012 on %s", (kind) => {
  it("fills the replica and transfer summaries from the rows already there", async () => {
    const url = await freshCatalogUrl(kind, tempDir("strata-snapshots-migration-"));
    await writeRowsBeforeSnapshots(kind, url);
    const catalog = await openCatalog(url);
    try {
      await takeSnapshot(catalog, 1000);
      const points = await capacitySeries(catalog, { since: 0 });
      const snapshot = new Map(
        points.map((p) => [
          JSON.stringify([p.location, p.class, p.state]),
          { files: p.files, logicalBytes: p.logicalBytes, storedBytes: p.storedBytes },
        ]),
      );
      expect(snapshot).toEqual(bruteCapacity(await catalogRows(url)));

      const events = await catalog.db.selectFrom("events").selectAll().execute();
      const expected = new Map<string, { files: number; bytes: number; errors: number }>();
      for (const e of events) {
        const key = JSON.stringify([e.location_id, e.target_location_id, e.kind]);
        const sum = expected.get(key) ?? { files: 0, bytes: 0, errors: 0 };
        const failed = e.outcome === "failed";
        expected.set(key, {
          files: sum.files + (failed ? 0 : 1),
          bytes: sum.bytes + (failed ? 0 : e.bytes),
          errors: sum.errors + (failed ? 1 : 0),
        });
      }
      const transfers = await catalog.db.selectFrom("usage_transfers").selectAll().execute();
      expect(
        new Map(
          transfers.map((t) => [
            JSON.stringify([t.source_location_id, t.target_location_id, t.kind]),
            { files: Number(t.files), bytes: Number(t.bytes), errors: Number(t.errors) },
          ]),
        ),
      ).toEqual(expected);
    } finally {
      await catalog.close();
    }
  });
});
