import { Migrator } from "kysely";
import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { migrations } from "../../src/catalog/migrations.js";
import { CATALOG_KINDS, type CatalogKind, freshCatalogUrl, kyselyAt } from "../support/catalogs.js";
import { strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { expectSummariesMatchRows } from "./summaries-check.js";

/**
 * Issue 15: du's and metrics' summaries count a copy's STORED bytes, coalesce(stored_size, size):
 * a compressed copy its frames, a pack member its frame. Migration 0020 sums the rows already
 * there again; its triggers keep the sums as rows change, a change of stored_size alone included.
 */

const BEFORE = "0017_run_stop_requests";

/** Ten files at scratch; copies at archive: raw, gzip-compressed (stored 100 + i), and three members of one pack. */
async function writeRowsBeforeMigration(kind: CatalogKind, url: string): Promise<void> {
  const db = kyselyAt(kind, url);
  try {
    const { error } = await new Migrator({ db, provider: migrations(kind) }).migrateTo(BEFORE);
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
    const pack = await db
      .insertInto("packs")
      .values({
        location_id: archive,
        key: ".strata-packs/p.tar.gz",
        size: 9000,
        members: 3,
        hash: "p",
        codec: "gzip",
        created_at: 0,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    for (let i = 0; i < 10; i++) {
      const file = await db
        .insertInto("files")
        .values({
          location_id: scratch,
          path: `d${i % 2}/f${i}`,
          kind: "file",
          size: 1000 * (i + 1),
          mtime_us: 0,
          atime_us: 0,
          ctime_us: 0,
          mode: 0o644,
          uid: 1000,
          gid: 50,
          inode: i,
          tags: i % 3 === 0 ? '{"project":"a"}' : null,
          state: "present",
          first_scan_id: 1,
          seen_scan_id: 1,
          changed_scan_id: 1,
        })
        .returning("id")
        .executeTakeFirstOrThrow();
      const member = i >= 7;
      await db
        .insertInto("replicas")
        .values({
          file_id: file.id,
          location_id: archive,
          key: member ? ".strata-packs/p.tar.gz" : `d${i % 2}/f${i}`,
          size: 1000 * (i + 1),
          hash: `h${i}`,
          storage_class: i % 2 ? "GLACIER" : null,
          state: "present",
          source_size: 1000 * (i + 1),
          source_mtime_us: 0,
          created_at: 0,
          verified_at: 5,
          codec: i >= 4 ? "gzip" : null,
          stored_size: i >= 4 ? 100 + i : null,
          pack_id: member ? pack.id : null,
          pack_offset: member ? 3000 * (i - 7) : null,
          pack_length: member ? 100 + i : null,
        })
        .execute();
    }
  } finally {
    await db.destroy();
  }
}

describe.each(CATALOG_KINDS)("stored bytes in du and the capacity summaries (%s catalog)", (kind) => {
  it("migration 0020 sums coalesce(stored_size, size), and the triggers keep it so", async () => {
    const dir = tempDir("strata-stored-bytes-");
    const url = await freshCatalogUrl(kind, dir);
    await writeRowsBeforeMigration(kind, url);
    const compare = (step: string) => expectSummariesMatchRows(url, dir, step);
    await compare("after the migration");

    // By hand: four raw copies (1000 + 2000 + 3000 + 4000), six stored as 104 … 109 bytes.
    const total = await strata(["--catalog", url, "--json", "du", "scratch"], { cwd: dir });
    expect(JSON.parse(total.stdout).rows[0].at.archive.stored_bytes).toBe(10_000 + 104 + 105 + 106 + 107 + 108 + 109);

    const catalog = await openCatalog(url);
    try {
      const { db } = catalog;
      // stored_size alone changes (a copy rewritten compressed): the sums follow.
      await db.updateTable("replicas").set({ stored_size: 77, codec: "gzip" }).where("key", "=", "d0/f0").execute();
      await db.updateTable("replicas").set({ stored_size: null, codec: null }).where("key", "=", "d1/f5").execute();
      await db.deleteFrom("replicas").where("key", "=", "d0/f6").execute();
    } finally {
      await catalog.close();
    }
    await compare("after stored sizes changed");
    const after = await strata(["--catalog", url, "--json", "du", "scratch"], { cwd: dir });
    expect(JSON.parse(after.stdout).rows[0].at.archive.stored_bytes).toBe(
      77 + 2000 + 3000 + 4000 + 104 + 6000 + 107 + 108 + 109,
    );
  }, 180_000);
});
