/**
 * Issue 11, "Done when": a file changed between sync's plan and its copy is skipped as stale by
 * sync, as apply already does with a plan file (that case is test/policy/apply.test.ts, "carries
 * out exactly a plan file, skipping what changed since").
 *
 * Made deterministic, with no sleeps: one transfer at a time, a large first file under a
 * bandwidth cap so that its copy lasts seconds, and the catalog watched (read-only) until the
 * run has journaled both copies as pending with the first still in flight; then the second
 * file is rewritten. Its copy starts after that, and must find the file no longer the version
 * planned.
 *
 * Readings of the spec this relies on: the plan's copies are journaled pending ahead of the
 * copies themselves, as sync does today (in chunks), so the second file's row is there while the
 * first is copied; sync copies in path order, so big.bin goes first with --transfers 1.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vitest } from "vitest";
import { finished, spawnStrata, strata } from "../support/cli.js";
import { sqliteRows } from "../support/sqlite-rows.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";

const MiB = 1024 * 1024;
const OLD = "the version planned";
const NEW = "the version written after planning, longer";

interface JournaledCopy {
  key: string;
  state: string;
}

/** The copy actions of the catalog's latest run, by key; none while the catalog is not made yet. */
function latestCopies(catalog: string): Record<string, string> {
  try {
    const rows = sqliteRows<JournaledCopy>(
      catalog,
      "SELECT key, state FROM actions WHERE kind = 'copy' AND run_id = (SELECT max(id) FROM runs)",
    );
    return Object.fromEntries(rows.map((r) => [r.key, r.state]));
  } catch {
    return {};
  }
}

/** The keys the embedded store at ./store holds whole; none before it has made its index. */
function storedKeys(work: string): string[] {
  try {
    return sqliteRows<{ key: string }>(join(work, "store", "index.db"), "SELECT key FROM objects").map((r) => r.key);
  } catch {
    return [];
  }
}

/**
 * Starts `strata sync tree local:store` (with `flags`) on a tree of big.bin (4 MiB, at 1 MiB/s:
 * about 3 s) and small.txt; once both copies are journaled pending, rewrites small.txt with
 * another size and mtime. Returns the finished run.
 */
async function syncWithRewrite(work: string, flags: string[]) {
  writeTree(join(work, "tree"), { "big.bin": randomBytes(4 * MiB), "small.txt": OLD });
  const catalog = join(work, "c.db");
  const child = spawnStrata(
    ["--catalog", catalog, ...flags, "sync", "tree", "local:store", "--transfers", "1", "--bwlimit", "1M"],
    { cwd: work },
  );
  const done = finished(child);
  await vitest.waitUntil(
    () => {
      const copies = latestCopies(catalog);
      return copies["big.bin"] === "pending" && copies["small.txt"] === "pending";
    },
    { timeout: 30_000, interval: 10 },
  );
  writeFileSync(join(work, "tree", "small.txt"), NEW);
  utimesSync(join(work, "tree", "small.txt"), 1_700_000_000, 1_700_000_000);
  // big.bin was not yet stored when small.txt changed: with one transfer, small.txt's copy had not begun.
  expect(storedKeys(work)).not.toContain("big.bin");
  const result = await done;
  expect(latestCopies(catalog)).toEqual({ "big.bin": "done", "small.txt": "skipped" });
  return result;
}

/** What the catalog records at the store for small.txt: nothing, or the hash of what was copied. */
function smallReplicas(work: string): { state: string }[] {
  return sqliteRows(
    join(work, "c.db"),
    `SELECT r.state FROM replicas r JOIN files f ON f.id = r.file_id WHERE f.path = 'small.txt'`,
  );
}

/** The files the catalog's copy events name: the stale-skipped copy writes none. */
function copyEvents(work: string): string[] {
  return sqliteRows<{ path: string }>(
    join(work, "c.db"),
    "SELECT f.path FROM events e JOIN files f ON f.id = e.file_id WHERE e.kind = 'copy' ORDER BY f.path",
  ).map((r) => r.path);
}

/** The next sync copies the new version: brought back from the store, it reads NEW. */
async function expectNextSyncCopiesNewVersion(work: string): Promise<void> {
  const cat = ["--catalog", join(work, "c.db")];
  const next = await strata([...cat, "--json", "sync", "tree", "local:store"], { cwd: work });
  expect(next.stderr).toBe("");
  expect(next.code).toBe(0);
  const result = JSON.parse(next.stdout).result;
  expect([result.copied.files, result.stale]).toEqual([1, 0]);
  const back = await strata([...cat, "sync", "local:store", "./back"], { cwd: work });
  expect(back.code, back.stderr).toBe(0);
  expect(readFileSync(join(work, "back", "small.txt"), "utf8")).toBe(NEW);
}

describe("strata sync: a file rewritten after the plan, before its copy", () => {
  it("is skipped as stale, counted in --json as result.stale, exit 0; the next sync copies the new version", async () => {
    const work = tempDir("strata-stale-");
    const run = await syncWithRewrite(work, ["--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout).result;
    expect([result.copied.files, result.stale, result.failures]).toEqual([1, 1, []]);
    // Not copied, and no replica vouching for the version planned.
    expect(smallReplicas(work)).toEqual([]);
    expect(copyEvents(work)).toEqual(["big.bin"]);
    await expectNextSyncCopiesNewVersion(work);
  });

  it('is reported as "1 stale" in the summary, not as a failure', async () => {
    const work = tempDir("strata-stale-");
    const run = await syncWithRewrite(work, []);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/\b1 stale\b/);
    expect(run.stdout).toMatch(/failed 0\b/);
    expect(smallReplicas(work)).toEqual([]);
  });
});
