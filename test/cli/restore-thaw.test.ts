import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalStoreBackend } from "../../src/backends/local/local-backend.js";
import { openCatalog } from "../../src/catalog/db.js";
import { markReleased, recordStub } from "../../src/catalog/files.js";
import { renderStub } from "../../src/codec/stub.js";
import { AWS_PROFILE } from "../../src/cost/prices/aws.js";
import { LOCAL_PROFILE } from "../../src/cost/prices/local.js";
import { GIB } from "../../src/cost/profile.js";
import { chooseTier } from "../../src/engine/restore.js";
import { put } from "../backends/contract.js";
import { sha256Hex } from "../support/bytes.js";
import { freshCatalogUrl } from "../support/catalogs.js";
import { type CliResult, strata } from "../support/cli.js";
import { type RgwWithBuckets, rgwLocationYaml, startRgwWithBuckets } from "../support/rgw-server.js";
import { type ArchiveProxy, startArchiveProxy } from "../support/s3-archive-proxy.js";
import { snapshot } from "../support/snapshot.js";
import { tempDir } from "../support/tmp.js";
import { randomTree } from "../support/trees.js";

/** Thaws take this long on both stores. */
const DELAY_MS = 2000;
/**
 * Where a test needs a run right after the request to see the thaw pending, thaws take this
 * long: two CLI runs fit in it even on a loaded machine.
 */
const SLOW_DELAY_MS = 15_000;
const BUCKET = "strata-thaw";

/** Where the archive lives: the embedded store, or Ceph RGW behind the archive proxy. */
interface Store {
  label: string;
  /** The YAML of a location of this kind in `class`, whose thaws take `delayMs`. */
  location(name: string, storageClass: string, delayMs?: number): string[];
  env(): NodeJS.ProcessEnv;
  /** The tiers the store was asked to thaw objects under `name` with, in order. */
  tiersAsked(work: string, name: string): string[];
}

const embedded: Store = {
  label: "the embedded store",
  location: (name, storageClass, delayMs = DELAY_MS) => [
    `  ${name}:`,
    `    url: local:${name}`,
    `    class: ${storageClass}`,
    `    restoreDelay: ${delayMs}ms`,
  ],
  env: () => ({}),
  // The embedded store keeps no tier; the catalog's requests say what was asked.
  tiersAsked: (work, name) => {
    const db = new Database(join(work, "cat.db"), { readonly: true });
    try {
      return (
        db
          .prepare(
            `SELECT q.tier FROM restore_requests q JOIN replicas r ON r.id = q.replica_id
             JOIN locations l ON l.id = r.location_id WHERE l.name = ? ORDER BY q.id`,
          )
          .all(name) as { tier: string }[]
      ).map((r) => r.tier);
    } finally {
      db.close();
    }
  },
};

let rgw: RgwWithBuckets | undefined;
/** One archive proxy per thaw delay: each knows only the objects written through it. */
const proxies = new Map<number, ArchiveProxy>();
/** Each test's S3 locations live under their own prefix. */
const prefixes = new Map<string, string>();

const ceph: Store = {
  label: "Ceph RGW behind the archive proxy",
  location: (name, storageClass, delayMs = DELAY_MS) => {
    const prefix = `${name}-${randomBytes(4).toString("hex")}`;
    prefixes.set(name, prefix);
    return rgwLocationYaml(name, `s3://${BUCKET}/${prefix}`, String(proxies.get(delayMs)?.endpoint), {
      class: storageClass,
    });
  },
  env: () => ({ ...rgw?.env }),
  tiersAsked: (_work, name) =>
    [...proxies.values()]
      .flatMap((p) => p.restores)
      .filter((r) => r.path.startsWith(`/${BUCKET}/${prefixes.get(name)}/`))
      .map((r) => r.tier.toLowerCase()),
};

/** The subtree each test loses and restores: files 1, 8 and 15 of the 21 `randomTree` writes. */
const SET = "set-1";
const [A, B, C] = ["set-1/sub-0/file-15.dat", "set-1/sub-1/file-1.dat", "set-1/sub-2/file-8.dat"];

/** A scratch tree with varied modes and old mtimes, synced to `cold` (GLACIER) and to any `extra` locations. */
async function archived(
  store: Store,
  extra: { name: string; yaml: string[] }[] = [],
  delayMs = DELAY_MS,
  catalog?: (work: string) => Promise<string>,
) {
  const work = tempDir();
  const tree = join(work, "tree");
  const files = randomTree(tree, 21, 200_000);
  const yaml = [
    `catalog: ${catalog ? await catalog(work) : "cat.db"}`,
    "locations:",
    "  scratch:",
    "    url: ./tree",
    ...store.location("cold", "GLACIER", delayMs),
    ...extra.flatMap((e) => e.yaml),
    "",
  ];
  writeFileSync(join(work, "strata.yaml"), yaml.join("\n"));
  const run = (...args: string[]) => strata(args, { cwd: work, env: store.env() });
  for (const target of ["cold", ...extra.map((e) => e.name)]) {
    const synced = await run("sync", "scratch", target);
    expect(synced.stderr).toBe("");
    expect(synced.code).toBe(0);
  }
  const before = snapshot(tree);
  expect(before.size).toBe(21);
  return { work, tree, files, before, run };
}

/** Removes the subtree and tells the catalog so. */
async function lose(work: string, run: (...args: string[]) => Promise<CliResult>) {
  rmSync(join(work, "tree", SET), { recursive: true });
  expect((await run("scan", "scratch")).code).toBe(0);
}

function json(result: CliResult) {
  expect(result.stderr).toBe("");
  return JSON.parse(result.stdout) as {
    restored: { files: number; bytes: number };
    sources: Record<string, number>;
    thawRequested: { path: string; tier: string; expectedAt: string | null }[];
    stillThawing: { path: string }[];
    failures: { path: string; error: string }[];
  };
}

/** The restore requests, and the states of the replicas of the subtree's files. */
async function catalogRows(work: string, url = join(work, "cat.db")) {
  const catalog = await openCatalog(url);
  try {
    const requests = await catalog.db.selectFrom("restore_requests").select(["state", "tier"]).execute();
    const replicas = await catalog.db
      .selectFrom("replicas")
      .innerJoin("files", "files.id", "replicas.file_id")
      .select("replicas.state")
      .where("files.path", "like", `${SET}/%`)
      .execute();
    return { requests, replicas };
  } finally {
    await catalog.close();
  }
}

function thawSuite(store: Store) {
  describe(`restore of archived replicas on ${store.label}`, () => {
    it("with --wait, waits for the thaw and then completes: same bytes, mode and mtime", async () => {
      const { work, tree, before, run } = await archived(store);
      await lose(work, run);
      const started = Date.now();
      const result = await run("--json", "restore", `scratch:${SET}`, "--wait");
      const took = Date.now() - started;
      expect(result.code).toBe(0);
      const report = json(result);
      expect(report.restored.files).toBe(3);
      expect(report.thawRequested).toHaveLength(3);
      expect(report.stillThawing).toEqual([]);
      expect(took).toBeGreaterThanOrEqual(DELAY_MS);
      expect(snapshot(tree)).toEqual(before);
      const { requests, replicas } = await catalogRows(work);
      expect(requests.map((r) => r.state)).toEqual(["done", "done", "done"]);
      // The thaw is temporary: each replica gets back the state it had, and its class stays GLACIER.
      expect(replicas.map((r) => r.state)).toEqual(["present", "present", "present"]);
    });

    it("without --wait, requests the thaw and exits 0; a run before the delay writes nothing, one after completes", async () => {
      const { work, tree, before, run } = await archived(store, [], SLOW_DELAY_MS);
      await lose(work, run);
      const asked = Date.now();
      const first = await run("restore", `scratch:${SET}`, "--tier", "bulk");
      // Every thaw was asked between `asked` and now.
      const askedBy = Date.now();
      expect(first.stderr).toBe("");
      expect(first.code).toBe(0);
      expect(first.stdout).toMatch(/Thaw requested for 3 file\(s\) \(tier bulk\)/);
      expect(first.stdout).toMatch(/Still thawing: 3 file\(s\), expected by \d{4}-\d\d-\d\dT/);
      expect(existsSync(join(tree, SET))).toBe(false);
      expect(store.tiersAsked(work, "cold")).toEqual(["bulk", "bulk", "bulk"]);
      const { replicas } = await catalogRows(work);
      expect(replicas.map((r) => r.state)).toEqual(["restoring", "restoring", "restoring"]);

      const early = await run("--json", "restore", `scratch:${SET}`);
      // What this run saw is only meaningful if it ended before any thaw could have finished.
      expect(Date.now()).toBeLessThan(asked + SLOW_DELAY_MS);
      expect(early.code).toBe(0);
      const pending = json(early);
      expect(pending.stillThawing).toHaveLength(3);
      expect(pending.restored.files).toBe(0);
      expect(existsSync(join(tree, SET))).toBe(false);
      // Asking again while the thaw runs does not order a second one.
      expect(pending.thawRequested).toEqual([]);
      expect(store.tiersAsked(work, "cold")).toHaveLength(3);

      await sleep(Math.max(0, askedBy + SLOW_DELAY_MS + 200 - Date.now()));
      const late = await run("--json", "restore");
      expect(late.code).toBe(0);
      const finished = json(late);
      expect(finished.restored.files).toBe(3);
      expect(finished.stillThawing).toEqual([]);
      expect(snapshot(tree)).toEqual(before);
      expect((await catalogRows(work)).requests.map((r) => [r.state, r.tier])).toEqual([
        ["done", "bulk"],
        ["done", "bulk"],
        ["done", "bulk"],
      ]);
    });

    it("reads the readable replica rather than thawing the archived one", async () => {
      const warm = { name: "warm", yaml: embedded.location("warm", "STANDARD") };
      const { work, tree, before, run } = await archived(store, [warm]);
      await lose(work, run);
      const result = await run("--json", "restore", `scratch:${SET}`);
      expect(result.code).toBe(0);
      const report = json(result);
      expect(report.sources).toEqual({ warm: 3 });
      expect(report.thawRequested).toEqual([]);
      expect(store.tiersAsked(work, "cold")).toEqual([]);
      expect(snapshot(tree)).toEqual(before);
    });

    it("replaces a release's stub and marks the file present again; leaves other data alone", async () => {
      const { work, tree, files, before, run } = await archived(store);
      const catalog = await openCatalog(join(work, "cat.db"));
      const rows = await catalog.db
        .selectFrom("files")
        .selectAll()
        .where("path", "like", `${SET}/%`)
        .where("kind", "=", "file")
        .execute();
      expect(rows).toHaveLength(3);
      // Released as a release does it: stub recorded, stub renamed in, file marked released.
      for (const file of rows) {
        const path = join(tree, file.path);
        const text = renderStub("test", "scratch", new Date(), {
          strata: "stub",
          version: 1,
          path: file.path,
          size: file.size,
          mtimeUs: file.mtime_us,
          sha256: file.hash ?? sha256Hex(files[file.path] as Buffer),
          replicas: [{ location: "cold", url: "local:cold", key: file.path, class: "GLACIER" }],
        });
        writeFileSync(path, text);
        const stats = lstatSync(path);
        const stub = { size: stats.size, mtimeUs: Math.round(stats.mtimeMs * 1000), inode: stats.ino };
        await recordStub(catalog, file, stub);
        await markReleased(catalog, file.id, stub);
      }
      await catalog.close();
      // Someone wrote new work over one stub since.
      writeFileSync(join(tree, B), "not a stub: new work written after the release\n");
      expect(readFileSync(join(tree, A), "utf8")).toMatch(/^# strata stub v1 /);

      const result = await run("restore", `scratch:${SET}`, "--wait");
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`not restored: ${B}: `);
      expect(result.stderr).toContain(`"${B}" holds other data than this version (nor a strata stub)`);
      const now = snapshot(tree);
      for (const path of [A, C]) {
        const key = Buffer.from(path).toString("hex");
        expect(now.get(key)).toEqual(before.get(key));
      }
      expect(readFileSync(join(tree, B), "utf8")).toBe("not a stub: new work written after the release\n");
      // Nothing was thawed for the file that could not be written back.
      expect(store.tiersAsked(work, "cold")).toHaveLength(2);

      const check = await openCatalog(join(work, "cat.db"));
      const states = await check.db
        .selectFrom("files")
        .select(["path", "state", "stub_size"])
        .where("path", "like", `${SET}/%`)
        .where("kind", "=", "file")
        .orderBy("path")
        .execute();
      await check.close();
      expect(states).toEqual([
        { path: A, state: "present", stub_size: null },
        { path: B, state: "released", stub_size: expect.any(Number) },
        { path: C, state: "present", stub_size: null },
      ]);
      // A scan afterwards sees the restored files as they were, not as new versions.
      const rescan = await run("--json", "scan", "scratch");
      expect(rescan.code).toBe(0);
      expect(JSON.parse(rescan.stdout).scan).toMatchObject({ newFiles: 0, changedFiles: 1, deletedFiles: 0 });
    });
  });
}

thawSuite(embedded);

describe("restore with the catalog in PostgreSQL", () => {
  it("keeps and settles its thaw requests there", async () => {
    let url = "";
    const { work, tree, before, run } = await archived(embedded, [], DELAY_MS, async (dir) => {
      url = await freshCatalogUrl("postgres", dir);
      return url;
    });
    await lose(work, run);
    const first = await run("--json", "restore", `scratch:${SET}`);
    expect(json(first).thawRequested).toHaveLength(3);
    expect((await catalogRows(work, url)).replicas.map((r) => r.state)).toEqual([
      "restoring",
      "restoring",
      "restoring",
    ]);
    const done = await run("--json", "restore", "--wait");
    expect(json(done).restored.files).toBe(3);
    expect(snapshot(tree)).toEqual(before);
    const { requests, replicas } = await catalogRows(work, url);
    expect(requests.map((r) => r.state)).toEqual(["done", "done", "done"]);
    expect(replicas.map((r) => r.state)).toEqual(["present", "present", "present"]);
  });
});

describe("restore from Ceph RGW", () => {
  beforeAll(async () => {
    rgw = await startRgwWithBuckets([BUCKET]);
    for (const delay of [DELAY_MS, SLOW_DELAY_MS]) proxies.set(delay, await startArchiveProxy(rgw.endpoint, delay));
  }, 180_000);

  afterAll(async () => {
    for (const proxy of proxies.values()) await proxy.close();
    rgw?.stop();
  });

  thawSuite(ceph);

  it("prefers the cheapest readable replica by its price profile, not its name", async () => {
    const hot = { name: "b-hot", yaml: ceph.location("b-hot", "STANDARD") };
    const warm = { name: "warm", yaml: embedded.location("warm", "STANDARD") };
    const { work, tree, files, before, run } = await archived(ceph, [hot, warm]);
    await lose(work, run);
    const result = await run("--json", "restore", `scratch:${SET}`);
    expect(result.code).toBe(0);
    // S3 charges a GET and egress; the embedded store nothing.
    expect(json(result).sources).toEqual({ warm: 3 });
    expect(snapshot(tree)).toEqual(before);
    await lose(work, run);
    const chosen = await run("--json", "restore", `scratch:${SET}`, "--from", "b-hot");
    expect(json(chosen).sources).toEqual({ "b-hot": 3 });
    expect(snapshot(tree)).toEqual(before);
    expect(ceph.tiersAsked(work, "cold")).toEqual([]);

    // From the archive alone, a deadline picks the cheapest tier that meets it, or none.
    await lose(work, run);
    const plan = await run("restore", `scratch:${SET}`, "--from", "cold", "--deadline", "6h", "-n");
    expect(plan.code).toBe(0);
    // By hand from the AWS table: thaw $0.01/GB + $0.05/1000, GET $0.0004/1000, the thawed copy a
    // day at STANDARD's $0.023/GB-month, egress $0.09/GB.
    const gb = (files[B] as Buffer).length / GIB;
    const byHand = gb * 0.01 + 0.05 / 1000 + 0.0004 / 1000 + (gb * 0.023) / 30 + gb * 0.09;
    expect(plan.stdout).toContain(`would thaw ${B} at cold (tier standard), about $${byHand.toFixed(6)}`);
    const tooSoon = await run("restore", `scratch:${SET}`, "--from", "cold", "--deadline", "1m");
    expect(tooSoon.code).toBe(1);
    expect(tooSoon.stderr).toMatch(
      /no restore tier of GLACIER is done within 1 min 0 s \(fastest: expedited, 5 min 0 s\)/,
    );
    expect(ceph.tiersAsked(work, "cold")).toEqual([]);
    const inTime = await run("--json", "restore", `scratch:${SET}`, "--from", "cold", "--deadline", "6h");
    expect(inTime.code).toBe(0);
    expect(json(inTime).thawRequested.map((t) => t.tier)).toEqual(["standard", "standard", "standard"]);
    expect(ceph.tiersAsked(work, "cold")).toEqual(["standard", "standard", "standard"]);
  });
});

describe("restore with hostile keys", () => {
  it("never thaws or writes outside --to, whatever the keys say", async () => {
    const work = tempDir();
    const source = await LocalStoreBackend.open(join(work, "src"), "local://src", { restoreDelayMs: 0 });
    for (const key of ["../escaped.txt", "ok/../../escaped2.txt", "/etc/evil", "fine.txt"]) await put(source, key, "x");
    await source.close();
    writeFileSync(
      join(work, "strata.yaml"),
      [
        "catalog: cat.db",
        "locations:",
        "  src:",
        "    url: local:src",
        ...embedded.location("cold", "GLACIER"),
        "",
      ].join("\n"),
    );
    const run = (...args: string[]) => strata(args, { cwd: work });
    expect((await run("sync", "src", "cold")).code).toBe(0);
    const result = await run("restore", "src:", "--to", join(work, "out"), "--wait");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/\.\.\/escaped\.txt: key has a "\.\." segment: never written outside the target/);
    expect(result.stderr).toMatch(/\/etc\/evil: key is absolute/);
    expect(readdirSync(join(work, "out"))).toEqual(["fine.txt"]);
    expect(existsSync(join(work, "escaped.txt"))).toBe(false);
    expect(existsSync(join(work, "escaped2.txt"))).toBe(false);
    // Only the safe key was thawed: nothing is paid for what could not be written.
    const cold = new Database(join(work, "cold", "index.db"), { readonly: true });
    const thawed = cold.prepare("SELECT key FROM objects WHERE restore_ready_us IS NOT NULL").all();
    cold.close();
    expect(thawed).toEqual([{ key: "fine.txt" }]);
  });
});

describe("choosing a thaw tier", () => {
  const gib = 10 * GIB;
  it("takes the cheapest tier whose published latency fits the deadline", () => {
    const tier = (deadlineMs: number) => chooseTier(AWS_PROFILE, "GLACIER", gib, { deadlineMs });
    expect(tier(13 * 3_600_000)).toMatchObject({ tier: "bulk" });
    expect(tier(6 * 3_600_000)).toMatchObject({ tier: "standard" });
    expect(tier(10 * 60_000)).toMatchObject({ tier: "expedited" });
    expect(tier(60_000)).toEqual({
      error: "no restore tier of GLACIER is done within 1 min 0 s (fastest: expedited, 5 min 0 s)",
    });
    expect(chooseTier(AWS_PROFILE, "DEEP_ARCHIVE", gib, { deadlineMs: 24 * 3_600_000 })).toMatchObject({
      tier: "standard",
    });
  });

  it("thaws at standard unless told, and refuses a tier the class does not offer", () => {
    expect(chooseTier(AWS_PROFILE, "GLACIER", gib, {})).toEqual({ tier: "standard", latencyMs: 5 * 3_600_000 });
    expect(chooseTier(AWS_PROFILE, "DEEP_ARCHIVE", gib, { tier: "expedited" })).toEqual({
      error: "DEEP_ARCHIVE offers no expedited restore (standard, bulk)",
    });
    expect(chooseTier(LOCAL_PROFILE, "GLACIER", gib, { deadlineMs: 1 })).toMatchObject({ latencyMs: 0 });
  });
});
