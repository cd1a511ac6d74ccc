import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Backend } from "../../src/backends/backend.js";
import { LocalStoreBackend } from "../../src/backends/local/local-backend.js";
import { PosixBackend } from "../../src/backends/posix/posix-backend.js";
import { defaultsSchema } from "../../src/config/schema.js";
import {
  AUTO_FROM_STORE,
  AUTO_FROM_TREE,
  AUTO_LARGE,
  FilesInFlight,
  type TransferSetting,
} from "../../src/transfer/flight.js";
import { runPool } from "../../src/transfer/pool.js";
import { tempDir } from "../support/tmp.js";

/** Copies of `count` files from `source` through a pool sized as a run sizes it; answers the most at once. */
async function mostAtOnce(setting: TransferSetting, source: Backend, count: number, large: boolean, lanes?: number) {
  const flight = new FilesInFlight(setting);
  let now = 0;
  let most = 0;
  async function* files() {
    for (let i = 0; i < count; i++) yield i;
  }
  await runPool(files(), lanes ?? flight.lanes(source), (_file) =>
    flight.hold({ source, large }, async () => {
      now += 1;
      most = Math.max(most, now);
      // Held over a few turns of the event loop, so every file that may start has started.
      for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
      now -= 1;
    }),
  );
  return most;
}

describe("files in flight", () => {
  it('"auto" is the default, and a smaller byte budget with it', () => {
    const defaults = defaultsSchema.parse({});
    expect(defaults.transfers).toBe("auto");
    expect(defaults.maxBuffer).toBe(96 * 1024 * 1024);
  });

  it('"auto" runs small files from a store on every lane, files from a tree and large files on fewer', async () => {
    const dir = tempDir();
    const tree = new PosixBackend(join(dir, "tree"), `file://${join(dir, "tree")}`);
    const store = await LocalStoreBackend.open(join(dir, "store"), "local://store", { restoreDelayMs: 0 });
    try {
      expect(await mostAtOnce("auto", store, 100, false)).toBe(AUTO_FROM_STORE);
      expect(await mostAtOnce("auto", tree, 100, false)).toBe(AUTO_FROM_TREE);
      expect(await mostAtOnce("auto", store, 20, true)).toBe(AUTO_LARGE);
      // A run over many sources sizes its pool for the most; the tree's files still wait their turn.
      expect(await mostAtOnce("auto", tree, 100, false, AUTO_FROM_STORE)).toBe(AUTO_FROM_TREE);
      // A number fixes it, whatever the files.
      expect(await mostAtOnce(12, store, 100, true)).toBe(12);
      expect(await mostAtOnce(12, tree, 100, false)).toBe(12);
    } finally {
      await store.close();
    }
  });
});
