import { join } from "node:path";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { type FileStat, FileUpserter, startScan } from "../../src/catalog/files.js";
import { TRIGRAM_AUTOMERGE } from "../../src/catalog/migrations.js";
import { tempDir } from "../support/tmp.js";

/**
 * Migration 0027: the name trigrams' FTS5 index merges 16 segments at a time (a scan writes one per
 * transaction). The setting is the index's own, kept in its config table; the index still finds
 * every name across many transactions' segments.
 */
describe("the name trigrams' merges", () => {
  it("are set to 16 at a time, and the index finds names across many segments", { timeout: 60_000 }, async () => {
    const catalog = await openCatalog(`sqlite:${join(tempDir("strata-trigrams-"), "c.db")}`);
    try {
      const config = await sql<{ v: number }>`SELECT v FROM files_name_trigrams_config WHERE k = 'automerge'`.execute(
        catalog.db,
      );
      expect(config.rows).toEqual([{ v: TRIGRAM_AUTOMERGE }]);
      expect(TRIGRAM_AUTOMERGE).toBe(16);

      const { id } = await catalog.db
        .insertInto("locations")
        .values({ name: "scratch", url: "file:///scratch", kind: "posix", created_at: 0 })
        .returning("id")
        .executeTakeFirstOrThrow();
      const upserter = new FileUpserter(catalog, id, await startScan(catalog, id));
      const entry = (i: number): FileStat => ({
        path: `d${i % 10}/f${i}${i % 101 === 0 ? "_needle" : ""}.dat`,
        kind: "file",
        size: i,
        mtimeUs: 0,
        atimeUs: 0,
        ctimeUs: 0,
        mode: 0o100644,
        uid: 0,
        gid: 0,
        inode: i,
      });
      // 40 transactions: 40 segments, merged 16 at a time.
      for (let t = 0; t < 40; t++) await upserter.write(Array.from({ length: 250 }, (_, i) => entry(t * 250 + i)));
      const found = await sql<{ n: number }>`SELECT count(*) AS n FROM files_name_trigrams
        WHERE files_name_trigrams MATCH 'nee AND eed AND edl AND dle'`.execute(catalog.db);
      expect(found.rows).toEqual([{ n: Math.ceil(10_000 / 101) }]);
    } finally {
      await catalog.close();
    }
  });
});
