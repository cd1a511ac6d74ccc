import { chmodSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalStoreBackend } from "../../src/backends/local/local-backend.js";
import { strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";
import {
  type Archive,
  emptiedRootPrunesNothing,
  lostStubKeepsItsCopy,
  missingRootPrunesNothing,
  otherDevicePrunesNothing,
  overlappingLocationsRefused,
  pruneShareGuard,
  sharedKeyOneCatalog,
  sharedKeyTwoCatalogs,
  unmountedSourcePrunesNothing,
} from "./guards-cases.js";

/** The embedded store; a prefix is a store directory of its own (the store has no prefixes). */
const stores = tempDir("strata-guard-stores-");
const embedded: Archive = {
  yaml: (name, prefix) => [`  ${name}:`, `    url: local:${join(stores, prefix)}`],
  async objects(prefix) {
    const dir = join(stores, prefix);
    const store = await LocalStoreBackend.open(dir, `local://${dir}`, { restoreDelayMs: 0 });
    try {
      const objects = new Map<string, string>();
      for await (const info of store.list()) {
        const { body } = await store.read(info.key);
        const chunks: Buffer[] = [];
        for await (const chunk of body) chunks.push(chunk as Buffer);
        objects.set(info.key, Buffer.concat(chunks).toString("utf8"));
      }
      return objects;
    } finally {
      await store.close();
    }
  },
};

describe("deletions are guarded (issue 9, defect 4)", () => {
  it(
    "an unmounted source (empty mount point) prunes nothing",
    () => unmountedSourcePrunesNothing(embedded, "unmounted"),
    60_000,
  );
  it(
    "a source root emptied on the same filesystem prunes nothing",
    () => emptiedRootPrunesNothing(embedded, "emptied"),
    60_000,
  );
  it("a missing source root prunes nothing", () => missingRootPrunesNothing(embedded, "missing"), 60_000);
  it(
    "a source root on another device than first scanned prunes nothing",
    () => otherDevicePrunesNothing(embedded, "device"),
    60_000,
  );
  it(
    "a released file whose stub is gone is missing, and its copy is kept",
    () => lostStubKeepsItsCopy(embedded, "stub"),
    60_000,
  );
  it("pruning past defaults.maxDeleteShare needs --force", () => pruneShareGuard(embedded, "share"), 60_000);
});

describe("keys are owned (issue 9, defect 5)", () => {
  it(
    "one catalog: another location's file is refused the key of projA's released file",
    () => sharedKeyOneCatalog(embedded, "one"),
    60_000,
  );
  it(
    "two catalogs: the object's origin refuses another project's file",
    () => sharedKeyTwoCatalogs(embedded, "two"),
    60_000,
  );
  it("locations whose trees overlap are a config error", () => overlappingLocationsRefused(embedded, "alias"), 60_000);
});

describe("change detection (issue 9, defect 10)", () => {
  /** A synced file, then rewritten in place with the same size and its old mtime put back. */
  async function editedKeepingMtime() {
    const work = tempDir();
    const tree = join(work, "tree");
    writeTree(tree, { "data.bin": "version one ".repeat(100) });
    const path = join(tree, "data.bin");
    utimesSync(path, 1_600_000_000, 1_600_000_000);
    const cat = ["--catalog", join(work, "catalog.db")];
    const first = await strata([...cat, "sync", "tree", "local:store"], { cwd: work });
    expect(first.code).toBe(0);
    const { mtimeMs } = statSync(path);
    writeFileSync(path, "version two ".repeat(100));
    utimesSync(path, mtimeMs / 1000, mtimeMs / 1000); // what touch -d, cp -p and rsync -t do
    return { work, cat };
  }

  async function storedContent(work: string): Promise<string> {
    const dir = join(work, "store");
    const store = await LocalStoreBackend.open(dir, `local://${dir}`, { restoreDelayMs: 0 });
    try {
      const { body } = await store.read("data.bin");
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    } finally {
      await store.close();
    }
  }

  it("sync --checksum hashes the source now: a same-size, same-mtime edit is sent", async () => {
    const { work, cat } = await editedKeepingMtime();
    const again = await strata([...cat, "--json", "sync", "--checksum", "tree", "local:store"], { cwd: work });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).result.copied.files).toBe(1);
    expect(await storedContent(work)).toBe("version two ".repeat(100));
  });

  it("a scan sees an edit whose mtime was put back (ctime moved), and sync sends it", async () => {
    const { work, cat } = await editedKeepingMtime();
    const again = await strata([...cat, "--json", "sync", "tree", "local:store"], { cwd: work });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).result.copied.files).toBe(1);
    expect(await storedContent(work)).toBe("version two ".repeat(100));
  });

  it("a file whose ctime alone moved (chmod) is compared by content, not sent again", async () => {
    const work = tempDir();
    writeTree(join(work, "tree"), { "data.bin": "unchanged ".repeat(100) });
    const cat = ["--catalog", join(work, "catalog.db")];
    expect((await strata([...cat, "sync", "tree", "local:store"], { cwd: work })).code).toBe(0);
    chmodSync(join(work, "tree/data.bin"), 0o600);
    const again = await strata([...cat, "--json", "sync", "tree", "local:store"], { cwd: work });
    expect(again.code).toBe(0);
    const { plan, result } = JSON.parse(again.stdout);
    expect(plan.copy.toCheck).toBe(1);
    expect([result.copied.files, result.confirmed]).toEqual([0, 1]);
  });
});
