import { existsSync } from "node:fs";
import { join } from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from "kysely";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { type CatalogDb, openCatalog } from "../../src/catalog/db.js";
import { migrations } from "../../src/catalog/migrations.js";
import type { CatalogSchema } from "../../src/catalog/schema.js";
import { countFiles, findFiles, parseFindArgs } from "../../src/query/find/index.js";
import { CATALOG_KINDS, type CatalogKind, freshCatalogUrl } from "../support/catalogs.js";
import { strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";

/**
 * The selection API other commands reuse (parseFindArgs, findFiles), and the trigram index kept
 * in step with `files`: filled for rows that existed before its migration, moved by a rename,
 * emptied by a delete.
 */

const PATHS = ["runs/alpha_one.dat", "runs/alpha_two.h5", "runs/deep/beta.nc", "other/gamma.txt"];

/** A catalog migrated up to the migration before find's, holding rows, then opened as usual. */
async function catalogFromBeforeFind(kind: CatalogKind): Promise<CatalogDb> {
  const url = await freshCatalogUrl(kind, tempDir());
  const db = new Kysely<CatalogSchema>({
    dialect:
      kind === "sqlite"
        ? new SqliteDialect({ database: new SQLite(url) })
        : new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }),
  });
  try {
    const migrated = await new Migrator({ db, provider: migrations(kind) }).migrateTo("0007_engine_events");
    if (migrated.error) throw migrated.error;
    const location = await db
      .insertInto("locations")
      .values({ name: "scratch", url: "file:///scratch", kind: "posix", default_class: null, created_at: 0 })
      .returning("id")
      .executeTakeFirstOrThrow();
    for (const [i, path] of PATHS.entries()) {
      await db
        .insertInto("files")
        .values({
          location_id: location.id,
          path,
          kind: "file",
          size: 1000 * (i + 1),
          mtime_us: 0,
          atime_us: 0,
          ctime_us: 0,
          mode: 0o100644,
          uid: 1000 + i,
          gid: 100,
          inode: i,
          hash: null,
          file_type: null,
          tags: null,
          state: "present",
          first_scan_id: 1,
          seen_scan_id: 1,
          changed_scan_id: 1,
          deleted_scan_id: null,
        })
        .execute();
    }
  } finally {
    await db.destroy();
  }
  return openCatalog(url);
}

async function found(catalog: CatalogDb, args: string[]): Promise<string[]> {
  const paths: string[] = [];
  for await (const file of findFiles(catalog, parseFindArgs(args))) paths.push(`${file.location_name}:${file.path}`);
  return paths;
}

/** Rows the SQLite trigram index returns for a literal, ignoring the exact check find adds. */
async function trigramRows(catalog: CatalogDb, literal: string): Promise<number> {
  const rows = await sql<{ n: number }>`select count(*) as n from files_name_trigrams
    where files_name_trigrams match ${`"${literal}"`}`.execute(catalog.db);
  return Number(rows.rows[0]?.n);
}

describe.each(CATALOG_KINDS)("find's selection API and its index (%s catalog)", (kind) => {
  it("finds rows written before the index existed, follows renames and deletes, scopes by LOCATION:PATH", async () => {
    const catalog = await catalogFromBeforeFind(kind);
    try {
      expect(await found(catalog, ["-name", "*lpha*"])).toEqual([
        "scratch:runs/alpha_one.dat",
        "scratch:runs/alpha_two.h5",
      ]);
      expect(await found(catalog, ["scratch:runs/deep"])).toEqual(["scratch:runs/deep/beta.nc"]);
      expect(await found(catalog, ["scratch:runs", "-size", "+1k", "--sort", "-size", "--limit", "2"])).toEqual([
        "scratch:runs/deep/beta.nc",
        "scratch:runs/alpha_two.h5",
      ]);
      expect(await countFiles(catalog, parseFindArgs(["-path", "runs/*"]))).toEqual({ files: 3, bytes: 6000 });

      await catalog.db
        .updateTable("files")
        .set({ path: "runs/renamed_delta.dat" })
        .where("path", "=", "runs/alpha_one.dat")
        .execute();
      await catalog.db.deleteFrom("files").where("path", "=", "other/gamma.txt").execute();
      expect(await found(catalog, ["-name", "*lpha*"])).toEqual(["scratch:runs/alpha_two.h5"]);
      expect(await found(catalog, ["-name", "*delta*"])).toEqual(["scratch:runs/renamed_delta.dat"]);
      expect(await found(catalog, ["-name", "*gamma*"])).toEqual([]);
      if (kind === "sqlite") {
        // The index itself, not only the exact check after it, forgot the old names.
        expect(await trigramRows(catalog, "lph")).toBe(1);
        expect(await trigramRows(catalog, "amm")).toBe(0);
        expect(await trigramRows(catalog, "elt")).toBe(1);
      }
    } finally {
      await catalog.close();
    }
  });
});

describe("find changes nothing", () => {
  it("a catalog that does not exist is not created by a find", async () => {
    const work = tempDir();
    const catalog = join(work, "new", "catalog.db");
    const result = await strata(["--catalog", catalog, "find", "-name", "*x*"], { cwd: work });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("");
    expect(existsSync(catalog)).toBe(false);
  });
});
