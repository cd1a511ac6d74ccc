import { readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../support/bytes.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { finished, spawnStrata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import {
  archivedObjects,
  catalogRows,
  expectOk,
  rebuildRoundTrip,
  rebuildWorkspace,
  withArchive,
} from "./rebuild-scenarios.js";

const ARCHIVE = ["  archive:", "    url: local:store"];

describe.each(CATALOG_KINDS)("strata catalog rebuild on the embedded store (%s catalog)", (kind) => {
  it("a lost catalog comes back from the tree and the store: same rows, sync copies nothing, restore works", async () => {
    const ws = rebuildWorkspace(ARCHIVE, await freshCatalogUrl(kind, tempDir()));
    await rebuildRoundTrip(ws, () => freshCatalogUrl(kind, tempDir()));
  }, 180_000);
});

describe("strata catalog rebuild: what the tree lacks, what Strata did not write", () => {
  it("a copy of a file gone from the tree is recorded missing and restored; a foreign object is kept; an edited file is copied again", async () => {
    const ws = rebuildWorkspace(ARCHIVE, await freshCatalogUrl("sqlite", tempDir()));
    expectOk(await ws.run("scan", "scratch"), "scan");
    expectOk(await ws.run("sync", "scratch", "archive"), "sync");
    // Gone from the tree with no stub left (a purge, or a slip of `rm`): the copy is all there is.
    rmSync(join(ws.tree, "new/e.txt"));
    // Edited in place with its size and mtime put back (`cp -p`, `touch -d`): the object's
    // metadata still names this version, but its bytes are the old ones.
    const edited = join(ws.tree, "new/d.txt");
    const { mtime } = statSync(edited);
    const newBytes = Buffer.from((ws.files["new/d.txt"] as Buffer).toString().toUpperCase());
    writeFileSync(edited, newBytes);
    utimesSync(edited, mtime, mtime);
    await withArchive(ws, (backend) =>
      backend.write("foreign.bin", Readable.from([Buffer.from("theirs")]), { size: 6, attributes: { mtimeUs: 1 } }),
    );
    ws.useCatalog(await freshCatalogUrl("sqlite", tempDir()));

    const unknown = await ws.run("catalog", "rebuild", "scratch", "archiv");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/"archiv": no location of that name.*did you mean archive\?/);

    const rebuilt = await ws.run("--json", "catalog", "rebuild", "scratch", "archive");
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(rebuilt.stderr).toMatch(/archive:foreign\.bin: not linked: its metadata names no source location/);
    const store = JSON.parse(rebuilt.stdout).rebuild.stores[0];
    const files = Object.keys(ws.files).length;
    // Every present file tied to an object is read for its hash, never given the object's.
    expect(store).toMatchObject({ objects: files + 1, linked: files, known: 0, newFiles: 1, hashed: files - 1 });
    expect(store.unlinked.map((u: { key: string }) => u.key)).toEqual(["foreign.bin"]);
    const rows = (await catalogRows(ws.catalogUrl)).files.map((r) => JSON.parse(r));
    expect(rows.find((r) => r.path === "new/e.txt")).toMatchObject({
      state: "missing",
      size: ws.files["new/e.txt"]?.length,
      hash: sha256Hex(ws.files["new/e.txt"] as Buffer),
    });

    expectOk(await ws.run("restore", "scratch:new/e.txt"), "restore");
    expect(readFileSync(join(ws.tree, "new/e.txt"))).toEqual(ws.files["new/e.txt"]);
    expect((await archivedObjects(ws)).get("foreign.bin")?.toString()).toBe("theirs");
    // The restored file is an ordinary one again; the edited one is copied again, nothing else.
    const synced = await ws.run("--json", "sync", "scratch", "archive");
    expectOk(synced, "sync");
    expect(JSON.parse(synced.stdout).result.copied).toEqual({ files: 1, bytes: newBytes.length });
    expect((await archivedObjects(ws)).get("new/d.txt")).toEqual(newBytes);
  }, 120_000);
});

describe("strata catalog rebuild killed part way", () => {
  it("killed at several moments, the next rebuild ends with the same rows as an uninterrupted one", async () => {
    const ws = rebuildWorkspace(ARCHIVE, await freshCatalogUrl("sqlite", tempDir()));
    expectOk(await ws.run("scan", "scratch"), "scan");
    expectOk(await ws.run("sync", "scratch", "archive"), "sync");
    expectOk(await ws.run("apply"), "apply");
    expectOk(await ws.run("scan", "scratch"), "scan after apply");
    const before = await catalogRows(ws.catalogUrl);

    ws.useCatalog(await freshCatalogUrl("sqlite", tempDir()));
    const config = join(ws.dir, "strata.yaml");
    const killed: boolean[] = [];
    for (const afterMs of [300, 600, 900, 1200]) {
      const child = spawnStrata(["--config", config, "catalog", "rebuild", "scratch", "archive"], { cwd: ws.dir });
      const done = finished(child);
      setTimeout(() => child.kill("SIGKILL"), afterMs);
      killed.push((await done).signal === "SIGKILL");
    }
    expect(killed, "no rebuild was killed before it finished").toContain(true);
    expectOk(await ws.run("catalog", "rebuild", "scratch", "archive"), "rebuild after the kills");
    expect(await catalogRows(ws.catalogUrl)).toEqual(before);
    const synced = await ws.run("--json", "sync", "scratch", "archive");
    expectOk(synced, "sync");
    expect(JSON.parse(synced.stdout).plan.copy.files).toBe(0);
  }, 120_000);
});
