import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { describe, expect, inject, it } from "vitest";
import { LocalStoreBackend } from "../../src/backends/local/local-backend.js";
import { openCatalog } from "../../src/catalog/db.js";
import { put } from "../backends/contract.js";
import { sha256Hex } from "../support/bytes.js";
import { freshCatalogUrl } from "../support/catalogs.js";
import { finished, spawnStrata, strata } from "../support/cli.js";
import { snapshot } from "../support/snapshot.js";
import { tempDir } from "../support/tmp.js";
import { oddTree, randomTree, writeTree } from "../support/trees.js";

function storeObjectCount(storeDir: string): number {
  const db = new Database(join(storeDir, "index.db"), { readonly: true, fileMustExist: true });
  try {
    // The store may be caught between creating its index file and its table.
    const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'objects'").get();
    return exists ? (db.prepare("SELECT count(*) AS n FROM objects").get() as { n: number }).n : 0;
  } finally {
    db.close();
  }
}

describe("strata sync", () => {
  it("syncs a tree into the store and back, byte-identical with mtime and mode; a second sync copies nothing", async () => {
    const work = tempDir();
    const tree = join(work, "tree");
    randomTree(tree, 300);
    oddTree(tree);
    const cat = ["--catalog", join(work, "catalog.db")];

    const up = await strata([...cat, "sync", "tree", "local:store"], { cwd: work });
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/copied 305 files/);
    expect(up.stdout).toMatch(/skipped 3/);

    const down = await strata([...cat, "sync", "local:store", "./back"], { cwd: work });
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(/copied 305 files/);

    const original = snapshot(tree);
    const restored = snapshot(join(work, "back"));
    expect([...restored.keys()].sort()).toEqual([...original.keys()].sort());
    for (const [path, file] of original) {
      const copy = restored.get(path);
      expect(copy?.content.equals(file.content), Buffer.from(path, "hex").toString()).toBe(true);
      expect(copy?.mode).toBe(file.mode);
      expect(copy?.mtimeUs).toBe(file.mtimeUs);
    }

    const again = await strata([...cat, "--json", "sync", "tree", "local:store"], { cwd: work });
    expect(again.code).toBe(0);
    const result = JSON.parse(again.stdout);
    expect(result.result.copied.files).toBe(0);
    expect(result.plan.unchanged.files).toBe(305);
  });

  it("converges after the sync process is killed with SIGKILL mid-run", async () => {
    const work = tempDir();
    const tree = join(work, "tree");
    const files = randomTree(tree, 3000, 64 * 1024);
    const cat = ["--catalog", join(work, "catalog.db")];
    const store = join(work, "store");

    const child = spawnStrata([...cat, "sync", "tree", "local:store", "--transfers", "2"], { cwd: work });
    const done = finished(child);
    let atKill = 0;
    for (let i = 0; i < 1000 && atKill < 400; i++) {
      await sleep(10);
      atKill = existsSync(join(store, "index.db")) ? storeObjectCount(store) : 0;
    }
    child.kill("SIGKILL");
    const killed = await done;
    expect(killed.signal).toBe("SIGKILL");
    expect(atKill).toBeGreaterThanOrEqual(400);
    const written = storeObjectCount(store);
    expect(written).toBeLessThan(3000);

    // Whatever the catalog recorded as present must really be there, whole.
    const catalog = await openCatalog(join(work, "catalog.db"));
    const recorded = await catalog.db
      .selectFrom("replicas")
      .select(["key", "hash"])
      .where("state", "=", "present")
      .execute();
    await catalog.close();
    const backend = await LocalStoreBackend.open(store, `local://${store}`, { restoreDelayMs: 0 });
    for (const r of recorded) expect((await backend.stat(r.key))?.sha256).toBe(r.hash);
    await backend.close();

    const rerun = await strata([...cat, "--json", "sync", "tree", "local:store"], { cwd: work });
    expect(rerun.code).toBe(0);
    const report = JSON.parse(rerun.stdout);
    // Objects the killed run wrote but had not recorded yet are found and recorded, not copied again.
    expect(recorded.length).toBeLessThanOrEqual(written);
    expect(report.result.copied.files).toBe(3000 - written);
    expect(report.result.failures).toEqual([]);

    const verify = await strata([...cat, "--json", "verify", "local:store"], { cwd: work });
    expect(verify.code).toBe(0);
    expect(JSON.parse(verify.stdout).verified).toBe(3000);
    expect(storeObjectCount(store)).toBe(3000);
    const check = await LocalStoreBackend.open(store, `local://${store}`, { restoreDelayMs: 0 });
    for (const [path, content] of Object.entries(files))
      expect((await check.stat(path))?.sha256).toBe(sha256Hex(content));
    await check.close();

    const journal = await openCatalog(join(work, "catalog.db"));
    const runs = await journal.db.selectFrom("runs").select("status").orderBy("id").execute();
    // The killed sync, the sync that finished its work, and verify (journaled as a run of its own).
    expect(runs.map((r) => r.status)).toEqual(["failed", "done", "done"]);
    await journal.close();
  });

  it("--delete mirrors deletions but refuses to remove a large share without --force", async () => {
    const work = tempDir();
    const tree = join(work, "tree");
    writeTree(tree, Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`f${i}.txt`, `file ${i}`])));
    const cat = ["--catalog", join(work, "catalog.db")];
    expect((await strata([...cat, "sync", "tree", "local:store"], { cwd: work })).code).toBe(0);

    rmSync(join(tree, "f0.txt"));
    const one = await strata([...cat, "sync", "--delete", "tree", "local:store"], { cwd: work });
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/deleted 1\b/);
    expect(storeObjectCount(join(work, "store"))).toBe(9);

    for (let i = 1; i < 6; i++) rmSync(join(tree, `f${i}.txt`));
    const refused = await strata([...cat, "sync", "--delete", "tree", "local:store"], { cwd: work });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refusing to delete 5 of 9 objects .*--force/);
    expect(storeObjectCount(join(work, "store"))).toBe(9);

    const forced = await strata([...cat, "sync", "--delete", "--force", "tree", "local:store"], { cwd: work });
    expect(forced.code).toBe(0);
    expect(storeObjectCount(join(work, "store"))).toBe(4);
  });

  it("--dry-run prints the plan and changes nothing", async () => {
    const work = tempDir();
    writeTree(join(work, "tree"), { "a.txt": "aaa", "b/c.txt": "cc" });
    const result = await strata(["--catalog", join(work, "c.db"), "sync", "-n", "tree", "local:store"], { cwd: work });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/copy\s+2 files \(5 B\): 2 new/);
    expect(existsSync(join(work, "store", "index.db"))).toBe(false);
  });

  it("restores deleted files in place and elsewhere, with mtime and mode", async () => {
    const work = tempDir();
    const tree = join(work, "tree");
    randomTree(tree, 40);
    writeFileSync(
      join(work, "strata.yaml"),
      "catalog: cat.db\nlocations:\n  scratch:\n    url: ./tree\n  archive:\n    url: local:store\n",
    );
    expect((await strata(["sync", "scratch", "archive"], { cwd: work })).code).toBe(0);
    const before = snapshot(tree);
    rmSync(join(tree, "set-1"), { recursive: true });
    expect((await strata(["scan", "scratch"], { cwd: work })).code).toBe(0);

    const back = await strata(["restore", "scratch:set-1"], { cwd: work });
    expect(back.stderr).toBe("");
    expect(back.code).toBe(0);
    expect(snapshot(tree)).toEqual(before);

    const elsewhere = await strata(["restore", "scratch:set-2/**/*.dat", "--to", join(work, "elsewhere")], {
      cwd: work,
    });
    expect(elsewhere.code).toBe(0);
    const copied = snapshot(join(work, "elsewhere"));
    expect(copied.size).toBeGreaterThan(0);
    for (const [path, file] of copied) expect(before.get(path)).toEqual(file);
  });

  it("never writes outside the target for hostile object keys", async () => {
    const work = tempDir();
    const storeDir = join(work, "store");
    const store = await LocalStoreBackend.open(storeDir, `local://${storeDir}`, { restoreDelayMs: 0 });
    for (const key of ["../escaped.txt", "ok/../../escaped2.txt", "/etc/evil", "fine.txt"]) await put(store, key, "x");
    await store.close();
    const result = await strata(["--catalog", join(work, "c.db"), "sync", "local:store", "./out"], { cwd: work });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/"\.\." segment/);
    expect(result.stderr).toMatch(/absolute/);
    expect(readdirSync(join(work, "out"))).toEqual(["fine.txt"]);
    expect(readdirSync(work).sort()).toEqual(
      ["c.db", "c.db-shm", "c.db-wal", "out", "store"].filter((n) => existsSync(join(work, n))).sort(),
    );
    expect(existsSync(join(work, "escaped.txt"))).toBe(false);
  });

  it("works the same with the catalog in PostgreSQL", async () => {
    const work = tempDir();
    randomTree(join(work, "tree"), 50);
    const cat = ["--catalog", await freshCatalogUrl("postgres", work)];
    const first = await strata([...cat, "--json", "sync", "tree", "local:store"], { cwd: work });
    expect(first.stderr).toBe("");
    expect(JSON.parse(first.stdout).result.copied.files).toBe(50);
    const second = await strata([...cat, "--json", "sync", "tree", "local:store"], { cwd: work });
    expect(JSON.parse(second.stdout).result.copied.files).toBe(0);
    expect(inject("postgresUrl")).toMatch(/^postgres:\/\//);
  });
});

describe("bad input", () => {
  it("names the file, line and key of a config error, exits 2 and creates nothing", async () => {
    const work = tempDir();
    writeFileSync(
      join(work, "strata.yaml"),
      [
        "catalog: cat.db",
        "locations:",
        "  scratch:",
        "    url: ./tree",
        "  archive:",
        "    url: local:store",
        "    clas: GLACIER",
        "",
      ].join("\n"),
    );
    const result = await strata(["scan", "scratch"], { cwd: work });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${join(work, "strata.yaml")}:7:5: locations.archive.clas: unknown key "clas"`);
    expect(existsSync(join(work, "cat.db"))).toBe(false);
  });

  it("names a bad value and its line", async () => {
    const work = tempDir();
    writeFileSync(join(work, "strata.yaml"), "defaults:\n  transfers: many\n");
    const result = await strata(["scan", "."], { cwd: work });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/strata\.yaml:2:3: defaults\.transfers: .*number/);
  });

  it("reports YAML syntax errors with their position", async () => {
    const work = tempDir();
    writeFileSync(join(work, "strata.yaml"), "locations:\n  a: [unclosed\n");
    const result = await strata(["scan", "."], { cwd: work });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/strata\.yaml:\d+:\d+: /);
  });

  it("names a bad flag value and exits 2", async () => {
    const work = tempDir();
    const result = await strata(["sync", "a", "local:b", "--transfers", "0"], { cwd: work });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--transfers.*whole number from 1 to 1024/);
    const scheme = await strata(["--catalog", join(work, "c.db"), "sync", "./a", "ftp://x"], { cwd: work });
    expect(scheme.code).toBe(2);
    expect(scheme.stderr).toMatch(/<dst> ftp:\/\/x: unknown location scheme/);
  });
});

describe("strata verify", () => {
  it("finds a corrupted replica, marks it lost, and the next sync copies it again", async () => {
    const work = tempDir();
    writeTree(join(work, "tree"), { "a.txt": "alpha", "b.txt": "bravo" });
    const cat = ["--catalog", join(work, "c.db")];
    expect((await strata([...cat, "sync", "tree", "local:store"], { cwd: work })).code).toBe(0);
    const db = new Database(join(work, "store", "index.db"), { readonly: true });
    const { blob } = db.prepare("SELECT blob FROM objects WHERE key = 'b.txt'").get() as { blob: string };
    db.close();
    writeFileSync(join(work, "store", "blobs", blob), "brav0");

    const verify = await strata([...cat, "verify", "local:store"], { cwd: work });
    expect(verify.code).toBe(1);
    expect(verify.stderr).toMatch(/b\.txt: sha256 .* expected .*; marked lost/);
    const repair = await strata([...cat, "--json", "sync", "tree", "local:store"], { cwd: work });
    expect(JSON.parse(repair.stdout).result.copied.files).toBe(1);
    expect((await strata([...cat, "verify", "local:store"], { cwd: work })).code).toBe(0);
  });
});
