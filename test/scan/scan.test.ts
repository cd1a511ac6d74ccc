import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { keyToBytes } from "../../src/backends/keys.js";
import { openCatalog } from "../../src/catalog/db.js";
import { strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { oddTree, writeTree } from "../support/trees.js";

/** Root reads every directory; to meet an unreadable one the scan runs as nobody. */
const AS_NOBODY = process.getuid?.() === 0 ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];

async function catalogEntries(catalogPath: string) {
  const catalog = await openCatalog(catalogPath);
  const rows = await catalog.db.selectFrom("files").select(["path", "kind", "state", "size"]).orderBy("path").execute();
  await catalog.close();
  return rows;
}

describe("strata scan", () => {
  it("records odd names exactly, symlinks unfollowed, and reports an unreadable directory, on threads and on its own", async () => {
    const work = tempDir();
    chmodSync(work, 0o777);
    const tree = join(work, "tree");
    mkdirSync(tree);
    const files = oddTree(tree);
    writeTree(tree, { "locked/secret.txt": "hidden", "open/visible.txt": "seen" });
    chmodSync(join(tree, "locked"), 0o000);
    const catalogPath = join(work, "catalog.db");

    // The first scan walks on threads; the second, of a tree that small, on the main thread.
    const scans = [];
    for (let round = 0; round < 2; round++) {
      scans.push(await strata(["--catalog", catalogPath, "--json", "scan", tree], { cwd: work, wrapper: AS_NOBODY }));
    }
    chmodSync(join(tree, "locked"), 0o755);

    expect(scans.map((s) => JSON.parse(s.stdout).scan.threads)).toEqual([3, 0]);
    for (const result of scans) {
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/locked: EACCES/);
      expect(result.stderr).toMatch(/1 entries could not be read/);
    }
    expect(JSON.parse(scans[1]?.stdout ?? "").scan).toMatchObject({ newFiles: 0, changedFiles: 0, deletedFiles: 0 });
    const rows = await catalogEntries(catalogPath);
    expect(rows.every((r) => r.state === "present")).toBe(true);
    const filePaths = rows.filter((r) => r.kind === "file").map((r) => keyToBytes(r.path));
    for (const expected of files) expect(filePaths.some((p) => p.equals(expected))).toBe(true);
    expect(rows.filter((r) => r.kind === "symlink").map((r) => r.path)).toEqual(["loop", "ping", "pong"]);
    expect(rows.find((r) => r.path.endsWith("l99/bottom.txt"))?.size).toBe("at the bottom".length);
    expect(rows.some((r) => r.path.startsWith("loop/"))).toBe(false);
    expect(rows.some((r) => r.path === "locked/secret.txt")).toBe(false);
  });

  it("rescans incrementally: new, changed and deleted, deleted kept and marked", async () => {
    const work = tempDir();
    const tree = join(work, "tree");
    writeTree(tree, { "a.txt": "one", "b.txt": "two", "c/d.txt": "three" });
    const catalogPath = join(work, "catalog.db");
    const first = await strata(["--catalog", catalogPath, "scan", tree], { cwd: work });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/4 entries .*; 4 new, 0 changed, 0 deleted/);

    writeFileSync(join(tree, "a.txt"), "one, longer now");
    rmSync(join(tree, "b.txt"));
    writeFileSync(join(tree, "c/e.txt"), "new");
    const second = await strata(["--catalog", catalogPath, "--json", "scan", tree], { cwd: work });
    expect(second.code).toBe(0);
    const report = JSON.parse(second.stdout).scan;
    // A tree this small is walked and written on the main thread once its size is known.
    expect(report).toMatchObject({ newFiles: 1, changedFiles: 1, deletedFiles: 1, files: 4, threads: 0 });
    const rows = await catalogEntries(catalogPath);
    expect(rows.find((r) => r.path === "b.txt")?.state).toBe("deleted");
    expect(rows.find((r) => r.path === "a.txt")?.size).toBe(15);

    // Threads asked for by name are used whatever the size; the result is the same.
    writeFileSync(join(tree, "c/f.txt"), "newer");
    const third = await strata(["--catalog", catalogPath, "--json", "scan", tree, "--threads", "1"], { cwd: work });
    expect(JSON.parse(third.stdout).scan).toMatchObject({ newFiles: 1, changedFiles: 0, deletedFiles: 0, threads: 2 });
  });

  it("scans an empty root, a download's new target, without starting threads", async () => {
    const work = tempDir();
    const tree = join(work, "empty");
    mkdirSync(tree);
    const result = await strata(["--catalog", join(work, "c.db"), "--json", "scan", tree], { cwd: work });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).scan).toMatchObject({ files: 0, threads: 0 });
  });

  it("refuses a root that is missing, with exit 2", async () => {
    const work = tempDir();
    const result = await strata(["--catalog", join(work, "c.db"), "scan", join(work, "nope")], { cwd: work });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/cannot read the location root/);
  });
});
