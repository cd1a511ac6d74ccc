import { statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { type CatalogDb, checkpointPassively, openCatalog, openCatalogConnection } from "../../src/catalog/db.js";
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
      // About 20 MiB in four transactions: past SQLite's own checkpoint at 1,000 pages (16 MiB
      // at the catalog's 16 KiB pages), short of the bulk writer's 64 MiB.
      for (let i = 0; i < 4; i++) {
        await writer.db.transaction().execute(async (trx) => {
          await sql`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1250)
            INSERT INTO filler SELECT randomblob(4000) FROM n`.execute(trx);
        });
      }
      // The writer checkpointed nothing itself: every page is still in the WAL, none in the
      // database file (a checkpoint would have grown it; it never shrinks the WAL).
      expect(statSync(`${path}-wal`).size).toBeGreaterThan(19 * MIB);
      expect(statSync(path).size).toBeLessThan(2 * MIB);

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

describe("a catalog's page size", () => {
  const pragma = async (catalog: CatalogDb, name: string) =>
    (await sql.raw<Record<string, number>>(`PRAGMA ${name}`).execute(catalog.db)).rows[0]?.[name];

  it("is 16 KiB for a new catalog, and a bulk writer's WAL bound is 64 MiB in its pages", async () => {
    const url = `sqlite:${join(tempDir(), "catalog.db")}`;
    const opener = await openCatalog(url);
    const writer = await openCatalogConnection(url, { bulkWrites: true });
    try {
      expect(await pragma(opener, "page_size")).toBe(16_384);
      expect(await pragma(writer, "wal_autocheckpoint")).toBe((64 * MIB) / 16_384);
    } finally {
      await writer.close();
      await opener.close();
    }
  });

  it("stays what it was for a catalog made with SQLite's 4 KiB pages", async () => {
    const path = join(tempDir(), "catalog.db");
    await (await openCatalog(`sqlite:${path}`)).close();
    const older = new Database(path);
    older.pragma("journal_mode = DELETE");
    older.pragma("page_size = 4096");
    older.exec("VACUUM");
    older.pragma("journal_mode = WAL");
    older.close();

    const opener = await openCatalog(`sqlite:${path}`);
    const writer = await openCatalogConnection(`sqlite:${path}`, { bulkWrites: true });
    try {
      expect(await pragma(opener, "page_size")).toBe(4096);
      expect(await pragma(writer, "wal_autocheckpoint")).toBe((64 * MIB) / 4096);
      await sql`INSERT INTO locations (name, url, kind, created_at) VALUES ('here', 'file:///here', 'posix', 0)`.execute(
        writer.db,
      );
      const { rows } = await sql<{ n: number }>`SELECT count(*) AS n FROM locations`.execute(opener.db);
      expect(Number(rows[0]?.n)).toBe(1);
    } finally {
      await writer.close();
      await opener.close();
    }
  });
});
