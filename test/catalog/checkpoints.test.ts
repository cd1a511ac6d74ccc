import { statSync } from "node:fs";
import { join } from "node:path";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { checkpointPassively, openCatalog, openCatalogConnection } from "../../src/catalog/db.js";
import { tempDir } from "../support/tmp.js";

const MIB = 1024 * 1024;

describe("a bulk writer's WAL on SQLite", () => {
  it("is checkpointed by the opener's connection, after which the writer starts the WAL over", async () => {
    const path = join(tempDir(), "catalog.db");
    const url = `sqlite:${path}`;
    const opener = await openCatalog(url);
    const writer = await openCatalogConnection(url, { bulkWrites: true });
    try {
      await sql`CREATE TABLE filler (bytes blob)`.execute(writer.db);
      // About 8 MiB in four transactions: past SQLite's own checkpoint at 1,000 pages (4 MiB).
      for (let i = 0; i < 4; i++) {
        await writer.db.transaction().execute(async (trx) => {
          await sql`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
            INSERT INTO filler SELECT randomblob(4000) FROM n`.execute(trx);
        });
      }
      // The writer checkpointed nothing itself: every page is still in the WAL.
      expect(statSync(`${path}-wal`).size).toBeGreaterThan(7 * MIB);

      await checkpointPassively(opener);
      await sql`INSERT INTO filler VALUES (x'00')`.execute(writer.db);
      // Everything was copied back, so that small transaction began the WAL again from its start.
      const { rows } = await sql<{ log: number }>`PRAGMA wal_checkpoint(PASSIVE)`.execute(opener.db);
      expect(Number(rows[0]?.log)).toBeLessThan(10);
    } finally {
      await writer.close();
      await opener.close();
    }
  });
});
