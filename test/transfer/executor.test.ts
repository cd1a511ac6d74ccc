import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type Backend, TransientError } from "../../src/backends/backend.js";
import { LocalStoreBackend } from "../../src/backends/local/local-backend.js";
import { PosixBackend } from "../../src/backends/posix/posix-backend.js";
import type { CatalogDb } from "../../src/catalog/db.js";
import { startRun } from "../../src/catalog/journal.js";
import { ensureLocation } from "../../src/catalog/locations.js";
import { executePlan } from "../../src/engine/sync.js";
import { NO_FILTER } from "../../src/policy/filter.js";
import { planCopies, planDeletes, type SyncScope } from "../../src/policy/sync-plan.js";
import { scanLocation } from "../../src/scan/scanner.js";
import { CATALOG_KINDS, freshCatalog } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";
import { randomTree } from "../support/trees.js";

/** Counts every call made to a real backend (a recorder around it, not a stand-in). */
function counting(backend: Backend): { backend: Backend; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(backend, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function" || prop === "close") return value;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { backend: proxy, calls };
}

/** Makes the first `failures` writes answer like a throttled server, then behaves. */
function flaky(backend: Backend, failures: number): Backend {
  let left = failures;
  return new Proxy(backend, {
    get(target, prop, receiver) {
      if (prop === "write" && left > 0) {
        return async () => {
          left -= 1;
          throw new TransientError(target.url, "503 SlowDown");
        };
      }
      const value = Reflect.get(target, prop, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

async function setup(catalog: CatalogDb, dir: string) {
  const tree = join(dir, "tree");
  randomTree(tree, 120);
  const storeDir = join(dir, "store");
  const src = await ensureLocation(catalog, { name: "src", url: `file://${tree}`, kind: "posix" });
  const dst = await ensureLocation(catalog, { name: "dst", url: `local://${storeDir}`, kind: "local" });
  const source = new PosixBackend(tree, `file://${tree}`);
  const store = await LocalStoreBackend.open(storeDir, `local://${storeDir}`, { restoreDelayMs: 0 });
  const scope: SyncScope = {
    sourceLocationId: src.id,
    targetLocationId: dst.id,
    filter: NO_FILTER,
    checksum: false,
    compareTouched: false,
  };
  const run = async (target: Backend) => {
    await scanLocation(catalog, src.id, source, { threads: 2 });
    return executePlan(catalog, planCopies(catalog, scope), planDeletes(catalog, scope), {
      runId: await startRun(catalog, "test"),
      source: { backend: source, locationId: src.id },
      target: { backend: target, locationId: dst.id, tags: {} },
      transfers: 4,
      maxBuffer: 64 * 1024 * 1024,
      retry: { retries: 4, baseDelayMs: 1, maxDelayMs: 5 },
    });
  };
  return { store, run, tree, dst };
}

describe.each(CATALOG_KINDS)("executor with a %s catalog", (kind) => {
  it("a sync with nothing to do makes no call at all to the destination", async () => {
    const dir = tempDir();
    const catalog = await freshCatalog(kind, dir);
    const { store, run } = await setup(catalog, dir);
    expect((await run(store)).copied.files).toBe(120);
    const watched = counting(store);
    const second = await run(watched.backend);
    expect(second.copied.files).toBe(0);
    expect(watched.calls).toEqual([]);
    await store.close();
    await catalog.close();
  });

  it("retries throttling answers and journals the attempts", async () => {
    const dir = tempDir();
    const catalog = await freshCatalog(kind, dir);
    const { store, run } = await setup(catalog, dir);
    const report = await run(flaky(store, 5));
    expect(report.failures).toEqual([]);
    expect(report.copied.files).toBe(120);
    const retried = await catalog.db.selectFrom("actions").select("attempts").where("attempts", ">", 1).execute();
    expect(retried.reduce((sum, a) => sum + a.attempts - 1, 0)).toBe(5);
    await store.close();
    await catalog.close();
  });

  it("a copy over a recorded replica that fails leaves that replica present, with its hash", async () => {
    const dir = tempDir();
    const catalog = await freshCatalog(kind, dir);
    const { store, run, tree, dst } = await setup(catalog, dir);
    await run(store);
    const before = await catalog.db.selectFrom("replicas").select(["key", "hash", "state"]).orderBy("key").execute();
    const changed = before.slice(0, 3).map((r) => r.key);
    for (const key of changed) writeFileSync(join(tree, key), `a newer version of ${key}`);

    const report = await run(flaky(store, 1000));
    expect(report.failures.map((f) => f.path).sort()).toEqual(changed);
    const after = await catalog.db
      .selectFrom("replicas")
      .select(["key", "hash", "state"])
      .where("location_id", "=", dst.id)
      .orderBy("key")
      .execute();
    expect(after).toEqual(before);
    await store.close();
    await catalog.close();
  });
});
