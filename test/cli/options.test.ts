import { existsSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalStoreBackend } from "../../src/backends/local/local-backend.js";
import { strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";

async function storeKeys(dir: string): Promise<string[]> {
  const store = await LocalStoreBackend.open(dir, `local://${dir}`, { restoreDelayMs: 0 });
  const keys: string[] = [];
  for await (const object of store.list()) keys.push(object.key);
  await store.close();
  return keys;
}

describe("sync options", () => {
  it("filters by glob, size and age", async () => {
    const work = tempDir();
    const tree = join(work, "tree");
    writeTree(tree, {
      "a/keep.nc": "x".repeat(2000),
      "a/small.nc": "x",
      "a/skip.log": "x".repeat(2000),
      "b/deep/also.nc": "y".repeat(3000),
      "b/tmp/scratch.nc": "z".repeat(2000),
      "old.nc": "o".repeat(2000),
    });
    const longAgo = Date.now() / 1000 - 90 * 86_400;
    utimesSync(join(tree, "old.nc"), longAgo, longAgo);
    const result = await strata(
      [
        "--catalog",
        join(work, "c.db"),
        "sync",
        "tree",
        "local:store",
        "--include",
        "*.nc",
        "--exclude",
        "b/tmp/**",
        "--min-size",
        "1KiB",
        "--max-age",
        "30d",
      ],
      { cwd: work },
    );
    expect(result.code).toBe(0);
    expect((await storeKeys(join(work, "store"))).sort()).toEqual(["a/keep.nc", "b/deep/also.nc"]);
  });

  it("--checksum compares content: a touched file is confirmed, not copied", async () => {
    const work = tempDir();
    const tree = join(work, "tree");
    writeTree(tree, { "same.txt": "unchanged content", "edited.txt": "version 1" });
    const cat = ["--catalog", join(work, "c.db")];
    expect((await strata([...cat, "sync", "tree", "local:store"], { cwd: work })).code).toBe(0);
    const later = Date.now() / 1000 + 60;
    utimesSync(join(tree, "same.txt"), later, later);
    writeFileSync(join(tree, "edited.txt"), "version 2");
    utimesSync(join(tree, "edited.txt"), later, later);
    const result = await strata([...cat, "--json", "sync", "--checksum", "tree", "local:store"], { cwd: work });
    const report = JSON.parse(result.stdout);
    expect(report.plan.copy).toMatchObject({ files: 2, toCheck: 2 });
    expect(report.result.copied.files).toBe(1);
    expect(report.result.confirmed).toBe(1);
    // Every file is read and hashed again: a cached hash cannot see an edit that kept size and times.
    const again = await strata([...cat, "--json", "sync", "--checksum", "tree", "local:store"], { cwd: work });
    const second = JSON.parse(again.stdout);
    expect(second.plan.copy).toMatchObject({ files: 2, toCheck: 2 });
    expect([second.result.copied.files, second.result.confirmed]).toEqual([0, 2]);
  });

  it("re-sends a touched file only if its content changed, reading it locally first", async () => {
    const work = tempDir();
    const tree = join(work, "tree");
    writeTree(tree, { "touched.txt": "same bytes", "rewritten.txt": "version 1" });
    const cat = ["--catalog", join(work, "c.db")];
    expect((await strata([...cat, "sync", "tree", "local:store"], { cwd: work })).code).toBe(0);
    const later = Date.now() / 1000 + 60;
    utimesSync(join(tree, "touched.txt"), later, later);
    writeFileSync(join(tree, "rewritten.txt"), "version 2");
    const result = await strata([...cat, "--json", "sync", "tree", "local:store"], { cwd: work });
    const report = JSON.parse(result.stdout);
    expect(report.result.copied.files).toBe(1);
    expect(report.result.confirmed).toBe(1);
    const again = await strata([...cat, "--json", "sync", "tree", "local:store"], { cwd: work });
    expect(JSON.parse(again.stdout).plan.copy.files).toBe(0);
  });

  it("tags every object with --tag and the location's tags", async () => {
    const work = tempDir();
    writeTree(join(work, "tree"), { "f.txt": "tagged" });
    writeFileSync(
      join(work, "strata.yaml"),
      "locations:\n  archive:\n    url: local:store\n    tags:\n      project: climate\n",
    );
    expect((await strata(["sync", "tree", "archive", "--tag", "campaign=2026"], { cwd: work })).code).toBe(0);
    const store = await LocalStoreBackend.open(join(work, "store"), "local://store", { restoreDelayMs: 0 });
    expect((await store.stat("f.txt"))?.tags).toEqual({ project: "climate", campaign: "2026" });
    await store.close();
  });

  it("syncs object store to object store, keeping attributes", async () => {
    const work = tempDir();
    writeTree(join(work, "tree"), { "x/one.bin": "first", "two.bin": "second" });
    const cat = ["--catalog", join(work, "c.db")];
    expect((await strata([...cat, "sync", "tree", "local:store-a"], { cwd: work })).code).toBe(0);
    const hop = await strata([...cat, "sync", "local:store-a", "local:store-b"], { cwd: work });
    expect(hop.code).toBe(0);
    expect(hop.stdout).toMatch(/copied 2 files/);
    const store = await LocalStoreBackend.open(join(work, "store-b"), "local://store-b", { restoreDelayMs: 0 });
    const info = await store.stat("x/one.bin");
    expect(info?.size).toBe(5);
    expect(info?.attributes?.mode).toBeDefined();
    await store.close();
  });
});

describe("--streams", () => {
  it("takes 1 to 64 or auto on sync and restore; anything else exits 2 naming it and changes nothing", async () => {
    const work = tempDir();
    writeTree(join(work, "tree"), { "f.txt": "streamed" });
    writeFileSync(join(work, "strata.yaml"), "locations:\n  scratch:\n    url: ./tree\n");
    const cat = ["--catalog", join(work, "c.db")];
    for (const bad of ["0", "1.5", "many"]) {
      const sync = await strata([...cat, "sync", "scratch", "local:store", "--streams", bad], { cwd: work });
      expect(sync.code, bad).toBe(2);
      expect(sync.stderr, bad).toMatch(/--streams <n>.*must be "auto" or a whole number from 1 to 64/);
      expect(existsSync(join(work, "store")), bad).toBe(false);
    }
    for (const good of ["2", "auto"]) {
      const sync = await strata([...cat, "sync", "scratch", `local:store-${good}`, "--streams", good], { cwd: work });
      expect(sync.code, good).toBe(0);
      expect(await storeKeys(join(work, `store-${good}`)), good).toEqual(["f.txt"]);
    }
    const restore = await strata([...cat, "restore", "scratch:f.txt", "--to", "back", "--streams", "0"], { cwd: work });
    expect(restore.code).toBe(2);
    expect(restore.stderr).toMatch(/--streams/);
    expect(existsSync(join(work, "back"))).toBe(false);
    const restored = await strata([...cat, "restore", "scratch:f.txt", "--to", "back", "--streams", "3"], {
      cwd: work,
    });
    expect(restored.code, restored.stderr).toBe(0);
    expect(readFileSync(join(work, "back", "f.txt"), "utf8")).toBe("streamed");
  });

  it("defaults.streams in the config is checked, naming file, line and key", async () => {
    const work = tempDir();
    writeTree(join(work, "tree"), { "f.txt": "x" });
    writeFileSync(join(work, "strata.yaml"), "defaults:\n  streams: 0\n");
    const result = await strata(["sync", "tree", "local:store"], { cwd: work });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/strata\.yaml:2:3: defaults\.streams: /);
    expect(existsSync(join(work, "store"))).toBe(false);
    writeFileSync(join(work, "strata.yaml"), "defaults:\n  streams: auto\n");
    expect((await strata(["sync", "tree", "local:store"], { cwd: work })).code).toBe(0);
  });
});

describe("--transfers", () => {
  it("takes 1 to 1024 or auto on sync, restore and verify; anything else exits 2 naming it and changes nothing", async () => {
    const work = tempDir();
    writeTree(join(work, "tree"), { "f.txt": "in flight" });
    writeFileSync(join(work, "strata.yaml"), "locations:\n  scratch:\n    url: ./tree\n");
    const cat = ["--catalog", join(work, "c.db")];
    for (const bad of ["0", "2.5", "1025", "most"]) {
      const sync = await strata([...cat, "sync", "scratch", "local:store", "--transfers", bad], { cwd: work });
      expect(sync.code, bad).toBe(2);
      expect(sync.stderr, bad).toMatch(/--transfers <n>.*must be "auto" or a whole number from 1 to 1024/);
      expect(existsSync(join(work, "store")), bad).toBe(false);
    }
    for (const good of ["3", "auto"]) {
      const sync = await strata([...cat, "sync", "scratch", `local:store-${good}`, "--transfers", good], { cwd: work });
      expect(sync.code, good).toBe(0);
      expect(await storeKeys(join(work, `store-${good}`)), good).toEqual(["f.txt"]);
    }
    const restore = await strata([...cat, "restore", "scratch:f.txt", "--to", "back", "--transfers", "x"], {
      cwd: work,
    });
    expect(restore.code).toBe(2);
    expect(restore.stderr).toMatch(/--transfers <n>.*must be "auto"/);
    expect(existsSync(join(work, "back"))).toBe(false);
    const restored = await strata([...cat, "restore", "scratch:f.txt", "--to", "back", "--transfers", "auto"], {
      cwd: work,
    });
    expect(restored.code, restored.stderr).toBe(0);
    expect(readFileSync(join(work, "back", "f.txt"), "utf8")).toBe("in flight");
    expect((await strata([...cat, "verify", "--transfers", "-1"], { cwd: work })).code).toBe(2);
    const verified = await strata([...cat, "verify", "--transfers", "auto"], { cwd: work });
    expect(verified.code, verified.stderr).toBe(0);
  });

  it("defaults.transfers in the config is checked, naming file, line and key", async () => {
    const work = tempDir();
    writeTree(join(work, "tree"), { "f.txt": "x" });
    for (const bad of ["0", "eight", "2.5"]) {
      writeFileSync(join(work, "strata.yaml"), `defaults:\n  transfers: ${bad}\n`);
      const result = await strata(["sync", "tree", "local:store"], { cwd: work });
      expect(result.code, bad).toBe(2);
      expect(result.stderr, bad).toMatch(
        /strata\.yaml:2:3: defaults\.transfers: must be "auto" or a whole number from 1 to 1024/,
      );
      expect(existsSync(join(work, "store")), bad).toBe(false);
    }
    for (const good of ["auto", "16"]) {
      writeFileSync(join(work, "strata.yaml"), `defaults:\n  transfers: ${good}\n`);
      expect((await strata(["sync", "tree", `local:store-${good}`], { cwd: work })).code, good).toBe(0);
    }
  });

  it("an S3 location's signPayload is checked, naming file, line and key, before anything is written", async () => {
    const work = tempDir();
    writeTree(join(work, "tree"), { "f.txt": "x" });
    for (const bad of ["maybe", "1", "[all]"]) {
      const location = `  bucket:\n    url: s3://nowhere-bucket\n    s3: { endpoint: "http://127.0.0.1:9", signPayload: ${bad} }\n`;
      writeFileSync(join(work, "strata.yaml"), `locations:\n${location}`);
      const result = await strata(["sync", "tree", "bucket"], { cwd: work });
      expect(result.code, bad).toBe(2);
      expect(result.stderr, bad).toMatch(
        /strata\.yaml:4:\d+: locations\.bucket\.s3\.signPayload: expected whole, all or none \(or true for all, false for none\)/,
      );
      expect(existsSync(join(work, ".strata")), bad).toBe(false);
    }
  });
});

describe("rate caps", () => {
  it("--bwlimit holds a sync to the rate, and a bad timetable exits 2 naming the flag", async () => {
    const work = tempDir();
    writeTree(
      join(work, "tree"),
      Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`f${i}.bin`, "x".repeat(500_000)])),
    );
    const started = Date.now();
    const result = await strata(["--catalog", join(work, "c.db"), "sync", "tree", "local:store", "--bwlimit", "400K"], {
      cwd: work,
    });
    expect(result.code).toBe(0);
    // 2,000,000 bytes at 409,600 B/s after a one-second burst: about 3.9 s; unthrottled, about 1 s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3500);
    const bad = await strata(["--catalog", join(work, "c.db"), "sync", "tree", "local:store", "--bwlimit", "fast"], {
      cwd: work,
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--bwlimit/);
  });
});

describe("ls, show, init", () => {
  it("lists locations and entries, and shows a file with its replicas", async () => {
    const work = tempDir();
    writeTree(join(work, "tree"), { "dir/a.txt": "alpha", "b.txt": "bravo" });
    writeFileSync(
      join(work, "strata.yaml"),
      "locations:\n  scratch:\n    url: ./tree\n  archive:\n    url: local:store\n",
    );
    expect((await strata(["sync", "scratch", "archive"], { cwd: work })).code).toBe(0);
    const locations = await strata(["ls"], { cwd: work });
    expect(locations.stdout).toMatch(/archive\s+0 files\s+0 B\s+2 replicas/);
    expect(locations.stdout).toMatch(/scratch\s+2 files/);
    const entries = await strata(["ls", "scratch"], { cwd: work });
    expect(
      entries.stdout
        .trim()
        .split("\n")
        .map((l) => l.split(/\s+/).at(-1)),
    ).toEqual(["b.txt", "dir/"]);
    const show = await strata(["--json", "show", "scratch:dir/a.txt"], { cwd: work });
    const shown = JSON.parse(show.stdout);
    expect(shown.file.size).toBe(5);
    expect(shown.replicas).toHaveLength(1);
    expect(shown.replicas[0]).toMatchObject({ location_name: "archive", state: "present" });
    const missing = await strata(["show", "scratch:nope"], { cwd: work });
    expect(missing.code).toBe(2);
  });

  it("init writes a starter config that loads, and refuses to overwrite it", async () => {
    const work = tempDir();
    expect((await strata(["init"], { cwd: work })).code).toBe(0);
    expect((await strata(["ls"], { cwd: work })).code).toBe(0);
    const again = await strata(["init"], { cwd: work });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/exists; pass --force/);
  });
});
