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
      expect(await found(catalog, ["--sort", "-size", "scratch:runs", "--limit", "1"])).toEqual([
        "scratch:runs/deep/beta.nc",
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

describe("a PostgreSQL role that may not create pg_trgm", () => {
  it("still opens the catalog, and find matches without the index", async () => {
    const url = await freshCatalogUrl("postgres", tempDir());
    const database = new URL(url).pathname.slice(1);
    const role = `limited_${database}`;
    const owner = new pg.Client({ connectionString: url });
    await owner.connect();
    try {
      // Tables in the public schema, but no CREATE on the database: CREATE EXTENSION is refused.
      await owner.query(`CREATE ROLE ${role} LOGIN`);
      await owner.query(`GRANT CREATE, USAGE ON SCHEMA public TO ${role}`);
      await owner.query(`REVOKE CREATE ON DATABASE ${database} FROM PUBLIC`);
    } finally {
      await owner.end();
    }
    const limitedUrl = url.replace(/^postgres:\/\/[^@]+@/, `postgres://${role}@`);
    const catalog = await openCatalog(limitedUrl);
    try {
      const location = await catalog.db
        .insertInto("locations")
        .values({ name: "scratch", url: "file:///scratch", kind: "posix", default_class: null, created_at: 0 })
        .returning("id")
        .executeTakeFirstOrThrow();
      await sql`insert into files (location_id, path, kind, size, mtime_us, atime_us, ctime_us, mode, uid, gid, inode,
          state, first_scan_id, seen_scan_id, changed_scan_id)
        values (${location.id}, 'a/needle.dat', 'file', 1, 0, 0, 0, 33188, 0, 0, 1, 'present', 1, 1, 1),
               (${location.id}, 'needle/hay.dat', 'file', 1, 0, 0, 0, 33188, 0, 0, 2, 'present', 1, 1, 1)`.execute(
        catalog.db,
      );
      const indexes = await sql<{
        indexname: string;
      }>`select indexname from pg_indexes where tablename = 'files'`.execute(catalog.db);
      expect(indexes.rows.map((r) => r.indexname)).not.toContain("files_name_trigrams");
      expect(await found(catalog, ["-name", "*eedl*"])).toEqual(["scratch:a/needle.dat"]);
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
