import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
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
});
