/**
 * Issue 11, "Done when": `strata apply` and `strata daemon` move bytes with sync's toolkit. Here,
 * on the embedded store: a policy copy under `--bwlimit` takes at least the capped time, whether
 * `strata apply` or `strata daemon --once` carries it out. (Parts in flight, ranged restores and
 * `--tps`, which need a cloud store, are in toolkit-rgw.test.ts.)
 *
 * The bound: the bandwidth bucket starts full with one second's worth (transfer/rate-limit.ts),
 * so BYTES at RATE take at least (BYTES - RATE) / RATE seconds; unthrottled, this copy takes a
 * fraction of a second. As in the sync test (test/cli/options.test.ts), a tenth is left for the
 * clock's grain.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../support/bytes.js";
import { strata } from "../support/cli.js";
import { sqliteRows } from "../support/sqlite-rows.js";
import { KEEP_ALL, workDir } from "./workdir.js";

const MiB = 1024 * 1024;
/** Two files of 2.5 MiB: 5 MiB at 1 MiB/s after a 1 MiB burst is at least 4 s. */
const FILES = { "data/one.bin": randomBytes(2.5 * MiB), "data/two.bin": randomBytes(2.5 * MiB) };
const CAPPED_MS = 0.9 * 4000;

/** A work dir with the tree, and a config whose one policy copies all of scratch to the embedded store. */
function policyWork(): string {
  return workDir(FILES, ['  archive: { url: "local:store" }', ...KEEP_ALL]);
}

/** The hashes of the replicas the catalog records at `archive`, by path. */
function archivedHashes(work: string): Record<string, string> {
  const rows = sqliteRows<{ path: string; hash: string }>(
    join(work, "cat.db"),
    `SELECT f.path, r.hash FROM replicas r JOIN files f ON f.id = r.file_id
     JOIN locations l ON l.id = r.location_id WHERE l.name = 'archive' AND r.state = 'present'`,
  );
  return Object.fromEntries(rows.map((r) => [r.path, r.hash]));
}

const expectedHashes = Object.fromEntries(Object.entries(FILES).map(([path, bytes]) => [path, sha256Hex(bytes)]));

describe("a policy copy under --bwlimit", () => {
  it("strata apply --bwlimit 1M takes at least the capped time", async () => {
    const work = policyWork();
    const scanned = await strata(["scan", "scratch"], { cwd: work });
    expect(scanned.code, scanned.stderr).toBe(0);
    const started = Date.now();
    const applied = await strata(["--json", "apply", "--bwlimit", "1M"], { cwd: work });
    const elapsed = Date.now() - started;
    expect(applied.stderr).toBe("");
    expect(applied.code).toBe(0);
    expect(JSON.parse(applied.stdout).result.kinds.copy).toMatchObject({ files: 2, bytes: 5 * MiB, failed: 0 });
    expect(elapsed).toBeGreaterThanOrEqual(CAPPED_MS);
    expect(archivedHashes(work)).toEqual(expectedHashes);
  });

  it("strata daemon --once --bwlimit 1M takes at least the capped time", async () => {
    const work = policyWork();
    const started = Date.now();
    const ran = await strata(["--json", "daemon", "--once", "--bwlimit", "1M"], { cwd: work });
    const elapsed = Date.now() - started;
    expect(ran.stderr).toBe("");
    expect(ran.code).toBe(0);
    expect(elapsed).toBeGreaterThanOrEqual(CAPPED_MS);
    expect(archivedHashes(work)).toEqual(expectedHashes);
  });
});

describe("sync's transfer flags on apply, daemon and restore", () => {
  const FLAGS = ["--transfers", "2", "--streams", "auto", "--max-buffer", "64MiB", "--bwlimit", "off", "--tps", "100"];

  it("are accepted with sync's values, and a bad value exits 2 naming its flag", async () => {
    const work = policyWork();
    const run = (...args: string[]) => strata(args, { cwd: work });
    const daemon = await run("daemon", "--once", ...FLAGS);
    expect(daemon.stderr).toBe("");
    expect(daemon.code).toBe(0);
    expect(archivedHashes(work)).toEqual(expectedHashes);
    rmSync(join(work, "tree", "data"), { recursive: true });
    const restore = await run("restore", "scratch:data", ...FLAGS);
    expect(restore.stderr).toBe("");
    expect(restore.code).toBe(0);
    expect(sha256Hex(readFileSync(join(work, "tree", "data/one.bin")))).toBe(expectedHashes["data/one.bin"]);
    const apply = await run("apply", ...FLAGS);
    expect(apply.stderr).toBe("");
    expect(apply.code).toBe(0);
    expect(apply.stdout).toMatch(/nothing to do/);

    for (const [args, flag] of [
      [["apply", "--streams", "0"], "--streams"],
      [["apply", "--tps", "0"], "--tps"],
      [["daemon", "--once", "--max-buffer", "lots"], "--max-buffer"],
      [["restore", "scratch:data", "--bwlimit", "fast"], "--bwlimit"],
    ] as const) {
      const refused = await run(...args);
      expect(refused.code, args.join(" ")).toBe(2);
      expect(refused.stderr, args.join(" ")).toContain(flag);
    }
  });
});
