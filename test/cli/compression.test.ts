import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { formatBytes } from "../../src/config/units.js";
import { sha256Hex } from "../support/bytes.js";
import { finished, spawnStrata } from "../support/cli.js";
import { csvTable, float64Field } from "../support/research-data.js";
import { sqliteRows } from "../support/sqlite-rows.js";
import { expectExit, type Workspace, workspaceWith } from "../support/workspace.js";

/*
 * Issue 15, compression, end to end through the CLI on the embedded store: objects a codec wrote
 * are read by that codec's own CLI alone; restore, verify, sync back to a tree and a catalog
 * rebuild all see the logical content, and damage is named.
 */

const FILES: Record<string, Buffer> = {
  "table.csv": csvTable(5_000),
  // Over two frames of 4 MiB: a run of three frames.
  "big/series.csv": csvTable(250_000),
  "field.f64": float64Field(200_000),
  "reads.gz": gzipSync(csvTable(20_000)),
  "noise.bin": randomBytes(200_000),
  "empty.txt": Buffer.alloc(0),
};

/** `scratch` (./tree holding `files`) and one embedded store per entry of `codecs`, then `extra` lines. */
function workspace(label: string, codecs: Record<string, string>, files = FILES, extra: string[] = []): Workspace {
  const stores = Object.entries(codecs).flatMap(([name, codec]) => [
    `  ${name}:`,
    `    url: local:${name}-store`,
    `    codec: "${codec}"`,
  ]);
  const config = ["catalog: cat.db", "locations:", "  scratch:", "    url: ./tree", ...stores, ...extra];
  return workspaceWith(label, config, files);
}

interface StoredObject {
  key: string;
  blob: string;
  size: number;
  metadata: string;
}

/** The embedded store's object for `key`: its index row, and the blob file holding its bytes. */
function storedObject(ws: Workspace, store: string, key: string): StoredObject & { bytes: Buffer; path: string } {
  const [row] = sqliteRows<StoredObject>(
    join(ws.dir, `${store}-store`, "index.db"),
    "SELECT * FROM objects WHERE key = ?",
    key,
  );
  if (!row) throw new Error(`no object ${key} in ${store}`);
  const path = join(ws.dir, `${store}-store`, "blobs", row.blob);
  return { ...row, path, bytes: readFileSync(path) };
}

interface ReplicaRow {
  key: string;
  size: number;
  stored_size: number | null;
  codec: string | null;
  hash: string;
}

function replicas(ws: Workspace, store: string): Map<string, ReplicaRow> {
  const rows = sqliteRows<ReplicaRow>(
    join(ws.dir, "cat.db"),
    `SELECT r.key, r.size, r.stored_size, r.codec, r.hash FROM replicas r JOIN locations l ON l.id = r.location_id
     WHERE l.name = ?`,
    store,
  );
  return new Map(rows.map((r) => [r.key, r]));
}

function objectCount(index: string): number {
  // The store may be caught between creating its index file and its table.
  const tables = sqliteRows<{ n: number }>(index, "SELECT count(*) AS n FROM sqlite_master WHERE name = 'objects'");
  return tables[0]?.n ? (sqliteRows<{ n: number }>(index, "SELECT count(*) AS n FROM objects")[0]?.n ?? 0) : 0;
}

async function synced(ws: Workspace, ...stores: string[]): Promise<void> {
  expectExit(await ws.run("scan", "scratch"), "scan");
  for (const store of stores) expectExit(await ws.run("sync", "scratch", store), `sync to ${store}`);
}

describe("compression on the embedded store", () => {
  it("zstd, lz4 and gzip objects are read by the codec's CLI alone, byte-identical; the catalog records codec and stored bytes", async () => {
    const ws = workspace("strata-codec-cli-", { zs: "zstd:9", lz: "lz4", gz: "gzip" });
    await synced(ws, "zs", "lz", "gz");
    for (const [store, cli] of [
      ["zs", "zstd"],
      ["lz", "lz4"],
      ["gz", "gzip"],
    ] as const) {
      const rows = replicas(ws, store);
      for (const [path, content] of Object.entries(FILES)) {
        const row = rows.get(path);
        expect(row, `${store}:${path}`).toBeDefined();
        expect(row?.hash).toBe(sha256Hex(content));
        expect(row?.size).toBe(content.length);
        if (content.length === 0) {
          expect(row?.codec, "an empty file is stored as it is").toBeNull();
          continue;
        }
        const object = storedObject(ws, store, path);
        expect(row?.codec, `${store}:${path}`).toBe(cli);
        expect(row?.stored_size ?? row?.size).toBe(object.bytes.length);
        const decoded = execFileSync(cli, ["-dc", object.path], { maxBuffer: 64 * 1024 * 1024 });
        expect(decoded.equals(content), `${cli} -dc ${store}:${path}`).toBe(true);
        const metadata = JSON.parse(object.metadata) as Record<string, string>;
        expect(metadata).toMatchObject({
          "strata-codec": cli,
          "strata-size": String(content.length),
          "strata-sha256": sha256Hex(content),
        });
      }
    }
    const check = await ws.run("catalog", "check", "zs", "lz", "gz");
    expectExit(check, "catalog check");
    expect(check.stdout).toContain("catalog and stores agree");
    const shown = await ws.run("show", "scratch:table.csv");
    expectExit(shown, "show");
    const stored = replicas(ws, "lz").get("table.csv")?.stored_size;
    expect(shown.stdout).toContain(`lz4, ${formatBytes(stored as number)} stored (${stored} bytes)`);
    const big = storedObject(ws, "zs", "big/series.csv");
    expect(big.bytes.length).toBeLessThan(FILES["big/series.csv"]?.length as number);
  });

  it("restore and verify read compressed replicas back byte for byte; a sync down to a tree writes plain files", async () => {
    const ws = workspace("strata-codec-restore-", { zs: "zstd", lz: "lz4" });
    await synced(ws, "zs", "lz");
    const verified = await ws.run("verify", "zs");
    expectExit(verified, "verify zs");
    expect(verified.stdout).toContain(`Verified ${Object.keys(FILES).length} files`);
    for (const store of ["zs", "lz"]) {
      const to = join(ws.dir, `restored-${store}`);
      expectExit(await ws.run("restore", "--from", store, "scratch:", "--to", to), `restore from ${store}`);
      for (const [path, content] of Object.entries(FILES)) {
        expect(readFileSync(join(to, path)).equals(content), `${store} restored ${path}`).toBe(true);
      }
    }
    writeFileSync(join(ws.config), `${readFileSync(ws.config, "utf8")}  down:\n    url: ./down\n`);
    expectExit(await ws.run("scan", "zs"), "scan of the store");
    expectExit(await ws.run("sync", "zs", "down"), "sync down");
    for (const [path, content] of Object.entries(FILES)) {
      expect(readFileSync(join(ws.dir, "down", path)).equals(content), `down/${path}`).toBe(true);
    }
  });

  it("auto stores a .gz and noise raw, tables and float arrays as zstd; seed picks gzip for text and LZ4 for binary", async () => {
    const ws = workspace("strata-codec-auto-", { au: "auto", sd: "seed" });
    await synced(ws, "au", "sd");
    const auto = replicas(ws, "au");
    expect(auto.get("reads.gz")?.codec).toBeNull();
    expect(auto.get("reads.gz")?.stored_size).toBeNull();
    expect(storedObject(ws, "au", "reads.gz").bytes.equals(FILES["reads.gz"] as Buffer)).toBe(true);
    expect(auto.get("noise.bin")?.codec).toBeNull();
    for (const path of ["table.csv", "big/series.csv", "field.f64"]) {
      expect(auto.get(path)?.codec, path).toBe("zstd");
      expect(auto.get(path)?.stored_size, path).toBeLessThan(FILES[path]?.length as number);
    }
    const seed = replicas(ws, "sd");
    expect(seed.get("table.csv")?.codec).toBe("gzip");
    expect(seed.get("big/series.csv")?.codec).toBe("gzip");
    expect(seed.get("field.f64")?.codec).toBe("lz4");
    expect(seed.get("noise.bin")?.codec).toBe("lz4");
    expect(seed.get("reads.gz")?.codec).toBe("lz4");
  });

  it("a damaged or truncated compressed object fails verify, naming the object; a restore from it writes nothing", async () => {
    const ws = workspace("strata-codec-damage-", { zs: "zstd", lz: "lz4" });
    await synced(ws, "zs", "lz");
    const flipped = storedObject(ws, "zs", "table.csv");
    const bytes = Buffer.from(flipped.bytes);
    bytes.writeUInt32LE(0xdeadbeef, bytes.length >> 1);
    writeFileSync(flipped.path, bytes);
    const cut = storedObject(ws, "lz", "big/series.csv");
    truncateSync(cut.path, cut.bytes.length - 100);
    const to = join(ws.dir, "restored");
    const restore = await ws.run("restore", "--from", "lz", "scratch:big/series.csv", "--to", to);
    expectExit(restore, "restore from a truncated object", 1);
    expect(restore.stderr).toContain("big/series.csv");
    expect(existsSync(join(to, "big/series.csv")), "nothing is left where the file was to be").toBe(false);
    const zs = await ws.run("verify", "zs");
    expectExit(zs, "verify of a flipped zstd object", 1);
    expect(zs.stderr).toContain("zs:table.csv");
    // Damage inside a frame is caught by the decoder or, when the frame still decodes, by the hash.
    const expected = sha256Hex(FILES["table.csv"] as Buffer);
    expect(zs.stderr).toMatch(
      new RegExp(`zstd object does not decode: the frame at byte 0 does not decode|expected ${expected}`),
    );
    const lz = await ws.run("verify", "lz");
    expectExit(lz, "verify of a truncated lz4 object", 1);
    expect(lz.stderr).toContain("big/series.csv");
    expect(lz.stderr).toMatch(/lz4 object does not decode: truncated: the frame at byte \d+ does not end/);
  });

  it("a bad codec: in the config names the key and exits 2", async () => {
    const ws = workspace("strata-codec-config-", { zs: "zstd:42" });
    const result = await ws.run("scan", "scratch");
    expectExit(result, "scan with a bad codec", 2);
    expect(result.stderr).toContain("locations.zs.codec");
    expect(result.stderr).toContain("zstd:LEVEL (LEVEL 1 to 19)");
  });

  it("a policy placement's codec: wins over the location's", async () => {
    const ws = workspace(
      "strata-codec-placement-",
      { plain: "zstd", packed: "none" },
      { "table.csv": FILES["table.csv"] as Buffer },
      [
        "policies:",
        "  - name: keep-both",
        "    from: [scratch]",
        '    place: [{ to: plain, codec: none }, { to: packed, codec: "lz4" }]',
        '    schedule: "0 3 * * *"',
      ],
    );
    expectExit(await ws.run("scan", "scratch"), "scan");
    expectExit(await ws.run("apply"), "apply");
    expect(replicas(ws, "plain").get("table.csv")?.codec).toBeNull();
    expect(storedObject(ws, "plain", "table.csv").bytes.equals(FILES["table.csv"] as Buffer)).toBe(true);
    expect(replicas(ws, "packed").get("table.csv")?.codec).toBe("lz4");
    const lz4 = execFileSync("lz4", ["-dc", storedObject(ws, "packed", "table.csv").path]);
    expect(lz4.equals(FILES["table.csv"] as Buffer)).toBe(true);
  });

  it("release frees files whose only copy is compressed; restore brings them back byte for byte", async () => {
    const ws = workspace("strata-codec-release-", { zs: "zstd" }, FILES, [
      "policies:",
      "  - name: release-all",
      "    from: [scratch]",
      "    place: [{ to: zs }]",
      "    then: release",
    ]);
    expectExit(await ws.run("scan", "scratch"), "scan");
    expectExit(await ws.run("apply"), "apply: copy");
    expectExit(await ws.run("apply"), "apply: release");
    const released = readFileSync(join(ws.dir, "tree", "big/series.csv"));
    expect(released.toString()).toMatch(/^# strata stub v1 /);
    expectExit(await ws.run("restore", "scratch:"), "restore in place");
    for (const [path, content] of Object.entries(FILES)) {
      expect(readFileSync(join(ws.dir, "tree", path)).equals(content), path).toBe(true);
    }
  });

  it("a compressed sync killed with SIGKILL mid-run converges on a re-run; every object decodes to its file", async () => {
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 300; i++)
      files[`runs/r${i}.csv`] = Buffer.concat([Buffer.from(`run ${i}\n`), csvTable(400 + (i % 50))]);
    const ws = workspace("strata-codec-kill-", { zs: "zstd" }, files);
    expectExit(await ws.run("scan", "scratch"), "scan");
    const index = join(ws.dir, "zs-store", "index.db");
    const child = spawnStrata(["--config", ws.config, "sync", "scratch", "zs", "--transfers", "2"], { cwd: ws.dir });
    const done = finished(child);
    let atKill = 0;
    for (let i = 0; i < 3000 && atKill < 60; i++) {
      await sleep(10);
      atKill = existsSync(index) ? objectCount(index) : 0;
    }
    child.kill("SIGKILL");
    expect((await done).signal).toBe("SIGKILL");
    expect(objectCount(index)).toBeLessThan(300);
    const rerun = await ws.run("sync", "scratch", "zs");
    expectExit(rerun, "sync after the kill");
    const verified = await ws.run("--json", "verify", "zs");
    expectExit(verified, "verify");
    expect(JSON.parse(verified.stdout).verified).toBe(300);
    const rows = replicas(ws, "zs");
    expect(rows.size).toBe(300);
    const blobs = new Map(
      sqliteRows<{ key: string; blob: string }>(index, "SELECT key, blob FROM objects").map((o) => [o.key, o.blob]),
    );
    for (const [path, content] of Object.entries(files)) {
      expect(rows.get(path)?.codec, path).toBe("zstd");
      const blob = join(ws.dir, "zs-store", "blobs", blobs.get(path) as string);
      expect(execFileSync("zstd", ["-dc", blob]).equals(content), path).toBe(true);
    }
  }, 240_000);

  it("a catalog rebuilt from the stores relinks compressed objects with the content's hash, size and codec", async () => {
    const ws = workspace("strata-codec-rebuild-", { zs: "zstd", lz: "lz4" });
    await synced(ws, "zs", "lz");
    const before = { zs: replicas(ws, "zs"), lz: replicas(ws, "lz") };
    for (const suffix of ["", "-wal", "-shm"]) rmSync(join(ws.dir, `cat.db${suffix}`), { force: true });
    expectExit(await ws.run("catalog", "rebuild", "scratch", "zs", "lz"), "rebuild");
    for (const store of ["zs", "lz"] as const) {
      const after = replicas(ws, store);
      expect([...after.keys()].sort()).toEqual([...before[store].keys()].sort());
      for (const [key, row] of before[store]) expect(after.get(key), `${store}:${key}`).toEqual(row);
    }
    // The rebuilt catalog knows the copies for what they are: a second sync copies nothing.
    const again = await ws.run("sync", "scratch", "zs");
    expectExit(again, "sync after the rebuild");
    expect(again.stdout).toContain("Nothing to do: all 6 files of");
  });
});
