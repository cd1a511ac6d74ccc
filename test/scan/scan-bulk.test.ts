import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Migrator, sql } from "kysely";
import { describe, expect, it } from "vitest";
import { type CatalogDb, openCatalog } from "../../src/catalog/db.js";
import { type FileStat, FileUpserter, finishScan, startScan } from "../../src/catalog/files.js";
import { migrations } from "../../src/catalog/migrations.js";
import { BULK_DONE_FILE_TRIGGERS } from "../../src/catalog/summaries.js";
import { catalogRows } from "../query/du-brute.js";
import { expectSummariesMatchRows } from "../query/summaries-check.js";
import { CATALOG_KINDS, type CatalogKind, freshCatalogUrl, kyselyAt } from "../support/catalogs.js";
import { type CliResult, strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { killScanOnceCommitted } from "./kill-scan.js";

/**
 * Issue 16, the scan's bulk path (src/catalog/files.ts, FileUpserter.insertNew): new rows
 * inserted with the per-row triggers skipped on SQLite, their du summaries and name trigrams
 * added per batch. Whatever path a row took, the summaries must equal the sums over the rows and
 * a leading-wildcard find must see every name.
 */

/** More than one writer transaction (10,000 entries) and many statements of 1,000 rows. */
const FILES = 12_000;
const PER_DIR = 500;
const DAY_S = 86_400;

/** File i's path: d1 is one of du's requests (summaries-check.ts); every 997th name holds a needle. */
const pathOf = (i: number) => `d${Math.floor(i / PER_DIR)}/f${i}${i % 997 === 0 ? "_needle" : ""}.dat`;

/** A tree at `work/tree` of FILES files of varied sizes and access times (several of du's buckets and periods). */
function writeTree(work: string): void {
  const tree = join(work, "tree");
  const now = Date.now() / 1000;
  for (let i = 0; i < FILES; i++) {
    if (i % PER_DIR === 0) mkdirSync(join(tree, `d${i / PER_DIR}`), { recursive: true });
    const file = join(tree, pathOf(i));
    writeFileSync(file, "x".repeat(i % 7 === 0 ? 5000 + i : i % 50));
    const atime = now - ([5, 45, 100, 400][i % 4] as number) * DAY_S;
    utimesSync(file, atime, now - 365 * DAY_S);
  }
}

/** A workspace whose configuration names the tree `scratch`, as du's requests in summaries-check.ts do. */
async function workspace(kind: CatalogKind): Promise<{ work: string; url: string }> {
  const work = tempDir("strata-bulk-");
  const url = await freshCatalogUrl(kind, work);
  writeFileSync(join(work, "strata.yaml"), ["locations:", "  scratch:", "    url: ./tree", ""].join("\n"));
  return { work, url };
}

/** The `scratch` location, added to the catalog directly (for tests that write rows without a scan). */
function scratchLocation(catalog: CatalogDb, work: string): Promise<{ id: number }> {
  return catalog.db
    .insertInto("locations")
    .values({ name: "scratch", url: `file://${join(work, "tree")}`, kind: "posix", created_at: 0 })
    .returning("id")
    .executeTakeFirstOrThrow();
}

function expectOk(result: CliResult, what: string): void {
  expect(result.code, `${what}: ${result.stderr}`).toBe(0);
}

async function needles(url: string, work: string): Promise<string[]> {
  const found = await strata(["--catalog", url, "find", "-name", "*needle*"], { cwd: work });
  expectOk(found, "find");
  return found.stdout.split("\n").filter(Boolean).sort();
}

const expectedNeedles = (count = FILES) =>
  Array.from({ length: count }, (_, i) => i)
    .filter((i) => i % 997 === 0)
    .map((i) => `scratch:${pathOf(i)}`)
    .sort();

/** Whether the SQLite catalog at `url` holds the (uid, size) index, read on a connection of its own. */
function hasOwnerSizeIndex(url: string): boolean {
  const db = new Database(url, { readonly: true, fileMustExist: true });
  try {
    return (
      db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'files_owner_size'").get() !== undefined
    );
  } finally {
    db.close();
  }
}

function entry(path: string, i: number): FileStat {
  const day = 86_400_000_000;
  return {
    path,
    kind: "file",
    size: (i * 37) % 70_000,
    mtimeUs: 1_700_000_000_000_000,
    atimeUs: 1_700_000_000_000_000 + (i % 5) * 40 * day,
    ctimeUs: 1_700_000_000_000_000,
    mode: 0o100644,
    uid: 1000 + (i % 3),
    gid: 50,
    inode: 10 + i,
  };
}

describe.each(CATALOG_KINDS)("the scan's bulk path on %s", (kind: CatalogKind) => {
  it("a fresh scan's summaries equal the sums over its rows, and find sees every name", {
    timeout: 240_000,
  }, async () => {
    const { work, url } = await workspace(kind);
    writeTree(work);
    const fresh = await strata(["--catalog", url, "scan", "scratch"], { cwd: work });
    expectOk(fresh, "fresh scan");
    // Its files and directories, all new: counted while the writer built the deferred index,
    // which is there once the command has ended.
    const entries = (FILES + FILES / PER_DIR).toLocaleString("en");
    expect(fresh.stdout).toMatch(new RegExp(`: ${entries} entries .*; ${entries} new, 0 changed, 0 deleted`));
    if (kind === "sqlite") expect(hasOwnerSizeIndex(url)).toBe(true);
    await expectSummariesMatchRows(url, work, "after a fresh scan");
    expect(await needles(url, work)).toEqual(expectedNeedles());

    // A re-scan takes the upsert path and changes nothing a summary counts.
    const rescan = await strata(["--catalog", url, "scan", "scratch"], { cwd: work });
    expectOk(rescan, "re-scan");
    expect(rescan.stdout).toMatch(/ 0 new, 0 changed, 0 deleted/);
    await expectSummariesMatchRows(url, work, "after a re-scan");
    expect(await needles(url, work)).toEqual(expectedNeedles());
  });

  it("a batch that meets a row another connection inserted stays exact", { timeout: 120_000 }, async () => {
    const { work, url } = await workspace(kind);
    const catalog = await openCatalog(url);
    const other = kyselyAt(kind, url);
    try {
      const location = await scratchLocation(catalog, work);
      const scanId = await startScan(catalog, location.id);
      const upserter = new FileUpserter(catalog, location.id, scanId);
      const entries = Array.from({ length: 6_000 }, (_, i) => entry(pathOf(i), i));
      await upserter.write(entries.slice(0, 2_000));
      // Another writer's row, in the second statement of the next batch, with other attributes.
      await other
        .insertInto("files")
        .values({
          location_id: location.id,
          path: pathOf(3_500),
          kind: "file",
          size: 123_456_789,
          mtime_us: 0,
          atime_us: 0,
          ctime_us: 0,
          mode: 0o100600,
          uid: 7,
          gid: 7,
          inode: 1,
          state: "present",
          first_scan_id: scanId,
          seen_scan_id: scanId,
          changed_scan_id: scanId,
        })
        .execute();
      await upserter.write(entries.slice(2_000, 5_000));
      await upserter.write(entries.slice(5_000));
      const rows = await catalogRows(url);
      expect(rows.files).toHaveLength(6_000);
      expect(Number(rows.files.find((f) => f.path === pathOf(3_500))?.size)).toBe(entries[3_500]?.size);
      await expectSummariesMatchRows(url, work, "after a batch met another writer's row");
      expect(await needles(url, work)).toEqual(expectedNeedles(6_000));
    } finally {
      await other.destroy();
      await catalog.close();
    }
  });

  it("a re-scan marks unchanged rows seen, learns hashes and rewrites changed rows", { timeout: 120_000 }, async () => {
    const { work, url } = await workspace(kind);
    const catalog = await openCatalog(url);
    try {
      const location = await scratchLocation(catalog, work);
      const entries = Array.from({ length: 3_000 }, (_, i) => entry(pathOf(i), i));
      const first = await startScan(catalog, location.id);
      await new FileUpserter(catalog, location.id, first).write(entries);
      await finishScan(catalog, location.id, first, [], 0);

      // As an object store's listing carries them: hashes for rows that had none; some rows changed.
      const again = entries.map((e, i) =>
        i % 3 === 0 ? { ...e, hash: `h${i}` } : i % 3 === 1 && i % 2 === 0 ? { ...e, size: e.size + 1, uid: 9 } : e,
      );
      const second = await startScan(catalog, location.id);
      await new FileUpserter(catalog, location.id, second).write(again);
      const counts = await finishScan(catalog, location.id, second, [], 0);
      expect(counts).toMatchObject({ files: 3_000, newFiles: 0, deletedFiles: 0, changedFiles: 500 });
      const rows = new Map((await catalogRows(url)).files.map((f) => [f.path, f]));
      for (const [i, e] of again.entries()) {
        const row = rows.get(e.path);
        expect({ size: Number(row?.size), uid: Number(row?.uid), hash: row?.hash ?? undefined }, e.path).toEqual({
          size: e.size,
          uid: e.uid,
          hash: i % 3 === 0 ? `h${i}` : undefined,
        });
      }
      await expectSummariesMatchRows(url, work, "after a re-scan that changed some rows");
    } finally {
      await catalog.close();
    }
  });

  it("converges on a re-scan after a SIGKILL between two of a fresh scan's commits", { timeout: 240_000 }, async () => {
    const { work, url } = await workspace(kind);
    writeTree(work);
    // Migrated first, so the polling below has tables to read.
    await (await openCatalog(url)).close();
    await killScanOnceCommitted(kind, url, ["scan", "scratch"], work);
    expectOk(await strata(["--catalog", url, "scan", "scratch"], { cwd: work }), "re-scan");
    if (kind === "sqlite") expect(hasOwnerSizeIndex(url)).toBe(true);
    const rows = await catalogRows(url);
    expect(rows.files.filter((f) => f.kind === "file" && f.state === "present")).toHaveLength(FILES);
    await expectSummariesMatchRows(url, work, "after a killed fresh scan and a re-scan");
    expect(await needles(url, work)).toEqual(expectedNeedles());
  });
});

describe("indexes a first load into an empty SQLite catalog builds after its rows", () => {
  async function writeWith(catalog: CatalogDb, work: string, during: () => void): Promise<void> {
    const location = await scratchLocation(catalog, work);
    const upserter = new FileUpserter(catalog, location.id, await startScan(catalog, location.id));
    const entries = Array.from({ length: 3_000 }, (_, i) => entry(pathOf(i), i));
    await upserter.write(entries.slice(0, 1_500));
    during();
    await upserter.write(entries.slice(1_500));
    await upserter.finish();
  }

  it("drops files_owner_size for the load of an empty catalog and builds it at the end", async () => {
    const { work, url } = await workspace("sqlite");
    const catalog = await openCatalog(url);
    try {
      expect(hasOwnerSizeIndex(url)).toBe(true);
      await writeWith(catalog, work, () => expect(hasOwnerSizeIndex(url)).toBe(false));
      expect(hasOwnerSizeIndex(url)).toBe(true);
    } finally {
      await catalog.close();
    }
  });

  it("a load that ends before building it leaves the catalog without it until the next scan's end", async () => {
    const { work, url } = await workspace("sqlite");
    const catalog = await openCatalog(url);
    const location = await scratchLocation(catalog, work);
    try {
      await new FileUpserter(catalog, location.id, await startScan(catalog, location.id)).write([entry("a.dat", 1)]);
    } finally {
      // As a killed scan would: the writer's connection gone before its finish.
      await catalog.close();
    }
    expect(hasOwnerSizeIndex(url)).toBe(false);
    // Opening writes nothing: commands that only read never build it.
    const again = await openCatalog(url);
    try {
      expect(hasOwnerSizeIndex(url)).toBe(false);
      const rescan = new FileUpserter(again, location.id, await startScan(again, location.id));
      await rescan.write([entry("a.dat", 1)]);
      await rescan.finish();
      expect(hasOwnerSizeIndex(url)).toBe(true);
    } finally {
      await again.close();
    }
  });

  it("keeps files_owner_size while a load writes into a catalog that holds files", async () => {
    const { work, url } = await workspace("sqlite");
    const catalog = await openCatalog(url);
    try {
      const other = await catalog.db
        .insertInto("locations")
        .values({ name: "other", url: `file://${join(work, "other")}`, kind: "posix", created_at: 0 })
        .returning("id")
        .executeTakeFirstOrThrow();
      const first = new FileUpserter(catalog, other.id, await startScan(catalog, other.id));
      await first.write([entry("kept.dat", 1)]);
      await first.finish();
      await writeWith(catalog, work, () => expect(hasOwnerSizeIndex(url)).toBe(true));
    } finally {
      await catalog.close();
    }
  });
});

describe("the files insert triggers around a first load into a SQLite catalog", () => {
  /** The SQL of each trigger on `files`, by name, read on a connection of its own. */
  function fileTriggers(url: string): Map<string, string> {
    const db = new Database(url, { readonly: true, fileMustExist: true });
    try {
      const rows = db
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'files'")
        .all() as { name: string; sql: string }[];
      return new Map(rows.map((row) => [row.name, row.sql]));
    } finally {
      db.close();
    }
  }

  it("the bulk path does the work of every insert trigger on files", async () => {
    const { url } = await workspace("sqlite");
    await (await openCatalog(url)).close();
    const inserts = [...fileTriggers(url)].filter(([, text]) => /\bAFTER\s+INSERT\s+ON\s+files\b/i.test(text));
    expect(inserts.map(([name]) => name).sort()).toEqual([...BULK_DONE_FILE_TRIGGERS].sort());
  });

  /** A fresh catalog with the `scratch` location, its triggers as made, and a first load's upserter. */
  async function firstLoad(
    test: (load: {
      catalog: CatalogDb;
      work: string;
      url: string;
      locationId: number;
      before: Map<string, string>;
      upserter: FileUpserter;
    }) => Promise<void>,
  ): Promise<void> {
    const { work, url } = await workspace("sqlite");
    const catalog = await openCatalog(url);
    try {
      const before = fileTriggers(url);
      const location = await scratchLocation(catalog, work);
      const upserter = new FileUpserter(catalog, location.id, await startScan(catalog, location.id));
      await test({ catalog, work, url, locationId: location.id, before, upserter });
    } finally {
      await catalog.close();
    }
  }

  it("drops them only inside its transactions, and makes them again as they were", () =>
    firstLoad(async ({ catalog, work, url, locationId, before, upserter }) => {
      const entries = Array.from({ length: 3_000 }, (_, i) => entry(pathOf(i), i));
      await upserter.write(entries.slice(0, 1_500));
      // Between two of the load's transactions, another connection sees them all.
      expect(fileTriggers(url)).toEqual(before);
      await upserter.write(entries.slice(1_500));
      expect(fileTriggers(url)).toEqual(before);
      // And they fire again: a row inserted by anyone else is counted and named.
      await catalog.db.insertInto("files").values(fileRowOf(locationId, "late/one_needle.dat")).execute();
      const late = await catalog.db
        .selectFrom("usage_dirs")
        .select("files")
        .where("dir", "=", "late")
        .executeTakeFirst();
      expect(late?.files).toBe(1);
      expect(await needles(url, work)).toContain("scratch:late/one_needle.dat");
    }));

  it("a load that fails inside its insert leaves them in place and no row behind", () =>
    firstLoad(async ({ catalog, url, before, upserter }) => {
      const entries = Array.from({ length: 2_500 }, (_, i) => entry(pathOf(i), i));
      // The third statement's rows break NOT NULL: the first two are inserted, then it fails.
      (entries[2_100] as { path: unknown }).path = null;
      await expect(upserter.write(entries)).rejects.toThrow(/NOT NULL/);
      expect(fileTriggers(url)).toEqual(before);
      const { n } = await catalog.db
        .selectFrom("files")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .executeTakeFirstOrThrow();
      expect(Number(n)).toBe(0);
    }));
});

describe("migration 0028: the files insert triggers without the bulk marker", () => {
  it("makes them again without their WHEN, drops the marker, and keeps du and the name index exact", async () => {
    const { work, url } = await workspace("sqlite");
    const db = kyselyAt("sqlite", url);
    let id: number;
    try {
      const { error } = await new Migrator({ db, provider: migrations("sqlite") }).migrateTo("0027_trigram_merges");
      if (error) throw error;
      ({ id } = await db
        .insertInto("locations")
        .values({ name: "scratch", url: `file://${join(work, "tree")}`, kind: "posix", created_at: 0 })
        .returning("id")
        .executeTakeFirstOrThrow());
      // Row by row through the triggers and their WHEN, as 0027's writers other than a scan did.
      for (let i = 0; i < 40; i++)
        await db
          .insertInto("files")
          .values(fileRowOf(id, pathOf(i)))
          .execute();
    } finally {
      await db.destroy();
    }
    const catalog = await openCatalog(url);
    try {
      const triggers = await sql<{ sql: string }>`SELECT sql FROM sqlite_master
        WHERE sql LIKE '%files_bulk_insert%'`.execute(catalog.db);
      expect(triggers.rows).toEqual([]);
      // They fire without their WHEN: more rows inserted one by one, and a scan's load beside them.
      for (let i = 40; i < 60; i++)
        await catalog.db
          .insertInto("files")
          .values(fileRowOf(id, pathOf(i)))
          .execute();
      const upserter = new FileUpserter(catalog, id, await startScan(catalog, id));
      await upserter.write(Array.from({ length: 1_500 }, (_, i) => entry(pathOf(60 + i), i)));
      await upserter.finish();
    } finally {
      await catalog.close();
    }
    await expectSummariesMatchRows(url, work, "after migration 0028 and a load");
    expect(await needles(url, work)).toEqual(expectedNeedles(1_560));
  });
});

/** A plain row of `files`, as a writer other than a scan's bulk path inserts it. */
function fileRowOf(locationId: number, path: string) {
  return {
    location_id: locationId,
    path,
    kind: "file" as const,
    size: 10,
    mtime_us: 0,
    atime_us: 0,
    ctime_us: 0,
    mode: 0o100644,
    uid: 1,
    gid: 1,
    inode: 1,
    state: "present" as const,
    first_scan_id: 1,
    seen_scan_id: 1,
    changed_scan_id: 1,
  };
}
