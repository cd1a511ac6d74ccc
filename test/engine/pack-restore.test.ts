import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Transform } from "node:stream";
import { describe, expect, it } from "vitest";
import { parseLocationUrl } from "../../src/backends/all.js";
import type { Backend, ByteRange } from "../../src/backends/backend.js";
import { LocalStoreBackend } from "../../src/backends/local/local-backend.js";
import { openCatalog } from "../../src/catalog/db.js";
import { replicasOfFile } from "../../src/catalog/replicas.js";
import { directoryTarget, restoreFile, withRestoreRun } from "../../src/engine/restore.js";
import { DEFAULT_RETRY } from "../../src/transfer/retry.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";

/**
 * Issue 15: restoring one member of a pack is one ranged read of its own frame, never the whole
 * pack. The store is the real embedded one, wrapped so that every byte read is counted.
 */

interface Counted {
  backend: Backend;
  reads: { key: string; range: ByteRange | undefined; bytes: number }[];
}

/** The store as restore sees it, with each read's key, range and bytes counted as they flow. */
function counting(backend: Backend): Counted {
  const reads: Counted["reads"] = [];
  const counted = new Proxy(backend, {
    get(target, property, receiver) {
      if (property === "read") {
        return async (key: string, range?: ByteRange) => {
          const reader = await target.read(key, range);
          const entry = { key, range, bytes: 0 };
          reads.push(entry);
          const meter = new Transform({
            transform(chunk: Buffer, _encoding, done) {
              entry.bytes += chunk.length;
              done(null, chunk);
            },
          });
          return { ...reader, body: reader.body.pipe(meter) };
        };
      }
      const value = Reflect.get(target, property, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { backend: counted, reads };
}

describe.each(CATALOG_KINDS)("restore of one pack member (%s catalog)", (kind) => {
  it("reads only that member's frame: one ranged read of its recorded length", async () => {
    const work = tempDir("strata-pack-range-");
    const tree = join(work, "tree");
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 300; i++) files[`set-${i % 5}/f-${i}.bin`] = randomBytes(1000 + ((i * 37) % 3000));
    writeTree(tree, files);
    const catalogUrl = await freshCatalogUrl(kind, work);
    const synced = await strata(
      ["--catalog", catalogUrl, "sync", "tree", "local:store", "--pack-below", "1MiB", "--pack-codec", "gzip"],
      { cwd: work },
    );
    expect(synced.code).toBe(0);

    const store = join(work, "store");
    const local = await LocalStoreBackend.open(store, `local://${store}`, { restoreDelayMs: 0 });
    const { backend, reads } = counting(local);
    const catalog = await openCatalog(catalogUrl);
    try {
      const file = await catalog.db
        .selectFrom("files")
        .selectAll()
        .where("path", "=", "set-2/f-157.bin")
        .executeTakeFirstOrThrow();
      const replicas = await replicasOfFile(catalog, file.id);
      const [member] = replicas;
      expect(replicas).toHaveLength(1);
      expect(member?.pack_id).not.toBeNull();
      const pack = await catalog.db.selectFrom("packs").selectAll().executeTakeFirstOrThrow();
      expect(pack.members).toBe(300);

      const into = join(work, "out");
      mkdirSync(into);
      const deps = {
        catalog,
        retryPolicy: DEFAULT_RETRY,
        location: async (name: string) => ({
          name,
          row: { id: member?.location_id as number },
          parsed: parseLocationUrl(member?.location_url as string, work),
          settings: {},
          backend,
        }),
      };
      const target = await directoryTarget(into);
      const outcome = await withRestoreRun(deps, "restore one member", { transfers: 1, maxBuffer: 1 << 26 }, (inRun) =>
        restoreFile(inRun, { file, replicas, target, thaw: { days: 1 }, dryRun: false }),
      );
      expect(outcome.kind).toBe("restored");
      expect(readFileSync(join(into, file.path)).equals(files[file.path] as Buffer)).toBe(true);

      // The pack was read once, for exactly the member's frame; nothing else of it.
      const packReads = reads.filter((r) => r.key === pack.key);
      expect(packReads).toHaveLength(1);
      const length = member?.pack_length as number;
      expect(packReads[0]?.range).toEqual({
        start: member?.pack_offset,
        end: (member?.pack_offset as number) + length - 1,
      });
      expect(packReads[0]?.bytes).toBe(length);
      expect(pack.size).toBeGreaterThan(100 * length);
    } finally {
      await catalog.close();
      await local.close();
    }
  });
});
