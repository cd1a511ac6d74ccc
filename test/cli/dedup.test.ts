import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { sha256Hex } from "../support/bytes.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { finished, spawnStrata } from "../support/cli.js";
import { snapshot } from "../support/snapshot.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";
import { expectExit, type Workspace, workspaceWith } from "../support/workspace.js";

/** Bytes the embedded store holds on disk: its object bodies, not its index or writes in progress. */
function storedBytes(store: string): number {
  const blobs = join(store, "blobs");
  let total = 0;
  for (const shard of readdirSync(blobs)) {
    if (shard === "tmp") continue;
    for (const blob of readdirSync(join(blobs, shard))) total += statSync(join(blobs, shard, blob)).size;
  }
  return total;
}

function storeKeys(store: string): string[] {
  const db = new Database(join(store, "index.db"), { readonly: true, fileMustExist: true });
  try {
    // The store may be caught between creating its index file and its table.
    const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'objects'").get();
    if (!exists) return [];
    return (db.prepare("SELECT key FROM objects ORDER BY key").all() as { key: string }[]).map((r) => r.key);
  } finally {
    db.close();
  }
}

/** `unique` files of random content, then `duplicates` more files each holding one of them, in other directories. */
function treeWithDuplicates(unique: number, duplicates: number): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  const originals: Buffer[] = [];
  for (let i = 0; i < unique; i++) {
    const content = randomBytes(2048 + ((i * 977) % 14336));
    originals.push(content);
    files[`data/u${i}.bin`] = content;
  }
  for (let i = 0; i < duplicates; i++) files[`copies/${i % 4}/d${i}.bin`] = originals[(i * 7) % unique] as Buffer;
  return files;
}

function dedupWorkspace(catalog: string, files: Record<string, Buffer>, more: string[] = []): Workspace {
  return workspaceWith(
    "strata-dedup-",
    [
      `catalog: ${catalog}`,
      "locations:",
      "  tree:",
      "    url: ./tree",
      "  vault:",
      "    url: local:store",
      "    dedup: true",
      ...more,
    ],
    files,
  );
}

/** Every file of `expected` is in `dir`, byte for byte. */
function expectRestored(dir: string, expected: Record<string, Buffer>): void {
  const restored = snapshot(dir);
  for (const [path, content] of Object.entries(expected)) {
    const copy = restored.get(Buffer.from(path).toString("hex"));
    expect(copy?.content.equals(content), path).toBe(true);
  }
  expect(restored.size).toBe(Object.keys(expected).length);
}

const sum = (buffers: Iterable<Buffer>) => [...buffers].reduce((n, b) => n + b.length, 0);
const uniqueBytes = (files: Record<string, Buffer>) =>
  sum(new Map(Object.values(files).map((b) => [sha256Hex(b), b])).values());

describe.each(CATALOG_KINDS)("dedup: true on a location (%s catalog)", (kind) => {
  it("a tree with 30% duplicate content stores 30% fewer bytes; every file restores and verifies", async () => {
    const files = treeWithDuplicates(70, 30);
    const ws = dedupWorkspace(await freshCatalogUrl(kind, tempDir("strata-dedup-cat-")), files);
    // The duplicates' own mode and mtime differ from their first writers': a restore gives each its own.
    for (const path of Object.keys(files).filter((p) => p.startsWith("copies/"))) {
      chmodSync(join(ws.dir, "tree", path), 0o600);
      utimesSync(join(ws.dir, "tree", path), new Date("2020-02-02T02:02:02Z"), new Date("2020-02-02T02:02:02Z"));
    }
    const original = snapshot(join(ws.dir, "tree"));

    const up = await ws.run("--json", "sync", "tree", "vault");
    expectExit(up, "sync");
    const { result } = JSON.parse(up.stdout);
    expect(result.copied.files).toBe(70);
    expect(result.deduplicated.files).toBe(30);

    const logical = sum(Object.values(files));
    const stored = storedBytes(join(ws.dir, "store"));
    expect(stored).toBe(uniqueBytes(files));
    expect(stored / logical).toBeLessThan(0.8);

    // du and cost: logical bytes, what the store holds, and what deduplication kept from being stored.
    const du = await ws.run("--json", "du", "tree");
    expectExit(du, "du");
    const vaultCopies = JSON.parse(du.stdout).rows[0].at.vault;
    expect(vaultCopies.stored_bytes).toBe(stored);
    expect(vaultCopies.deduplicated_bytes).toBe(logical - stored);
    const cost = await ws.run("--json", "cost", "--by", "location");
    expectExit(cost, "cost");
    const vaultCost = JSON.parse(cost.stdout).lines.find(
      (l: { group: { location: string } }) => l.group.location === "vault",
    );
    expect(vaultCost).toMatchObject({
      objects: 70,
      logicalBytes: logical,
      storedBytes: stored,
      deduplicatedBytes: logical - stored,
    });

    expectExit(await ws.run("restore", "tree:", "--to", "back"), "restore");
    expectRestored(join(ws.dir, "back"), files);
    const restored = snapshot(join(ws.dir, "back"));
    for (const [path, file] of original) {
      const name = Buffer.from(path, "hex").toString();
      expect([restored.get(path)?.mode, restored.get(path)?.mtimeUs], name).toEqual([file.mode, file.mtimeUs]);
    }
    const verify = await ws.run("--json", "verify", "vault");
    expectExit(verify, "verify");
    expect(JSON.parse(verify.stdout).verified).toBe(100);

    const again = await ws.run("--json", "sync", "tree", "vault");
    expect(JSON.parse(again.stdout).result.copied.files).toBe(0);
  });

  it("deleting or changing one of two deduplicated files leaves the other's copy whole", async () => {
    const x = randomBytes(9000);
    const y = randomBytes(5000);
    const files: Record<string, Buffer> = {
      "a.bin": x,
      "b/a-copy.bin": x,
      "c.bin": y,
      "d/c-copy.bin": y,
      "e.bin": randomBytes(100),
    };
    // The first writers first, so that theirs are the shared keys.
    const firsts = { "a.bin": x, "c.bin": y, "e.bin": files["e.bin"] as Buffer };
    const ws = dedupWorkspace(await freshCatalogUrl(kind, tempDir("strata-dedup-cat-")), firsts);
    const store = join(ws.dir, "store");
    expectExit(await ws.run("sync", "tree", "vault"), "sync");
    writeTree(join(ws.dir, "tree"), files);
    const dedup = await ws.run("--json", "sync", "tree", "vault");
    expectExit(dedup, "sync of the copies");
    expect(JSON.parse(dedup.stdout).result.deduplicated.files).toBe(2);
    expect(storeKeys(store)).toEqual(["a.bin", "c.bin", "e.bin"]);

    // The first writers change: a.bin gets new content, c.bin is deleted; their objects are shared.
    const z = randomBytes(7000);
    writeFileSync(join(ws.dir, "tree", "a.bin"), z);
    rmSync(join(ws.dir, "tree", "c.bin"));
    const second = await ws.run("--json", "sync", "tree", "vault", "--delete", "--force");
    expectExit(second, "sync --delete");
    expect(JSON.parse(second.stdout).result.deleted.files).toBe(1);
    expect(storeKeys(store)).toEqual([`.strata-dedup/sha256/${sha256Hex(z)}`, "a.bin", "c.bin", "e.bin"]);

    const now = { "a.bin": z, "b/a-copy.bin": x, "d/c-copy.bin": y, "e.bin": files["e.bin"] as Buffer };
    // Each file by name: the deleted c.bin has no copy left to restore.
    for (const path of Object.keys(now)) expectExit(await ws.run("restore", `tree:${path}`, "--to", "back"), path);
    expectRestored(join(ws.dir, "back"), now);
    expectExit(await ws.run("verify", "vault"), "verify");

    // The last file referencing each old object goes: so do the objects.
    rmSync(join(ws.dir, "tree", "b"), { recursive: true });
    rmSync(join(ws.dir, "tree", "d"), { recursive: true });
    expectExit(await ws.run("sync", "tree", "vault", "--delete", "--force"), "sync --delete");
    expect(storeKeys(store)).toEqual([`.strata-dedup/sha256/${sha256Hex(z)}`, "e.bin"]);
  });

  it("a file whose own copy was shared and that changes again moves its object, keeping the sharer's", async () => {
    const x = randomBytes(4000);
    const ws = dedupWorkspace(await freshCatalogUrl(kind, tempDir("strata-dedup-cat-")), { "a.bin": x });
    expectExit(await ws.run("sync", "tree", "vault"), "sync");
    writeTree(join(ws.dir, "tree"), { "b.bin": x });
    expectExit(await ws.run("sync", "tree", "vault"), "sync of the copy");
    // b.bin shares a.bin's object; b.bin changes twice: its own key, then the same key again.
    const first = randomBytes(3000);
    writeFileSync(join(ws.dir, "tree", "b.bin"), first);
    expectExit(await ws.run("sync", "tree", "vault"), "sync after a change");
    const second = randomBytes(3500);
    writeFileSync(join(ws.dir, "tree", "b.bin"), second);
    expectExit(await ws.run("sync", "tree", "vault"), "sync after another change");
    expect(storeKeys(join(ws.dir, "store"))).toEqual(["a.bin", "b.bin"]);
    expectExit(await ws.run("restore", "tree:", "--to", "back"), "restore");
    expectRestored(join(ws.dir, "back"), { "a.bin": x, "b.bin": second });
  });
});

describe("dedup with compression", () => {
  it("a file sharing a compressed object records its codec and stored size; check and restore agree", async () => {
    const text = Buffer.from("time,value\n".concat("2026-12-05T00:00:00Z,42.0\n".repeat(4000)));
    const files = { "a/series.csv": text, "b/series-copy.csv": text };
    const catalog = join(tempDir("strata-dedup-zstd-"), "cat.db");
    const ws = dedupWorkspace(catalog, files, ["    codec: zstd"]);
    const up = await ws.run("--json", "sync", "tree", "vault");
    expectExit(up, "sync");
    expect(JSON.parse(up.stdout).result.deduplicated.files).toBe(1);

    const db = new Database(catalog, { readonly: true });
    const rows = db.prepare("SELECT key, codec, size, stored_size FROM replicas ORDER BY id").all() as {
      key: string;
      codec: string | null;
      size: number;
      stored_size: number | null;
    }[];
    db.close();
    expect(rows).toHaveLength(2);
    expect(rows[1]).toEqual(rows[0]);
    expect(rows[0]?.codec).toBe("zstd");
    expect(rows[0]?.stored_size).toBeLessThan(text.length / 10);
    expect(storedBytes(join(ws.dir, "store"))).toBe(rows[0]?.stored_size);

    expectExit(await ws.run("catalog", "check", "vault"), "catalog check");
    expectExit(await ws.run("verify", "vault"), "verify");
    rmSync(join(ws.dir, "tree"), { recursive: true });
    expectExit(await ws.run("restore", "tree:"), "restore");
    expectRestored(join(ws.dir, "tree"), files);
  }, 120_000);
});

describe("dedup through policies and a rebuilt catalog", () => {
  it("a policy copies into a dedup location and prunes: a shared object stays until its last file goes", async () => {
    const x = randomBytes(6000);
    // keep.txt stays, so the tree is never empty (a scan would take an empty tree for unmounted).
    const firsts = { "a.bin": x, "keep.txt": Buffer.from("kept") };
    const ws = dedupWorkspace(join(tempDir("strata-dedup-cat-"), "catalog.db"), firsts, [
      "policies:",
      "  - name: keep",
      "    from: tree",
      "    place: [{ to: vault }]",
      "    prune: true",
      "    maxDeleteShare: 1",
      '    schedule: "0 3 * * *"',
    ]);
    const store = join(ws.dir, "store");
    const apply = async (what: string) => {
      expectExit(await ws.run("scan", "tree"), `scan (${what})`);
      expectExit(await ws.run("apply"), `apply (${what})`);
    };
    await apply("first");
    writeTree(join(ws.dir, "tree"), { "b.bin": x });
    await apply("the copy");
    expect(storeKeys(store)).toEqual(["a.bin", "keep.txt"]);

    rmSync(join(ws.dir, "tree", "a.bin"));
    await apply("a.bin deleted");
    expect(storeKeys(store)).toEqual(["a.bin", "keep.txt"]);
    expectExit(await ws.run("restore", "tree:b.bin", "--to", "back"), "restore");
    expectRestored(join(ws.dir, "back"), { "b.bin": x });

    rmSync(join(ws.dir, "tree", "b.bin"));
    await apply("b.bin deleted");
    expect(storeKeys(store)).toEqual(["keep.txt"]);
  });

  it("a catalog rebuilt from the store knows the first writer; the next sync links the others, moving nothing", async () => {
    const files = treeWithDuplicates(20, 10);
    const catalogDir = tempDir("strata-dedup-cat-");
    const ws = dedupWorkspace(join(catalogDir, "catalog.db"), files);
    expectExit(await ws.run("sync", "tree", "vault"), "sync");
    const before = storeKeys(join(ws.dir, "store"));
    rmSync(catalogDir, { recursive: true });

    const rebuild = await ws.run("--json", "catalog", "rebuild", "tree", "vault");
    expectExit(rebuild, "catalog rebuild");
    const relink = await ws.run("--json", "sync", "tree", "vault");
    expectExit(relink, "sync after the rebuild");
    const { result } = JSON.parse(relink.stdout);
    expect(result.copied.files).toBe(0);
    expect(result.deduplicated.files).toBe(10);
    expect(storeKeys(join(ws.dir, "store"))).toEqual(before);
    expectExit(await ws.run("restore", "tree:", "--to", "back"), "restore");
    expectRestored(join(ws.dir, "back"), files);
  });
});

describe("dedup under interruption and concurrency", () => {
  it("kill -9 mid-sync, then a re-run: converges, every file restores, nothing shared lost", async () => {
    const files = treeWithDuplicates(420, 180);
    const ws = dedupWorkspace(join(tempDir("strata-dedup-cat-"), "catalog.db"), files);
    const store = join(ws.dir, "store");
    const child = spawnStrata(["--config", ws.config, "sync", "tree", "vault", "--transfers", "2"], { cwd: ws.dir });
    const done = finished(child);
    let atKill = 0;
    for (let i = 0; i < 2000 && atKill < 150; i++) {
      await sleep(10);
      atKill = existsSync(join(store, "index.db")) ? storeKeys(store).length : 0;
    }
    child.kill("SIGKILL");
    expect((await done).signal).toBe("SIGKILL");
    expect(atKill).toBeGreaterThanOrEqual(150);

    const rerun = await ws.run("--json", "sync", "tree", "vault");
    expectExit(rerun, "sync after the kill");
    expect(JSON.parse(rerun.stdout).result.failures).toEqual([]);
    expect(storedBytes(store)).toBe(uniqueBytes(files));
    expectExit(await ws.run("restore", "tree:", "--to", "back"), "restore");
    expectRestored(join(ws.dir, "back"), files);
    const verify = await ws.run("--json", "verify", "vault");
    expectExit(verify, "verify");
    expect(JSON.parse(verify.stdout).verified).toBe(600);
  });

  it("two syncs of identical trees into one dedup location at once: no object lost, the content stored once", async () => {
    const files = treeWithDuplicates(60, 20);
    const ws = dedupWorkspace(join(tempDir("strata-dedup-cat-"), "catalog.db"), files, ["  twin:", "    url: ./twin"]);
    writeTree(join(ws.dir, "twin"), files);
    const [one, two] = await Promise.all([ws.run("sync", "tree", "vault"), ws.run("sync", "twin", "vault")]);
    expectExit(one, "sync tree");
    expectExit(two, "sync twin");
    expect(storedBytes(join(ws.dir, "store"))).toBe(uniqueBytes(files));
    expectExit(await ws.run("restore", "tree:", "--to", "back-tree"), "restore tree");
    expectExit(await ws.run("restore", "twin:", "--to", "back-twin"), "restore twin");
    expectRestored(join(ws.dir, "back-tree"), files);
    expectRestored(join(ws.dir, "back-twin"), files);
  });
});

describe.each(CATALOG_KINDS)("dedup against pack members (%s catalog)", (kind) => {
  // About 40 CLI processes (one restore per file), each opening the catalog: on PostgreSQL with
  // the suite running beside it, more than the default minute.
  it("content stored once, as a member or whole: packs share, copies point at members; nothing shared is lost", async () => {
    const files = treeWithDuplicates(20, 10);
    const url = await freshCatalogUrl(kind, tempDir("strata-dedup-cat-"));
    const ws = dedupWorkspace(url, files);
    const store = join(ws.dir, "store");
    // Duplicates within one packed sync share the first one's member: 20 frames in the pack, 30 rows.
    const packed = await ws.run("--json", "sync", "tree", "vault", "--pack-below", "64KiB");
    expectExit(packed, "packed sync");
    expect(JSON.parse(packed.stdout).result).toMatchObject({ copied: { files: 20 }, deduplicated: { files: 10 } });
    const packKeys = storeKeys(store).filter((k) => !k.endsWith(".index.jsonl"));
    expect(packKeys).toHaveLength(1);
    const catalog = await openCatalog(url);
    const rows = async () =>
      catalog.db
        .selectFrom("replicas as r")
        .innerJoin("files as f", "f.id", "r.file_id")
        .select(["f.path", "r.key", "r.pack_id", "r.pack_offset", "r.pack_length", "r.codec", "r.stored_size"])
        .orderBy("f.path")
        .execute();
    try {
      const pack = await catalog.db.selectFrom("packs").selectAll().executeTakeFirstOrThrow();
      expect(pack.members).toBe(20);
      const members = await rows();
      expect(members).toHaveLength(30);
      expect(new Set(members.map((m) => m.pack_offset)).size).toBe(20);
      for (const m of members) expect(m).toMatchObject({ key: pack.key, pack_id: pack.id });

      // A large file whose content lies in the pack points at that member; a small one whose content
      // lies there as a whole object shares it rather than being packed again.
      const member = members.find((m) => m.path === "data/u3.bin") as (typeof members)[0];
      const whole = randomBytes(200_000);
      writeTree(join(ws.dir, "tree"), { "big/whole.bin": whole });
      expectExit(await ws.run("sync", "tree", "vault"), "sync of a whole object");
      writeTree(join(ws.dir, "tree"), {
        "later/u3-again.bin": files["data/u3.bin"] as Buffer,
        "later/whole-again.bin": whole,
      });
      const later = await ws.run("--json", "sync", "tree", "vault", "--pack-below", "1MiB");
      expectExit(later, "sync of the copies");
      expect(JSON.parse(later.stdout).result).toMatchObject({ copied: { files: 0 }, deduplicated: { files: 2 } });
      const after = await rows();
      expect(after.find((m) => m.path === "later/u3-again.bin")).toEqual({ ...member, path: "later/u3-again.bin" });
      expect(after.find((m) => m.path === "later/whole-again.bin")).toMatchObject({
        key: "big/whole.bin",
        pack_id: null,
      });
      expect(storeKeys(store).filter((k) => !k.endsWith(".index.jsonl"))).toEqual(
        ["big/whole.bin", packKeys[0]].sort(),
      );

      // du and cost: the pack is one object; the sharers' bytes are deduplicated, not stored.
      const logical = sum(Object.values(files)) + 2 * whole.length + (files["data/u3.bin"] as Buffer).length;
      const cost = await ws.run("--json", "cost", "--by", "location");
      expectExit(cost, "cost");
      const vault = JSON.parse(cost.stdout).lines.find(
        (l: { group: { location: string } }) => l.group.location === "vault",
      );
      const duplicated = logical - uniqueBytes({ ...files, "big/whole.bin": whole });
      expect(vault).toMatchObject({
        objects: 2,
        logicalBytes: logical,
        storedBytes: Number(pack.size) + whole.length,
        deduplicatedBytes: duplicated,
      });
      const du = await ws.run("--json", "du", "tree");
      expectExit(du, "du");
      expect(JSON.parse(du.stdout).rows[0].at.vault.deduplicated_bytes).toBe(duplicated);

      // The first writer of a shared member goes: the pack stays, the sharer restores and verifies.
      rmSync(join(ws.dir, "tree", "data", "u3.bin"));
      expectExit(await ws.run("sync", "tree", "vault", "--delete", "--force"), "sync --delete");
      expect(storeKeys(store).filter((k) => !k.endsWith(".index.jsonl"))).toEqual(
        ["big/whole.bin", packKeys[0]].sort(),
      );
      const now: Record<string, Buffer> = {
        ...files,
        "big/whole.bin": whole,
        "later/u3-again.bin": files["data/u3.bin"] as Buffer,
        "later/whole-again.bin": whole,
      };
      delete now["data/u3.bin"];
      // Each file by name: the deleted one has no copy left to restore.
      for (const path of Object.keys(now)) expectExit(await ws.run("restore", `tree:${path}`, "--to", "back"), path);
      expectRestored(join(ws.dir, "back"), now);
      const verify = await ws.run("--json", "verify", "vault");
      expectExit(verify, "verify");
      expect(JSON.parse(verify.stdout).verified).toBe(Object.keys(now).length);
    } finally {
      await catalog.close();
    }
  }, 240_000);
});
