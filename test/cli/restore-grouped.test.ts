import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { markReleased, recordStub } from "../../src/catalog/files.js";
import { renderStub } from "../../src/codec/stub.js";
import { sha256Hex } from "../support/bytes.js";
import { type CliResult, finished, spawnStrata } from "../support/cli.js";
import {
  isObjectGet,
  type LoggedRequest,
  type RequestLogProxy,
  startRequestLogProxy,
} from "../support/request-log-proxy.js";
import { rgwProject } from "../support/rgw-project.js";
import { type RgwWithBuckets, startRgwWithBuckets } from "../support/rgw-server.js";
import { type ArchiveProxy, startArchiveProxy } from "../support/s3-archive-proxy.js";
import { snapshot } from "../support/snapshot.js";
import { writeTree } from "../support/trees.js";

/**
 * Issue 15, restores from an archive class grouped by pack, on Ceph RGW behind the archive proxy
 * (thaws as AWS does them), with a logging proxy in front that counts what reached the store:
 * one thaw per pack however many of its members are asked for, one ranged GET per member once
 * thawed; `restore --stage-in FILE` for a job's inputs; kill -9 in the middle, then a re-run.
 */

const BUCKET = "strata-grouped";
let rgw: RgwWithBuckets;
const closers: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  rgw = await startRgwWithBuckets([BUCKET]);
}, 300_000);

afterAll(async () => {
  for (const c of closers) await c.close();
  rgw?.stop();
});

interface Project {
  work: string;
  tree: string;
  /** What reached the store (through the archive proxy) since the last reset. */
  log: RequestLogProxy;
  run(...args: string[]): Promise<CliResult>;
  /** The object path the proxies see for a key of `archive`. */
  objectPath(key: string): string;
}

/**
 * A work dir with `scratch` (./tree), `archive` on RGW in GLACIER whose thaws take `delayMs`,
 * and `warm` (the embedded store, readable at once).
 */
async function project(delayMs: number): Promise<Project> {
  const archive: ArchiveProxy = await startArchiveProxy(rgw.endpoint, delayMs);
  const log = await startRequestLogProxy(archive.endpoint);
  closers.push(log, archive);
  const { work, tree, run, key } = rgwProject(rgw, {
    bucket: BUCKET,
    endpoint: log.endpoint,
    archive: ["    class: GLACIER"],
    extra: ["  warm:", "    url: local:warm"],
  });
  return {
    work,
    tree,
    log,
    run,
    objectPath: (k) => `/${BUCKET}/${key(k)}`,
  };
}

function ok(result: CliResult): CliResult {
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return result;
}

const isThawAsk = (r: LoggedRequest) => r.method === "POST" && r.query.has("restore");
const isRangedGet = (r: LoggedRequest) => isObjectGet(r) && r.rangeStart !== undefined;

/** Small files with random content under `dir`. */
function smallFiles(dir: string, count: number): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < count; i++) files[`${dir}/f-${String(i).padStart(3, "0")}.dat`] = randomBytes(500 + i * 37);
  return files;
}

/** Every member replica at `archive`: its file's path, pack key and offset. */
async function members(work: string) {
  const catalog = await openCatalog(join(work, "cat.db"));
  try {
    return await catalog.db
      .selectFrom("replicas")
      .innerJoin("files", "files.id", "replicas.file_id")
      .innerJoin("locations", "locations.id", "replicas.location_id")
      .select(["files.path", "replicas.key", "replicas.pack_offset"])
      .where("locations.name", "=", "archive")
      .where("replicas.pack_id", "is not", null)
      .orderBy("files.path")
      .execute();
  } finally {
    await catalog.close();
  }
}

async function requestStates(work: string): Promise<string[]> {
  const catalog = await openCatalog(join(work, "cat.db"));
  try {
    const rows = await catalog.db.selectFrom("restore_requests").select("state").orderBy("id").execute();
    return rows.map((r) => r.state);
  } finally {
    await catalog.close();
  }
}

const PACK = ["--pack-below", "1MiB", "--pack-codec", "gzip"];
/** Thaws in the stage-in test: five CLI runs fit in it on a loaded machine. */
const STAGE_THAW_MS = 45_000;
/** Thaws in the kill test: long enough for a re-run to see them pending on a loaded machine. */
const THAW_MS = 20_000;

/** The work dir's entries but the tree, the catalog's files and the embedded store's dir. */
function outsideTree(work: string): string[] {
  return readdirSync(work)
    .filter((name) => name !== "tree" && name !== "warm" && !name.startsWith("cat.db"))
    .sort();
}

describe("restores from an archive class, grouped by pack", () => {
  it("thaws each pack once for all its members asked, then reads each member with one ranged GET", async () => {
    const p = await project(3000);
    const first = smallFiles("in/a", 3);
    writeTree(p.tree, first);
    ok(await p.run("sync", "scratch", "archive", ...PACK));
    // A second sync packs what is new into a pack of its own; the large file stays whole.
    const second = { ...smallFiles("in/b", 1), "out/whole.bin": randomBytes(2 * 1024 * 1024) };
    writeTree(p.tree, second);
    ok(await p.run("sync", "scratch", "archive", ...PACK));
    const placed = await members(p.work);
    const packs = [...new Set(placed.map((m) => m.key))];
    expect(packs).toHaveLength(2);
    const before = snapshot(join(p.tree, "in"));
    rmSync(join(p.tree, "in"), { recursive: true });
    ok(await p.run("scan", "scratch"));
    p.log.reset();

    // The plan: each pack once, with its files and the cost of its thaw; nothing asked.
    const plan = ok(await p.run("restore", "scratch:in", "--dry-run"));
    const packLines = plan.stdout.split("\n").filter((l) => l.startsWith("would thaw pack "));
    expect(packLines).toHaveLength(2);
    expect(
      packLines.some((l) => / \(tier standard\): 3 file\(s\), .*, about \$[0-9.]+, done in about 5 h/.test(l)),
    ).toBe(true);
    expect(packLines.some((l) => / \(tier standard\): 1 file\(s\), .*, about \$[0-9.]+/.test(l))).toBe(true);
    expect(plan.stdout).not.toMatch(/would thaw in\//);
    expect(p.log.requests.filter(isThawAsk)).toEqual([]);

    const result = ok(await p.run("--json", "restore", "scratch:in", "--wait"));
    const report = JSON.parse(result.stdout);
    expect(report.restored.files).toBe(4);
    expect(report.thawRequested).toHaveLength(4);
    expect(report.thawsAsked).toBe(2);
    expect(report.packs.map((pack: { action: string; files: number }) => [pack.action, pack.files]).sort()).toEqual([
      ["thaw-asked", 1],
      ["thaw-asked", 3],
    ]);
    expect(snapshot(join(p.tree, "in"))).toEqual(before);

    // At the store: one thaw per pack, and one ranged GET per member at its own offset.
    const asked = p.log.requests.filter(isThawAsk).map((r) => r.path);
    expect(asked.sort()).toEqual(packs.map(p.objectPath).sort());
    const packPaths = new Set(packs.map(p.objectPath));
    const packGets = p.log.requests.filter((r) => isObjectGet(r) && packPaths.has(r.path));
    expect(packGets.every(isRangedGet)).toBe(true);
    expect(packGets.map((r) => `${r.path}@${r.rangeStart}`).sort()).toEqual(
      placed.map((m) => `${p.objectPath(m.key)}@${m.pack_offset}`).sort(),
    );
    expect(await requestStates(p.work)).toEqual(["done", "done", "done", "done"]);
  }, 180_000);

  it("--stage-in: bad lines refused by number; present left alone, released restored, packed-archived thawed (exit 75), then --wait", async () => {
    const p = await project(STAGE_THAW_MS);
    const released = { "in/r.dat": randomBytes(3000) };
    writeTree(p.tree, released);
    ok(await p.run("sync", "scratch", "warm"));
    const rest = { "in/p.dat": randomBytes(2000), "in/m1.dat": randomBytes(4000), "in/m2.dat": randomBytes(1500) };
    writeTree(p.tree, rest);
    ok(await p.run("sync", "scratch", "archive", ...PACK));
    const all = { ...released, ...rest };
    rmSync(join(p.tree, "in/m1.dat"));
    rmSync(join(p.tree, "in/m2.dat"));
    ok(await p.run("scan", "scratch"));
    await releaseByHand(p, "in/r.dat", all["in/r.dat"] as Buffer);
    const present = lstatSync(join(p.tree, "in/p.dat"));
    p.log.reset();

    const lines = [
      "# inputs of job 42",
      "in/p.dat",
      `${p.tree}/in/r.dat`,
      "",
      "scratch:in/m1.dat",
      "  in/m2.dat  ",
      "in/nope.dat",
      "../escape.dat",
    ];
    writeFileSync(join(p.work, "inputs.txt"), `${lines.join("\n")}\n`);
    const refused = await p.run("restore", "--stage-in", "inputs.txt");
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('inputs.txt:7: no POSIX location\'s catalog holds "in/nope.dat"');
    expect(refused.stderr).toContain('inputs.txt:8: "../escape.dat" leaves the locations\' roots');
    expect(refused.stderr).not.toMatch(/inputs\.txt:[1-6]:/);
    expect(p.log.requests.filter(isThawAsk)).toEqual([]);
    expect(readFileSync(join(p.tree, "in/r.dat"), "utf8")).toMatch(/^# strata stub v1 /);

    writeFileSync(join(p.work, "inputs.txt"), `${lines.slice(0, 6).join("\n")}\n`);
    const askedAt = Date.now();
    const started = await p.run("--json", "restore", "--stage-in", "inputs.txt");
    expect(started.stderr).toBe("");
    expect(started.code).toBe(75);
    const first = JSON.parse(started.stdout);
    expect(first).toMatchObject({ inPlace: 1, restored: { files: 1 }, thawsAsked: 1 });
    expect(first.stillThawing.map((t: { path: string }) => t.path).sort()).toEqual(["in/m1.dat", "in/m2.dat"]);
    expect(readFileSync(join(p.tree, "in/r.dat")).equals(all["in/r.dat"] as Buffer)).toBe(true);
    expect(existsSync(join(p.tree, "in/m1.dat"))).toBe(false);
    const human = await p.run("restore", "--stage-in", "inputs.txt");
    expect(human.code).toBe(75);
    expect(human.stdout).toMatch(/Still thawing: 2 file\(s\), expected by \d{4}-/);
    // --deadline bounds the wait: still thawing when it passes, exit 75.
    const bounded = await p.run("restore", "--stage-in", "inputs.txt", "--wait", "--deadline", "2s");
    expect(bounded.stderr).toBe("");
    expect(bounded.code).toBe(75);
    expect(Date.now()).toBeLessThan(askedAt + STAGE_THAW_MS);

    // While it waits for the thaw, the location's lease is free: a scan of it does not wait.
    const waiting = spawnStrata(["restore", "--stage-in", "inputs.txt", "--wait"], { cwd: p.work, env: rgw.env });
    let said = "";
    waiting.stdout?.on("data", (d: Buffer) => (said += d.toString()));
    const waitingDone = finished(waiting);
    while (!said.includes("Waiting for 2 thaw(s)") && waiting.exitCode === null) await sleep(20);
    // It may meet one of the restore's short polling rounds (and say it waits for it), never the
    // thaw itself: --lock-wait is far below the thaw's time.
    const scanned = await p.run("--lock-wait", "10s", "scan", "scratch");
    expect(scanned.code).toBe(0);
    for (const line of scanned.stderr.split("\n").filter(Boolean)) {
      expect(line).toMatch(/^strata: waiting for scratch: in use by .* strata restore --stage-in inputs\.txt since /);
    }
    expect(waiting.exitCode).toBeNull();
    expect(Date.now()).toBeLessThan(askedAt + STAGE_THAW_MS);
    const waited = await waitingDone;
    expect(waited.code).toBe(0);
    // A round that came while the scan held the location waited for it, and said so.
    for (const line of waited.stderr.split("\n").filter(Boolean)) {
      expect(line).toMatch(/^strata: waiting for scratch: in use by .* strata scan scratch since /);
    }
    for (const [path, content] of Object.entries(all)) {
      expect(readFileSync(join(p.tree, path)).equals(content), path).toBe(true);
    }
    // The present file was never rewritten; the pack was asked to thaw once in all.
    expect(lstatSync(join(p.tree, "in/p.dat")).ino).toBe(present.ino);
    expect(p.log.requests.filter(isThawAsk)).toHaveLength(1);
    const again = ok(await p.run("--json", "restore", "--stage-in", "inputs.txt"));
    expect(JSON.parse(again.stdout)).toMatchObject({ inPlace: 4, restored: { files: 0 }, thawRequested: [] });
  }, 180_000);

  it("kill -9 after the thaw is asked and while members are finished: no second thaw, every file back, nothing outside the tree", async () => {
    const p = await project(THAW_MS);
    // A file outside in/ keeps the tree from looking unmounted once in/ is gone.
    const files = { ...smallFiles("in/a", 150), ...smallFiles("in/b", 150), "keep.txt": "stays" };
    writeTree(p.tree, files);
    ok(
      await p.run(
        "sync",
        "scratch",
        "archive",
        "--pack-below",
        "8KiB",
        "--pack-size",
        "200KiB",
        "--pack-codec",
        "gzip",
      ),
    );
    const packs = [...new Set((await members(p.work)).map((m) => m.key))];
    expect(packs.length).toBeGreaterThanOrEqual(2);
    const before = snapshot(p.tree);
    const workBefore = outsideTree(p.work);
    rmSync(join(p.tree, "in"), { recursive: true });
    ok(await p.run("scan", "scratch"));
    p.log.reset();

    // Killed as soon as the first thaw reached the store.
    const asking = spawnStrata(["restore", "scratch:in"], { cwd: p.work, env: rgw.env });
    const askingDone = finished(asking);
    while (p.log.requests.filter(isThawAsk).length === 0 && asking.exitCode === null) await sleep(2);
    asking.kill("SIGKILL");
    expect((await askingDone).signal).toBe("SIGKILL");
    const thawedAt = Date.now();

    // The re-run (while the thaws run) asks only for the packs not asked yet.
    const rerun = ok(await p.run("--json", "restore", "scratch:in"));
    expect(Date.now()).toBeLessThan(thawedAt + THAW_MS);
    expect(JSON.parse(rerun.stdout).stillThawing).toHaveLength(300);
    const asks = p.log.requests.filter(isThawAsk).map((r) => r.path);
    expect(asks.sort()).toEqual(packs.map(p.objectPath).sort());

    // Once thawed, the finishing run is killed part way through the members.
    await sleep(Math.max(0, thawedAt + THAW_MS + 500 - Date.now()));
    p.log.reset();
    const finishing = spawnStrata(["restore"], { cwd: p.work, env: rgw.env });
    const finishingDone = finished(finishing);
    while (p.log.requests.filter(isRangedGet).length < 40 && finishing.exitCode === null) await sleep(1);
    finishing.kill("SIGKILL");
    expect((await finishingDone).signal).toBe("SIGKILL");
    expect(snapshot(p.tree).size).toBeLessThan(300);

    const last = ok(await p.run("--json", "restore", "--wait"));
    expect(JSON.parse(last.stdout).failures).toEqual([]);
    expect(snapshot(p.tree)).toEqual(before);
    expect(outsideTree(p.work)).toEqual(workBefore);
    expect(p.log.requests.filter(isThawAsk)).toEqual([]);
    expect((await requestStates(p.work)).every((s) => s === "done")).toBe(true);
  }, 180_000);
});

/** A release as `apply` does it: the stub written over the file, recorded, the file marked released. */
async function releaseByHand(p: Project, path: string, content: Buffer): Promise<void> {
  const catalog = await openCatalog(join(p.work, "cat.db"));
  try {
    const file = await catalog.db.selectFrom("files").selectAll().where("path", "=", path).executeTakeFirstOrThrow();
    const stub = renderStub("test", "scratch", new Date(), {
      strata: "stub",
      version: 1,
      path,
      size: file.size,
      mtimeUs: file.mtime_us,
      sha256: file.hash ?? sha256Hex(content),
      replicas: [{ location: "warm", url: "local:warm", key: path, class: "STANDARD" }],
    });
    writeFileSync(join(p.tree, path), stub);
    const stats = lstatSync(join(p.tree, path));
    const stat = { size: stats.size, mtimeUs: Math.round(stats.mtimeMs * 1000), inode: stats.ino };
    await recordStub(catalog, file, stat);
    await markReleased(catalog, file.id, stat);
  } finally {
    await catalog.close();
  }
}
