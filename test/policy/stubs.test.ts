import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import {
  FileUpserter,
  fileByPath,
  forgetStub,
  markPurged,
  markReleased,
  recordStub,
  startScan,
} from "../../src/catalog/files.js";
import { ensureLocation } from "../../src/catalog/locations.js";
import type { FileRow } from "../../src/catalog/schema.js";
import { CATALOG_KINDS, freshCatalog, freshCatalogUrl } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";
import { cliWorkspace, concurrentRunsScenario, lostCatalogScenario } from "./stub-scenarios.js";

const ARCHIVE = ["  archive:", "    url: local:store", "    class: STANDARD_IA"].join("\n");

describe("released files on the embedded store (issue 9)", () => {
  it("a lost catalog learns from the stubs: scan + sync upload none of them, restore brings the data back", async () => {
    await lostCatalogScenario(ARCHIVE);
  }, 120_000);

  it("two applies, a sync and a scan at once upload no stub and lose no file", async () => {
    await concurrentRunsScenario(ARCHIVE, 2000);
  }, 300_000);
});

describe.each(CATALOG_KINDS)("runs on one location serialise (%s catalog)", (kind) => {
  it("a release's stub marks are compare-and-sets: a losing release neither records nor clears", async () => {
    const catalog = await freshCatalog(kind, tempDir());
    try {
      const location = await ensureLocation(catalog, { name: "scratch", url: "/nowhere", kind: "posix" });
      const scanId = await startScan(catalog, location.id);
      const entry = { path: "a.dat", kind: "file" as const, size: 9000, mtimeUs: 5, atimeUs: 5, ctimeUs: 5 };
      await new FileUpserter(catalog, location.id, scanId).write([
        { ...entry, mode: 0o100644, uid: 0, gid: 0, inode: 7 },
      ]);
      const read = (await fileByPath(catalog, location.id, "a.dat")) as FileRow;
      const mine = { size: 3001, mtimeUs: 5, inode: 11 };
      const theirs = { size: 3001, mtimeUs: 5, inode: 12 };
      expect(await recordStub(catalog, read, mine)).toBe(true);
      // The other release read the same row: it loses, and its clean-up leaves the winner's stub.
      expect(await recordStub(catalog, read, theirs)).toBe(false);
      await forgetStub(catalog, read.id, theirs);
      expect(await markReleased(catalog, read.id, theirs)).toBe(false);
      expect((await fileByPath(catalog, location.id, "a.dat"))?.stub_inode).toBe(11);
      expect(await markReleased(catalog, read.id, mine)).toBe(true);
      // A purge planned on the row as it was read applies no more.
      expect(await markPurged(catalog, read)).toBe(false);
      const now = await fileByPath(catalog, location.id, "a.dat");
      expect([now?.state, now?.stub_inode, now?.size]).toEqual(["released", 11, 9000]);
    } finally {
      await catalog.close();
    }
  });

  it("scans and syncs of one location at once mark no live file deleted", async () => {
    const catalog = await freshCatalogUrl(kind, tempDir());
    const ws = cliWorkspace(ARCHIVE, 20, catalog);
    // Enough entries for several catalog batches per scan: the window where one scan's
    // entries are taken for deleted by another that finishes in between.
    writeTree(ws.tree, Object.fromEntries(Array.from({ length: 12_000 }, (_, i) => [`bulk/d${i % 20}/f${i}`, `${i}`])));
    const first = await ws.run("scan", "scratch");
    expect(first.code, first.stderr).toBe(0);
    const runs = await Promise.all([
      ws.run("scan", "scratch"),
      ws.run("scan", "scratch"),
      ws.run("sync", "scratch", "archive"),
      ws.run("sync", "scratch", "archive"),
    ]);
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/12,0\d\d entries .* 0 deleted;/);
      expect(r.stdout).not.toContain("holds all 0 files");
    }
    const db = await openCatalog(catalog);
    try {
      const deleted = await db.db.selectFrom("files").select("path").where("state", "=", "deleted").execute();
      expect(deleted.length).toBe(0);
      const replicas = await db.db
        .selectFrom("replicas")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .executeTakeFirstOrThrow();
      expect(Number(replicas.n)).toBe(12_023);
    } finally {
      await db.close();
      // Removed here, within the test's time, not by the shared clean-up hook.
      for (const dir of [ws.tree, join(ws.dir, "store")]) rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it("a command waits for the run that holds its location, then names it and exits 2", async () => {
    const catalog = await freshCatalogUrl(kind, tempDir());
    const ws = cliWorkspace(ARCHIVE, 5, catalog);
    expect((await ws.run("scan", "scratch")).code).toBe(0);
    const db = await openCatalog(catalog);
    try {
      // Another host's run, alive (its lease is renewed into the future).
      await db.db
        .insertInto("policy_locks")
        .values({
          policy: "location:scratch",
          holder: "farhost:4242 strata apply",
          acquired_at: Date.now(),
          expires_at: Date.now() + 600_000,
        })
        .execute();
      for (const args of [["scan", "scratch"], ["sync", "scratch", "archive"], ["apply"], ["restore", "scratch:new"]]) {
        const started = Date.now();
        const held = await ws.run("--lock-wait", "2s", ...args);
        expect(held.code, `${args.join(" ")}: ${held.stderr}`).toBe(2);
        expect(held.stderr).toContain("farhost:4242 strata apply");
        expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
      }
      // A holder that died: its lease lapses and the next command goes ahead.
      await db.db
        .updateTable("policy_locks")
        .set({ expires_at: Date.now() - 1000 })
        .execute();
      const after = await ws.run("--lock-wait", "2s", "scan", "scratch");
      expect(after.code, after.stderr).toBe(0);
    } finally {
      await db.close();
    }
  }, 120_000);
});
