import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { LocalStoreBackend } from "../../src/backends/local/local-backend.js";
import { put } from "../backends/contract.js";
import { STRATA_BIN, strata } from "../support/cli.js";
import { failedPaths, makeJail, writePlantedConfig } from "../support/confinement.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";

/**
 * Keys and metadata are written by whoever can write the store: here straight into the embedded
 * store's index, never through Strata's CLI. Each key tries one way out of the target.
 */
const HOSTILE_KEYS = [
  "..\uF700/x", // an escaped "/" after "..": writes beside the target
  "\uF700.\uF700.\uF700/x", // "..", every character escaped
  "..\uF700/made/x", // would create directories outside before a check refused
  "a/\uF700.\uF700./\uF700.\uF700./x", // escaped ".." segments below a real one
  "link/x", // a symlink inside the target that leads out of it
  "link/deeper/x",
  "a/../../x",
  "/abs/x",
  "nul\0/x",
];
const MTIME_US = 1_600_000_000_000_000;

const OTHER_USER = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

/** The wrapper that runs the CLI as nobody, after checking nobody can reach the checkout at all. */
function asNobody(): string[] {
  try {
    execFileSync(OTHER_USER[0] as string, [...OTHER_USER.slice(1), "test", "-r", STRATA_BIN], { stdio: "ignore" });
  } catch {
    throw new Error(`uid 65534 cannot read ${STRATA_BIN}: run the suite from a checkout every user can read`);
  }
  return OTHER_USER;
}

async function hostileStore(dir: string, extra: Record<string, string> = {}) {
  const store = await LocalStoreBackend.open(dir, `local://${dir}`, { restoreDelayMs: 0 });
  for (const key of [...HOSTILE_KEYS, "ok/good.txt"]) {
    await put(store, key, `planted as ${JSON.stringify(key)}\n`, { attributes: { mtimeUs: MTIME_US, mode: 0o644 } });
  }
  for (const [key, mode] of Object.entries(extra)) {
    // What any client can set: the metadata of a file Strata would give to root with setuid.
    await put(store, key, "#!/bin/sh\nid\n", {
      attributes: { mtimeUs: MTIME_US, mode: Number.parseInt(mode, 8), uid: 0, gid: 0 },
    });
  }
  await store.close();
}

describe("keys that try to leave the target (embedded store)", () => {
  it("sync store → directory writes every safe key and nothing outside the target", async () => {
    const work = tempDir();
    writePlantedConfig(work);
    await hostileStore(join(work, "planted"));
    const jail = makeJail(work);
    const before = jail.outside();

    const result = await strata(["--json", "sync", "planted", jail.target], { cwd: work });

    expect(jail.outside()).toEqual(before);
    expect(readFileSync(join(jail.target, "ok", "good.txt"), "utf8")).toMatch(/planted/);
    expect(existsSync(join(jail.target, "a", "..\uF700"))).toBe(false);
    expect(result.code).toBe(1);
    expect(failedPaths(result.stdout)).toEqual([...HOSTILE_KEYS].sort());
    expect(result.stderr).toContain("failed: ..\\uf700/x: ");
    expect(result.stderr).toMatch(/malformed name escape: U\+F700 at 2 is followed by U\+002F/);
    expect(result.stderr).toMatch(/link\/x.*"link" is a symlink/);
  });

  it("restore --to writes every safe key and nothing outside the target", async () => {
    const work = tempDir();
    writePlantedConfig(work);
    await hostileStore(join(work, "planted"));
    expect((await strata(["sync", "planted", "mirror"], { cwd: work })).code).toBe(0);
    const jail = makeJail(work);
    const before = jail.outside();

    const result = await strata(["--json", "restore", "planted:", "--to", jail.target], { cwd: work });

    expect(jail.outside()).toEqual(before);
    expect(readFileSync(join(jail.target, "ok", "good.txt"), "utf8")).toMatch(/planted/);
    expect(result.code).toBe(1);
    expect(failedPaths(result.stdout)).toEqual([...HOSTILE_KEYS].sort());
  });

  it("metadata cannot make a setuid root file unless root asks with both flags", async () => {
    const work = tempDir();
    writePlantedConfig(work);
    await hostileStore(join(work, "planted"), { "bin/suid": "6755", "bin/sticky": "1777" });
    const jail = makeJail(work);

    await strata(["sync", "planted", jail.target], { cwd: work });
    expect(lstatSync(join(jail.target, "bin", "suid")).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(jail.target, "bin", "sticky")).mode & 0o7777).toBe(0o777);

    // Asked for, the bits still never land on a file owned by root.
    const asked = makeJail(join(work, "asked"));
    await strata(["sync", "planted", asked.target, "--preserve-special-bits"], { cwd: work });
    expect(asked.specialFiles()).toEqual([]);
    expect(lstatSync(join(asked.target, "bin", "suid")).mode & 0o7777).toBe(0o755);

    // Root restoring system files it trusts says so twice; then the recorded root owner counts.
    const trusted = makeJail(join(work, "trusted"));
    const flags = ["--preserve-special-bits", "--preserve-root-owner"];
    await strata(["sync", "planted", trusted.target, ...flags], { cwd: work });
    expect(lstatSync(join(trusted.target, "bin", "suid")).mode & 0o7777).toBe(0o6755);
    expect(lstatSync(join(trusted.target, "bin", "sticky")).mode & 0o7777).toBe(0o1777);
  });

  it("--preserve-special-bits keeps them on files that a user other than root writes", async () => {
    const work = tempDir();
    chmodSync(work, 0o777);
    writePlantedConfig(work);
    await hostileStore(join(work, "planted"), { "bin/suid": "6755" });
    execFileSync("chmod", ["-R", "a+rwX", join(work, "planted")]);
    const asUser = { cwd: work, wrapper: asNobody() };
    const plain = join(work, "plain");
    const kept = join(work, "kept");
    for (const [dir, flags] of [
      [plain, []],
      [kept, ["--preserve-special-bits"]],
    ] as const) {
      const result = await strata(
        ["--catalog", join(work, `${dir}.db`), "sync", "local:planted", dir, ...flags],
        asUser,
      );
      expect(result.code, result.stderr).toBe(1);
    }
    expect(lstatSync(join(plain, "bin", "suid")).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(kept, "bin", "suid")).mode & 0o7777).toBe(0o6755);
    expect(lstatSync(join(kept, "bin", "suid")).uid).toBe(65534);
  });

  it("--preserve-root-owner is for root only", async () => {
    const work = tempDir();
    chmodSync(work, 0o777);
    writePlantedConfig(work);
    const result = await strata(["sync", "planted", join(work, "out"), "--preserve-root-owner"], {
      cwd: work,
      wrapper: asNobody(),
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--preserve-root-owner: only root/);
  });
});

describe("a tampered index of the embedded store", () => {
  it("never deletes a file outside the store, whatever a blob value says", async () => {
    const work = tempDir();
    writePlantedConfig(work);
    const tree = join(work, "tree");
    writeTree(tree, { "a.txt": "first\n", "b.txt": "first\n" });
    const catalog = ["--catalog", join(work, "tree.db")];
    expect((await strata([...catalog, "sync", tree, "local:planted"], { cwd: work })).code).toBe(0);
    const victim = join(work, "victim.txt");
    writeFileSync(victim, "not the store's\n");
    const index = new Database(join(work, "planted", "index.db"));
    index.prepare("UPDATE objects SET blob = ? WHERE key IN ('a.txt', 'b.txt')").run("../../victim.txt");
    index.close();

    writeFileSync(join(tree, "a.txt"), "second, longer\n");
    const overwrite = await strata([...catalog, "sync", tree, "local:planted"], { cwd: work });
    expect(readFileSync(victim, "utf8")).toBe("not the store's\n");
    expect(overwrite.code).toBe(1);
    expect(overwrite.stderr).toMatch(/failed: a\.txt: .*"a\.txt".*blob "\.\.\/\.\.\/victim\.txt"/);

    rmSync(join(tree, "b.txt"));
    const removed = await strata([...catalog, "sync", tree, "local:planted", "--delete", "--force"], { cwd: work });
    expect(readFileSync(victim, "utf8")).toBe("not the store's\n");
    expect(removed.code).toBe(1);
  });
});
