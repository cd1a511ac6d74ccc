import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PosixBackend } from "../../src/backends/posix/posix-backend.js";
import { openCatalog } from "../../src/catalog/db.js";
import { ensureLocation } from "../../src/catalog/locations.js";
import { scanLocation } from "../../src/scan/scanner.js";
import { walkTree } from "../../src/scan/walker.js";
import { tempDir } from "../support/tmp.js";

/** `dirs` directories of `perDir` empty files each. */
function wideTree(root: string, dirs: number, perDir: number): void {
  for (let d = 0; d < dirs; d++) {
    mkdirSync(join(root, `d${d}`), { recursive: true });
    for (let f = 0; f < perDir; f++) writeFileSync(join(root, `d${d}`, `f${f}`), "");
  }
}

/** The directory of each entry, in the order the entries arrived. */
function directoriesInArrivalOrder(paths: string[]): string[] {
  return paths.map((path) => path.slice(0, Math.max(0, path.lastIndexOf("/"))));
}

describe("the scan's pace", () => {
  it("walks one directory at a time while the consumer of the entries is behind", { timeout: 60_000 }, async () => {
    const root = tempDir();
    // Directories of several messages' worth of entries each: two walkers at once interleave them.
    wideTree(root, 6, 5_000);
    const arrived: string[] = [];
    await walkTree(root, {
      threads: 2,
      onEntries: async (batch) => {
        arrived.push(...batch.paths);
      },
      consumerBehind: () => true,
    });
    expect(arrived).toHaveLength(6 * 5_001);
    // Each directory's entries arrive in one run, never split by another directory's.
    const runs = directoriesInArrivalOrder(arrived).filter((dir, i, all) => i === 0 || all[i - 1] !== dir);
    expect(runs).toHaveLength(new Set(runs).size);
  });

  it("keeps a SQLite catalog's WAL small while the writer thread commits", { timeout: 60_000 }, async () => {
    const work = tempDir();
    const tree = join(work, "tree");
    // About 8 MB of WAL if nothing copied it back before the end.
    wideTree(tree, 40, 1_000);
    const path = join(work, "catalog.db");
    const catalog = await openCatalog(`sqlite:${path}`);
    try {
      const location = await ensureLocation(catalog, { name: "tree", url: `file://${tree}`, kind: "posix" });
      const report = await scanLocation(catalog, location.id, new PosixBackend(tree, `file://${tree}`), {
        threads: 2,
        batchSize: 1_000,
      });
      expect(report.files).toBe(40_040);
      // The writer leaves checkpoints to this connection, which copies each commit back while the
      // writer goes on: the WAL starts over instead of growing to the writer's own 64 MiB bound.
      expect(statSync(`${path}-wal`).size).toBeLessThan(3 * 1024 * 1024);
    } finally {
      await catalog.close();
    }
  });
});
