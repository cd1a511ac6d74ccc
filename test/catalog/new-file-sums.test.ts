import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type CatalogDb, openCatalog } from "../../src/catalog/db.js";
import { type FileStat, FileUpserter, startScan } from "../../src/catalog/files.js";
import { dirName } from "../../src/catalog/new-file-sums.js";
import { SIZE_BUCKET_BOUNDS } from "../../src/catalog/summaries.js";
import { tempDir } from "../support/tmp.js";

/**
 * The scan's bulk path sums its new rows' du contributions in memory (src/catalog/new-file-sums.ts),
 * a second spelling of what the summary triggers define. Held here to the triggers: the same
 * entries written once through the bulk path and once row by row (a catalog whose location
 * already has a row takes the upsert path, triggers on) leave the same summary tables.
 */

const PATH_SHAPES = [
  "top",
  "a/b/c.txt",
  "a//b",
  "a/b/",
  "/lead",
  "//",
  "x/",
  "a b/é x",
  "emoji/😀/file😀",
  "ünïcödé/名前/ファイル.txt",
  `${"deep/".repeat(40)}leaf.nc`,
];

const DAY_US = 86_400_000_000;
/** Sizes at and around every bucket bound, and beyond the last. */
const SIZES = [0, ...SIZE_BUCKET_BOUNDS.flatMap((b) => [b - 1, b, b + 1]), 2 ** 40];
/** Access times in many 30-day periods, before 1970 too (SQL division truncates toward zero). */
const ATIMES = [
  -45 * DAY_US,
  -1,
  0,
  1,
  29 * DAY_US,
  31 * DAY_US,
  1_700_000_000_000_000,
  1_700_000_000_000_000 + 400 * DAY_US,
];

function entries(count: number): FileStat[] {
  return Array.from({ length: count }, (_, i) => {
    const shape = PATH_SHAPES[i % PATH_SHAPES.length] as string;
    return {
      // Unique paths of each shape: a suffix on the last segment, or a directory of its own.
      path: i < PATH_SHAPES.length ? shape : `g${i % 37}/${shape}${i}`,
      kind: i % 11 === 0 ? "dir" : i % 13 === 0 ? "symlink" : "file",
      size: SIZES[(i * 7) % SIZES.length] as number,
      mtimeUs: 0,
      atimeUs: ATIMES[(i * 5) % ATIMES.length] as number,
      ctimeUs: 0,
      mode: 0o100644,
      uid: 1000 + (i % 3),
      gid: 50 + (i % 2),
      inode: i + 1,
    };
  });
}

type Rows = Record<string, unknown>[];

async function summaryTables(catalog: CatalogDb): Promise<{ dirs: Rows; buckets: Rows }> {
  const dirs = await catalog.db.selectFrom("usage_dirs").selectAll().orderBy("dir").orderBy("age_period").execute();
  const buckets = await catalog.db
    .selectFrom("usage_buckets")
    .selectAll()
    .orderBy("uid")
    .orderBy("gid")
    .orderBy("size_bucket")
    .orderBy("age_period")
    .execute();
  return { dirs, buckets };
}

/** `batches` written to a new catalog's `scratch`; with `rowByRow`, after a directory row that turns the bulk path off. */
async function written(dir: string, batches: FileStat[][], rowByRow: boolean): Promise<{ dirs: Rows; buckets: Rows }> {
  const catalog = await openCatalog(`sqlite:${join(dir, rowByRow ? "rows.db" : "bulk.db")}`);
  try {
    const { id } = await catalog.db
      .insertInto("locations")
      .values({ name: "scratch", url: "file:///scratch", kind: "posix", created_at: 0 })
      .returning("id")
      .executeTakeFirstOrThrow();
    const scanId = await startScan(catalog, id);
    if (rowByRow) {
      // A directory counts in no summary, so both catalogs' tables start empty.
      const [first] = entries(1);
      await new FileUpserter(catalog, id, scanId).write([{ ...(first as FileStat), path: "zz-dir", kind: "dir" }]);
    }
    // Row by row, each batch gets an upserter of its own: one that saw only new rows would take
    // the bulk path for the next batch.
    const bulk = new FileUpserter(catalog, id, scanId);
    for (const batch of batches) await (rowByRow ? new FileUpserter(catalog, id, scanId) : bulk).write(batch);
    return await summaryTables(catalog);
  } finally {
    await catalog.close();
  }
}

describe("the bulk path's du sums", () => {
  it("equal the triggers' sums on the same rows", { timeout: 60_000 }, async () => {
    const dir = tempDir("strata-sums-");
    const all = entries(5_000);
    // Two transactions, so the second adds onto rows the first made.
    const batches = [all.slice(0, 2_500), all.slice(2_500)];
    const bulk = await written(dir, batches, false);
    const rows = await written(dir, batches, true);
    expect(bulk.dirs.length).toBeGreaterThan(40);
    expect(new Set(bulk.buckets.map((b) => b.size_bucket)).size).toBe(SIZE_BUCKET_BOUNDS.length + 1);
    expect(bulk).toEqual(rows);
  });

  it("equal them on a walk's order, where keys repeat, and past 2^53 bytes", { timeout: 60_000 }, async () => {
    const dir = tempDir("strata-sums-");
    // As a walk hands them over: a directory's entries together, one owner per directory.
    const walked = entries(4_000)
      .map((e, i) => ({ ...e, uid: 1000 + (e.path.length % 2), size: i % 3 === 0 ? 4096 : e.size }))
      .sort((a, b) => (a.path < b.path ? -1 : 1));
    // Sparse giants in one directory: their sum is past what a double holds exactly.
    const giants = ["big/a", "big/b", "big/c"].map((path, i) => ({
      ...(walked[0] as FileStat),
      path,
      size: i === 0 ? 2 ** 53 : 1,
    }));
    const batches = [walked.slice(0, 2_000), [...walked.slice(2_000), ...giants]];
    const bulk = await written(dir, batches, false);
    expect(bulk.dirs.find((d) => d.dir === "big")?.bytes).toBe(2 ** 53 + 2);
    expect(bulk).toEqual(await written(dir, batches, true));
  });

  it("spell a path's directory as the SQL does", () => {
    expect(["top", "a/b/c.txt", "a//b", "a/b/", "/lead", "//", "x/"].map(dirName)).toEqual([
      "",
      "a/b",
      "a",
      "a/b",
      "",
      "",
      "x",
    ]);
  });
});
