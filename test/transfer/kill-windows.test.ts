/**
 * Kill windows (issue 9, defect 8): a real `strata sync` process killed with SIGKILL at a moment
 * chosen by watching the store and the catalog from outside, then ordinary runs. What must hold:
 * finished copies are in the catalog within seconds, the catalog never calls an object present
 * with a hash it no longer has, objects written but unrecorded are found (so `--delete` removes
 * them), nothing the dead run left (temp blobs, partial files) survives the next run, and a large
 * copy into the embedded store or a POSIX directory resumes instead of starting over.
 */
import { spawnSync } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { LocalStoreBackend } from "../../src/backends/local/local-backend.js";
import { type CliResult, finished, spawnStrata, strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { sizeOf, writeTree } from "../support/trees.js";

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const MiB = 1024 * 1024;
/** The range size of ranged copies (src/transfer/ranged-download.ts). */
const RANGE = 8 * MiB;

/** Runs a query on a SQLite file read-only; undefined while the file or its table is not there yet. */
function query<T>(file: string, sql: string): T[] | undefined {
  if (!existsSync(file)) return undefined;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all() as T[];
  } catch {
    return undefined;
  } finally {
    db.close();
  }
}

function storeObjects(store: string): { key: string; sha256: string; blob: string }[] {
  return query(join(store, "index.db"), "SELECT key, sha256, blob FROM objects") ?? [];
}

function presentReplicas(work: string): { key: string; hash: string }[] {
  return query(join(work, "cat.db"), "SELECT key, hash FROM replicas WHERE state = 'present' ORDER BY key") ?? [];
}

/** Files under `dir` (recursively) whose name starts with `prefix`. */
function filesNamed(dir: string, prefix: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[]).filter((p) => p.split("/").at(-1)?.startsWith(prefix));
}

/** Blob files of the embedded store, outside its temp directory. */
function blobFiles(store: string): string[] {
  const blobs = join(store, "blobs");
  return (readdirSync(blobs, { recursive: true }) as string[]).filter(
    (p) => !p.startsWith("tmp") && statSync(join(blobs, p)).isFile(),
  );
}

/** Spawns `strata` in `work` and kills it with SIGKILL once `ready()` holds. */
async function killWhen(work: string, args: string[], ready: () => boolean): Promise<CliResult> {
  const child = spawnStrata(["--catalog", "cat.db", ...args], { cwd: work });
  const done = finished(child);
  const deadline = Date.now() + 60_000;
  while (!ready()) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      const result = await done;
      throw new Error(`the run ended before the moment to kill it: ${result.code} ${result.stderr}`);
    }
    await sleep(20);
  }
  child.kill("SIGKILL");
  const result = await done;
  expect(result.signal).toBe("SIGKILL");
  return result;
}

function run(work: string, args: string[]): Promise<CliResult> {
  return strata(["--catalog", "cat.db", "--json", ...args], { cwd: work });
}

/** `count` files of `size` random bytes each, with old mtimes. */
function smallTree(tree: string, count: number, size: number): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < count; i++) files[`d${i % 5}/f${String(i).padStart(4, "0")}.dat`] = randomBytes(size);
  writeTree(tree, files);
  for (const path of Object.keys(files)) utimesSync(join(tree, path), 1_500_000_000, 1_500_000_000);
  return files;
}

describe("a sync killed with SIGKILL", () => {
  it("has recorded its finished copies within seconds", async () => {
    const work = tempDir();
    smallTree(join(work, "tree"), 400, 8192);
    const store = join(work, "store");
    let recordedAfterWait = -1;
    await killWhen(work, ["sync", "tree", "local:store", "--transfers", "2", "--bwlimit", "200K"], () => {
      if (storeObjects(store).length < 60) return false;
      // Sixty objects are written: give the run 3 s (blocking this process, not the run) to record them.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
      recordedAfterWait = presentReplicas(work).length;
      return true;
    });
    // Every object written 3 s before was recorded by then.
    expect(recordedAfterWait).toBeGreaterThanOrEqual(60);
  }, 90_000);

  it("never leaves the catalog calling an object present with the hash of an older version", async () => {
    const work = tempDir();
    const tree = join(work, "tree");
    const v1 = smallTree(tree, 300, 8192);
    expect((await run(work, ["sync", "tree", "local:store"])).code).toBe(0);
    const store = join(work, "store");
    const oldHashes = new Set(Object.values(v1).map(sha256));
    const v2: Record<string, Buffer> = {};
    for (const path of Object.keys(v1)) v2[path] = randomBytes(8192);
    writeTree(tree, v2);

    await killWhen(work, ["sync", "tree", "local:store", "--transfers", "2", "--bwlimit", "200K"], () => {
      return storeObjects(store).filter((o) => !oldHashes.has(o.sha256)).length >= 40;
    });
    const objects = new Map(storeObjects(store).map((o) => [o.key, o.sha256]));
    const wrong = presentReplicas(work).filter((r) => objects.get(r.key) !== r.hash);
    expect(wrong.map((r) => r.key)).toEqual([]);

    const newerAtKill = [...objects.values()].filter((h) => !oldHashes.has(h)).length;
    const again = await run(work, ["sync", "tree", "local:store"]);
    expect(again.code, again.stderr).toBe(0);
    // What the killed run wrote was found and recorded, not copied again.
    expect(JSON.parse(again.stdout).result.copied.files).toBe(300 - newerAtKill);
    const after = new Map(storeObjects(store).map((o) => [o.key, o.sha256]));
    for (const [path, content] of Object.entries(v2)) expect(after.get(path)).toBe(sha256(content));
    expect(presentReplicas(work).every((r) => after.get(r.key) === r.hash)).toBe(true);
  }, 90_000);

  it("lets the next `sync --delete` remove the object of a file deleted after the kill", async () => {
    const work = tempDir();
    const tree = join(work, "tree");
    smallTree(tree, 200, 8192);
    const store = join(work, "store");
    await killWhen(work, ["sync", "tree", "local:store", "--transfers", "2", "--bwlimit", "200K"], () => {
      return storeObjects(store).length >= 30;
    });
    const written = storeObjects(store).map((o) => o.key);
    const gone = written.slice(0, 5);
    for (const key of gone) rmSync(join(tree, key));

    const again = await run(work, ["sync", "--delete", "tree", "local:store"]);
    expect(again.code, again.stderr).toBe(0);
    const keys = new Set(storeObjects(store).map((o) => o.key));
    expect(gone.filter((key) => keys.has(key))).toEqual([]);
    expect(keys.size).toBe(195);
  }, 90_000);

  it("leaves no temp blob, orphan blob or partial file behind after the next run", async () => {
    const work = tempDir();
    const tree = join(work, "tree");
    writeTree(tree, { "big.bin": randomBytes(40 * MiB), "small.txt": "small" });
    const store = join(work, "store");
    // One stream: a plain write into a temp blob that nothing resumes.
    await killWhen(work, ["sync", "tree", "local:store", "--streams", "1", "--bwlimit", "8M"], () => {
      return filesNamed(join(store, "blobs", "tmp"), "").some((p) => sizeOf(join(store, "blobs", "tmp", p)) > MiB);
    });
    rmSync(join(tree, "big.bin"));
    const again = await run(work, ["sync", "tree", "local:store"]);
    expect(again.code, again.stderr).toBe(0);
    expect(readdirSync(join(store, "blobs", "tmp"))).toEqual([]);
    expect(blobFiles(store).length).toBe(storeObjects(store).length);

    // The other way: a partial file in a user's directory.
    writeTree(tree, { "big.bin": randomBytes(40 * MiB) });
    expect((await run(work, ["sync", "tree", "local:store"])).code).toBe(0);
    const out = join(work, "out");
    // A user's file whose name merely starts like a partial one is theirs, and stays.
    writeTree(out, { "mine.txt": "a user's file", ".strata-partial-notes": "also the user's" });
    await killWhen(work, ["sync", "local:store", "./out", "--streams", "1", "--bwlimit", "8M"], () => {
      return filesNamed(out, ".strata-partial-").some((p) => sizeOf(join(out, p)) > MiB);
    });
    const back = await run(work, ["sync", "local:store", "./out"]);
    expect(back.code, back.stderr).toBe(0);
    expect(filesNamed(out, ".strata-partial-")).toEqual([".strata-partial-notes"]);
    expect(readFileSync(join(out, "mine.txt"), "utf8")).toBe("a user's file");
    expect(sha256(readFileSync(join(out, "big.bin")))).toBe(sha256(readFileSync(join(tree, "big.bin"))));
  }, 120_000);
});

/** Ranges the catalog journaled for the copy in progress, as [start, end) byte extents. */
function journaledRanges(work: string): { start: number; end: number }[] {
  const rows =
    query<{ part_number: number; part_size: number }>(
      join(work, "cat.db"),
      "SELECT p.part_number, u.part_size FROM upload_parts p JOIN uploads u ON u.id = p.upload_row_id",
    ) ?? [];
  return rows.map((r) => ({ start: (r.part_number - 1) * r.part_size, end: r.part_number * r.part_size }));
}

describe("a large copy killed mid-way into a file target", () => {
  // Ten whole ranges and a short eleventh.
  const SIZE = 10 * RANGE + 12_345;

  async function killAndResume(work: string, args: string[], target: () => Buffer | undefined, content: Buffer) {
    await killWhen(work, [...args, "--streams", "4", "--bwlimit", "24M"], () => journaledRanges(work).length >= 3);
    const done = journaledRanges(work);
    const skipped = done.reduce((sum, r) => sum + Math.min(r.end, SIZE) - r.start, 0);
    expect(skipped).toBeGreaterThanOrEqual(3 * RANGE);

    const again = await run(work, args);
    expect(again.code, again.stderr).toBe(0);
    const result = JSON.parse(again.stdout).result;
    expect(result.copied.files).toBe(1);
    // Only the ranges not journaled were read from the source again.
    expect(result.readBytes).toBe(SIZE - skipped);
    expect(sha256(target() ?? Buffer.alloc(0))).toBe(sha256(content));
    expect(journaledRanges(work)).toEqual([]);
  }

  it("resumes into the embedded store, reading only the missing ranges", async () => {
    const work = tempDir();
    const content = randomBytes(SIZE);
    writeTree(join(work, "tree"), { "big.bin": content });
    const store = join(work, "store");
    await killAndResume(
      work,
      ["sync", "tree", "local:store"],
      () => {
        const object = storeObjects(store).find((o) => o.key === "big.bin");
        return object && readFileSync(join(store, "blobs", object.blob));
      },
      content,
    );
    expect(readdirSync(join(store, "blobs", "tmp"))).toEqual([]);
  }, 120_000);

  it("drops a resumed partial copy that does not verify and copies the whole again, in the same run", async () => {
    const work = tempDir();
    const content = randomBytes(SIZE);
    writeTree(join(work, "tree"), { "big.bin": content });
    expect((await run(work, ["sync", "tree", "local:store"])).code).toBe(0);
    const out = join(work, "out");
    const args = ["sync", "local:store", "./out", "--streams", "4", "--bwlimit", "24M"];
    await killWhen(work, args, () => journaledRanges(work).length >= 2);
    // Damage a range the journal calls whole, as a disk or another program might.
    const [partial] = filesNamed(out, ".strata-partial-");
    const [damaged] = journaledRanges(work);
    const path = join(out, partial as string);
    const bytes = readFileSync(path);
    const at = (damaged as { start: number }).start + 100;
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
    writeFileSync(path, bytes);

    const again = await run(work, ["sync", "local:store", "./out"]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).result.readBytes).toBeGreaterThanOrEqual(SIZE);
    expect(sha256(readFileSync(join(out, "big.bin")))).toBe(sha256(content));
    expect(filesNamed(out, ".strata-partial-")).toEqual([]);
  }, 120_000);

  it("drops the partial copy once its file is gone, so nothing is left to resume", async () => {
    const work = tempDir();
    // Another file stays, so the tree does not look unmounted once big.bin is gone.
    writeTree(join(work, "tree"), { "big.bin": randomBytes(SIZE), "stays.txt": "stays" });
    const args = ["sync", "tree", "local:store", "--streams", "4", "--bwlimit", "24M"];
    await killWhen(work, args, () => journaledRanges(work).length >= 2);
    expect(readdirSync(join(work, "store", "blobs", "tmp"))).toHaveLength(1);
    rmSync(join(work, "tree", "big.bin"));

    const again = await run(work, ["sync", "tree", "local:store"]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).result.abortedUploads).toBe(1);
    expect(readdirSync(join(work, "store", "blobs", "tmp"))).toEqual([]);
    expect(journaledRanges(work)).toEqual([]);
  }, 120_000);

  it("resumes into a POSIX directory, reading only the missing ranges", async () => {
    const work = tempDir();
    const content = randomBytes(SIZE);
    writeTree(join(work, "tree"), { "big.bin": content });
    expect((await run(work, ["sync", "tree", "local:store"])).code).toBe(0);
    const out = join(work, "out");
    await killAndResume(
      work,
      ["sync", "local:store", "./out"],
      () => (existsSync(join(out, "big.bin")) ? readFileSync(join(out, "big.bin")) : undefined),
      content,
    );
    expect(filesNamed(out, ".strata-partial-")).toEqual([]);
  }, 120_000);
});

/** A blob name as the store gives them: `ab/<uuid>`, the uuid beginning with `ab`. */
function blobName(): string {
  const id = randomUUID();
  return `${id.slice(0, 2)}/${id}`;
}

describe("the embedded store opened after a writer on this host died", () => {
  it("removes the dead writer's temp blobs, the blobs no key points at (its own, and old unlisted ones), nothing else", async () => {
    const dir = join(tempDir(), "store");
    const store = await LocalStoreBackend.open(dir, `local://${dir}`, { restoreDelayMs: 0 });
    await store.write("kept", Readable.from([Buffer.from("kept")]), { size: 4, attributes: { mtimeUs: 1 } });
    await store.close();
    // What a writer killed with SIGKILL leaves: a temp blob, and a blob moved into place (or
    // freed) whose index change it never made, listed with its pid as unsettled.
    const dead = spawnSync("true").pid as number;
    const tmp = join(dir, "blobs", "tmp");
    const deadTemp = join(tmp, `${hostname()}~${dead}~0a-${randomUUID()}`);
    const liveTemp = join(tmp, `${hostname()}~${process.pid}~0b-${randomUUID()}`);
    const foreign = join(tmp, "not-a-writer-name");
    const orphan = blobName();
    writeTree(dir, { [`blobs/${orphan}`]: "orphan" });
    for (const path of [deadTemp, liveTemp, foreign]) writeFileSync(path, "partial");
    const index = new Database(join(dir, "index.db"));
    index.prepare("INSERT INTO unsettled_blobs VALUES (?, ?, ?)").run(orphan, hostname(), dead);
    // And what an older Strata left, listed nowhere: an index of before the sweep, an unindexed
    // blob of hours ago, and one of a moment ago (it could be a write in progress).
    index.pragma("user_version = 0");
    index.close();
    const oldUnlisted = blobName();
    const youngUnlisted = blobName();
    writeTree(dir, { [`blobs/${oldUnlisted}`]: "old", [`blobs/${youngUnlisted}`]: "young" });
    const hoursAgo = Date.now() / 1000 - 2 * 3600;
    utimesSync(join(dir, "blobs", oldUnlisted), hoursAgo, hoursAgo);

    const reopened = await LocalStoreBackend.open(dir, `local://${dir}`, { restoreDelayMs: 0 });
    await reopened.check();
    expect(existsSync(deadTemp)).toBe(false);
    expect(existsSync(join(dir, "blobs", orphan))).toBe(false);
    expect(existsSync(join(dir, "blobs", oldUnlisted))).toBe(false);
    expect(existsSync(join(dir, "blobs", youngUnlisted))).toBe(true);
    expect(existsSync(liveTemp)).toBe(true);
    expect(existsSync(foreign)).toBe(true);
    expect((await reopened.stat("kept"))?.size).toBe(4);
    expect(blobFiles(dir)).toHaveLength(2);
    await reopened.close();
  });
});
