import { spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { listEntries } from "../../src/catalog/browse.js";
import { openCatalog } from "../../src/catalog/db.js";
import {
  type FileStat,
  FileUpserter,
  fileByPath,
  finishScan,
  setFileHashes,
  startScan,
} from "../../src/catalog/files.js";
import { closeDeadRuns, journalActions, startRun } from "../../src/catalog/journal.js";
import { allLocations, ensureLocation, registerLocation } from "../../src/catalog/locations.js";
import { recordReplicas } from "../../src/catalog/replicas.js";
import { NO_FILTER } from "../../src/policy/filter.js";
import { planCopies, summarizePlan } from "../../src/policy/sync-plan.js";
import { CATALOG_KINDS, freshCatalog, freshCatalogUrl } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";

function stat(path: string, over: Partial<FileStat> = {}): FileStat {
  return {
    path,
    kind: "file",
    size: 100,
    mtimeUs: 1_700_000_000_000_000,
    atimeUs: 1_700_000_000_000_000,
    ctimeUs: 1_700_000_000_000_000,
    mode: 0o100644,
    uid: 1000,
    gid: 1000,
    inode: 1,
    ...over,
  };
}

async function scanOnce(
  catalog: Awaited<ReturnType<typeof freshCatalog>>,
  locationId: number,
  entries: FileStat[],
  unseen: string[] = [],
) {
  const scanId = await startScan(catalog, locationId);
  await new FileUpserter(catalog, locationId, scanId).write(entries);
  return finishScan(catalog, locationId, scanId, unseen, 0);
}

describe.each(CATALOG_KINDS)("catalog on %s", (kind) => {
  it("migrates once and opens again without change", async () => {
    const url = await freshCatalogUrl(kind, tempDir());
    const first = await openCatalog(url);
    await ensureLocation(first, { name: "scratch", url: "file:///scratch", kind: "posix" });
    await first.close();
    const second = await openCatalog(url);
    const rows = await second.db.selectFrom("locations").selectAll().execute();
    expect(rows.map((r) => r.name)).toEqual(["scratch"]);
    await second.close();
  });

  it("refuses to point a known location name at another URL", async () => {
    const catalog = await freshCatalog(kind, tempDir());
    await ensureLocation(catalog, { name: "scratch", url: "file:///scratch", kind: "posix" });
    await expect(ensureLocation(catalog, { name: "scratch", url: "file:///elsewhere", kind: "posix" })).rejects.toThrow(
      /recorded in the catalog as file:\/\/\/scratch/,
    );
    await catalog.close();
  });

  it("gives a place first recorded by its bare URL the name a config gives it later, keeping its row", async () => {
    const catalog = await freshCatalog(kind, tempDir());
    const url = "s3://bucket/prefix";
    const first = await ensureLocation(catalog, { name: url, url, kind: "s3" });
    const named = await registerLocation(catalog, { name: "remote", url, kind: "s3" });
    expect(named).toMatchObject({ created: false, row: { id: first.id, name: "remote", url } });
    const again = await registerLocation(catalog, { name: "archive", url, kind: "s3" });
    expect(again.created).toBe(true);
    expect((await allLocations(catalog)).map((l) => l.name)).toEqual(["archive", "remote"]);
    await catalog.close();
  });

  it("records a rescan's new, changed and deleted files, keeping deleted ones", async () => {
    const catalog = await freshCatalog(kind, tempDir());
    const loc = await ensureLocation(catalog, { name: "s", url: "file:///s", kind: "posix" });
    const initial = Array.from({ length: 2500 }, (_, i) => stat(`d/${String(i).padStart(5, "0")}`));
    const first = await scanOnce(catalog, loc.id, initial);
    expect(first).toMatchObject({ files: 2500, bytes: 250_000, newFiles: 2500, changedFiles: 0, deletedFiles: 0 });

    const before = await fileByPath(catalog, loc.id, "d/00001");
    await setFileHashes(catalog, [
      { fileId: before?.id as number, hash: "a".repeat(64) },
      { fileId: (await fileByPath(catalog, loc.id, "d/00002"))?.id as number, hash: "b".repeat(64) },
    ]);
    const second = initial.slice(1).map((e) => (e.path === "d/00001" ? { ...e, size: 101 } : e));
    second.push(stat("d/new"));
    const rescan = await scanOnce(catalog, loc.id, second);
    expect(rescan).toMatchObject({ newFiles: 1, changedFiles: 1, deletedFiles: 1, files: 2500 });
    expect((await fileByPath(catalog, loc.id, "d/00000"))?.state).toBe("deleted");
    expect((await fileByPath(catalog, loc.id, "d/00001"))?.hash).toBeNull();
    expect((await fileByPath(catalog, loc.id, "d/00002"))?.hash).toBe("b".repeat(64));
    expect((await fileByPath(catalog, loc.id, "d/00001"))?.id).toBe(before?.id);
    await catalog.close();
  });

  it("does not mark files under an unreadable directory as deleted", async () => {
    const catalog = await freshCatalog(kind, tempDir());
    const loc = await ensureLocation(catalog, { name: "s", url: "file:///s", kind: "posix" });
    await scanOnce(catalog, loc.id, [
      stat("locked", { kind: "dir" }),
      stat("locked/a"),
      stat("locked0"),
      stat("other"),
    ]);
    const rescan = await scanOnce(catalog, loc.id, [stat("locked", { kind: "dir" })], ["locked"]);
    expect(rescan.deletedFiles).toBe(2);
    expect((await fileByPath(catalog, loc.id, "locked/a"))?.state).toBe("present");
    expect((await fileByPath(catalog, loc.id, "locked0"))?.state).toBe("deleted");
    await catalog.close();
  });

  it("a scan of a location that was empty marks nothing deleted, not even rows another writer added", async () => {
    const catalog = await freshCatalog(kind, tempDir());
    const loc = await ensureLocation(catalog, { name: "s", url: "file:///s", kind: "posix" });
    const scanId = await startScan(catalog, loc.id);
    // Another scan's row, written while this one ran and never seen by it.
    await new FileUpserter(catalog, loc.id, await startScan(catalog, loc.id)).write([stat("theirs")]);
    await new FileUpserter(catalog, loc.id, scanId).write([stat("mine")]);
    const counts = await finishScan(catalog, loc.id, scanId, [], 0, { locationWasEmpty: true });
    expect(counts).toMatchObject({ files: 1, deletedFiles: 0 });
    expect((await fileByPath(catalog, loc.id, "theirs"))?.state).toBe("present");
    // The next scan that does not see it judges it.
    expect((await scanOnce(catalog, loc.id, [stat("mine")])).deletedFiles).toBe(1);
    expect((await fileByPath(catalog, loc.id, "theirs"))?.state).toBe("deleted");
    await catalog.close();
  });

  it("orders paths by bytes and lists one level by jumping over subtrees", async () => {
    const catalog = await freshCatalog(kind, tempDir());
    const loc = await ensureLocation(catalog, { name: "s", url: "file:///s", kind: "posix" });
    const paths = ["a", "a/x", "a/y/z", "a.txt", "B", "é", "a0"];
    await scanOnce(
      catalog,
      loc.id,
      paths.map((p) => stat(p, { kind: p === "a" || p === "a/y" ? "dir" : "file" })),
    );
    const top: string[] = [];
    for await (const e of listEntries(catalog, loc.id, "", false)) top.push(e.file.path);
    expect(top).toEqual(["B", "a", "a.txt", "a0", "é"]);
    const under: string[] = [];
    for await (const e of listEntries(catalog, loc.id, "a", true)) under.push(e.file.path);
    expect(under).toEqual(["a/x", "a/y/z"]);
    await catalog.close();
  });

  it("plans copies from the catalog alone: new, changed, and nothing once replicas match", async () => {
    const catalog = await freshCatalog(kind, tempDir());
    const src = await ensureLocation(catalog, { name: "src", url: "file:///src", kind: "posix" });
    const dst = await ensureLocation(catalog, { name: "dst", url: "local:///dst", kind: "local" });
    await scanOnce(catalog, src.id, [stat("one"), stat("two"), stat("link", { kind: "symlink" })]);
    const scope = {
      sourceLocationId: src.id,
      targetLocationId: dst.id,
      filter: NO_FILTER,
      checksum: false,
      compareTouched: false,
    };
    expect((await summarizePlan(catalog, scope, false)).copy).toMatchObject({ files: 2, new: 2, bytes: 200 });
    const one = await fileByPath(catalog, src.id, "one");
    await recordReplicas(catalog, [
      {
        fileId: one?.id as number,
        locationId: dst.id,
        key: "one",
        size: 100,
        hash: "c".repeat(64),
        storageClass: "STANDARD",
        state: "present",
        sourceSize: 100,
        sourceMtimeUs: 1_700_000_000_000_000,
        etag: null,
        verifiedAt: Date.now(),
      },
    ]);
    // As a copy does: the hash it read is the file's, until a scan sees the file change.
    await setFileHashes(catalog, [{ fileId: one?.id as number, hash: "c".repeat(64) }]);
    const plan = await summarizePlan(catalog, scope, false);
    expect(plan.copy).toMatchObject({ files: 1, new: 1 });
    expect(plan.unchanged.files).toBe(1);
    expect(plan.skipped.symlinks).toBe(1);
    await scanOnce(catalog, src.id, [stat("one", { mtimeUs: 1_700_000_000_000_001 }), stat("two")]);
    const planned: string[] = [];
    for await (const a of planCopies(catalog, scope)) planned.push(`${a.file.path}:${a.reason}`);
    expect(planned).toEqual(["one:changed", "two:new"]);
    await catalog.close();
  });

  it("closes the journal of a run whose process died", async () => {
    const catalog = await freshCatalog(kind, tempDir());
    const dead = spawnSync("true").pid as number;
    const runId = await startRun(catalog, "sync a b");
    await catalog.db.updateTable("runs").set({ pid: dead }).where("id", "=", runId).execute();
    await journalActions(catalog, runId, [
      { kind: "copy", fileId: null, sourceLocationId: null, targetLocationId: null, key: "k", bytes: 1 },
    ]);
    const alive = await startRun(catalog, "sync c d");
    expect(await closeDeadRuns(catalog)).toEqual([runId]);
    const runs = await catalog.db.selectFrom("runs").select(["id", "status", "host"]).orderBy("id").execute();
    expect(runs).toEqual([
      { id: runId, status: "failed", host: hostname() },
      { id: alive, status: "running", host: hostname() },
    ]);
    const actions = await catalog.db.selectFrom("actions").select(["state", "error"]).execute();
    expect(actions[0]?.state).toBe("interrupted");
    expect(actions[0]?.error).toMatch(/interrupted/);
    await catalog.close();
  });
});
