import { readFileSync, rmSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { acquireLease, locationLease } from "../../src/catalog/locks.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";
import {
  catalogRows,
  checkFaults,
  expectOk,
  type RebuildWorkspace,
  rebuildWorkspace,
  withArchive,
  withCatalog,
} from "./rebuild-scenarios.js";

const ARCHIVE = ["  archive:", "    url: local:store"];

/** The embedded store changed through Strata's own backend, as another program would change it. */
function localFaults(ws: RebuildWorkspace) {
  return {
    deleteObject: (key: string) => withArchive(ws, (backend) => backend.delete([key])),
    putForeign: async (key: string, bytes: Buffer) => {
      // Only the mtime every write carries: no origin, no path, so no file to tie it to.
      await withArchive(ws, (backend) =>
        backend.write(key, Readable.from([bytes]), { size: bytes.length, attributes: { mtimeUs: 1 } }),
      );
    },
  };
}

describe.each(CATALOG_KINDS)("strata catalog check on the embedded store (%s catalog)", (kind) => {
  it("names each fault on one line, exits 1, changes nothing; --repair mends the safe ones and deletes no object", async () => {
    const ws = rebuildWorkspace(ARCHIVE, await freshCatalogUrl(kind, tempDir()));
    await checkFaults(ws, localFaults(ws));
  }, 180_000);
});

describe("strata catalog check and rebuild take the locations' leases to change anything", () => {
  it("while another run holds a location, --repair and rebuild wait and give up naming it; a plain check runs", async () => {
    const ws = rebuildWorkspace(ARCHIVE, await freshCatalogUrl("sqlite", tempDir()));
    expectOk(await ws.run("scan", "scratch"), "scan");
    expectOk(await ws.run("sync", "scratch", "archive"), "sync");
    const holder = "elsewhere:1 strata sync scratch archive";
    await withCatalog(ws.catalogUrl, async (catalog) => {
      expect(await acquireLease(catalog, locationLease("archive"), holder, 600_000)).toBe(true);
    });
    const rowsBefore = await catalogRows(ws.catalogUrl);
    for (const args of [
      ["catalog", "check", "--repair"],
      ["catalog", "rebuild", "scratch", "archive"],
    ]) {
      const refused = await ws.run("--lock-wait", "1s", ...args);
      expect(refused.code, args.join(" ")).toBe(2);
      expect(refused.stderr).toMatch(/archive is in use by elsewhere:1 strata sync scratch archive/);
    }
    expect(await catalogRows(ws.catalogUrl)).toEqual(rowsBefore);
    expectOk(await ws.run("--lock-wait", "1s", "catalog", "check"), "plain check");
    const typo = await ws.run("catalog", "check", "archiv");
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/"archiv": no location of this catalog \(locations: archive, scratch\)/);
  }, 60_000);
});

describe("strata catalog check on a POSIX copy target", () => {
  it("asks the tree replica by replica: a deleted copy is missing, a truncated one has the wrong size", async () => {
    const ws = rebuildWorkspace(["  archive:", "    url: ./backup"], await freshCatalogUrl("sqlite", tempDir()));
    expectOk(await ws.run("scan", "scratch"), "scan");
    expectOk(await ws.run("sync", "scratch", "archive"), "sync");
    expectOk(await ws.run("catalog", "check"), "clean check");
    rmSync(join(ws.dir, "backup/new/a.txt"));
    truncateSync(join(ws.dir, "backup/new/b.txt"), 10);

    const plain = await ws.run("catalog", "check");
    expect(plain.code).toBe(1);
    // The replicas of a POSIX target are stat-ed in parallel: their lines come in any order.
    const lines = plain.stdout.trim().split("\n").slice(0, -1).sort();
    expect(lines.map((l) => l.split("\t").slice(0, 2).join(" "))).toEqual([
      "missing archive:new/a.txt",
      "size archive:new/b.txt",
    ]);
    expect(lines[1]).toMatch(/the copy of scratch:new\/b\.txt recorded as \d+ bytes, the object has 10$/);

    const repair = await ws.run("catalog", "check", "--repair");
    expect(repair.code, repair.stderr).toBe(0);
    expectOk(await ws.run("catalog", "check"), "check after repair");
    const synced = await ws.run("--json", "sync", "scratch", "archive");
    expect(JSON.parse(synced.stdout).result.copied.files).toBe(2);
    expect(readFileSync(join(ws.dir, "backup/new/b.txt"))).toEqual(ws.files["new/b.txt"]);
  }, 60_000);
});
