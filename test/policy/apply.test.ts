import { chownSync, existsSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseStub } from "../../src/codec/stub.js";
import { applyPlan, applyPolicies } from "../../src/engine/apply.js";
import { NO_FILTER } from "../../src/policy/filter.js";
import { summarizePlan } from "../../src/policy/sync-plan.js";
import { sha256Hex } from "../support/bytes.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { strata } from "../support/cli.js";
import { corruptBlob } from "../support/damage.js";
import { type LocalServer, listenLocally } from "../support/http-proxy.js";
import { tempDir } from "../support/tmp.js";
import {
  agedTree,
  applyAgedContent,
  CONTENT,
  DAY_MS,
  kinds,
  RELEASE_OLD,
  stream,
  type Workspace,
  workspace,
} from "./apply-workspace.js";

const ARCHIVE = ["  archive:", "    url: local:store", "    class: STANDARD"].join("\n");

function fileRow(ws: Workspace, path: string) {
  return ws.ctx.catalog.db
    .selectFrom("files")
    .selectAll()
    .where("path", "=", path)
    .where("location_id", "=", ws.ctx.catalog.db.selectFrom("locations").select("id").where("name", "=", "scratch"))
    .executeTakeFirstOrThrow();
}

function replicaStates(ws: Workspace) {
  return ws.ctx.catalog.db
    .selectFrom("replicas")
    .innerJoin("files", "files.id", "replicas.file_id")
    .select(["files.path", "replicas.state"])
    .orderBy("files.path")
    .execute();
}

describe.each(CATALOG_KINDS)("apply on the embedded store (%s catalog)", (kind) => {
  it("plans, applies, and then has nothing left to plan; a rescan keeps released files released", async () => {
    const catalog = await freshCatalogUrl(kind, tempDir());
    const ws = await workspace({ locations: ARCHIVE, policies: RELEASE_OLD, catalog });
    try {
      const report = await applyAgedContent(ws);
      expect(report.kinds.copy).toEqual({ files: 3, bytes: 38_000, stale: 0, failed: 0 });
      expect(report.kinds.release).toEqual({ files: 3, bytes: 38_000, stale: 0, failed: 0 });

      await ws.scan();
      for (const path of ["old/a.dat", "old/b.dat", "old/c.dat"]) {
        const row = await fileRow(ws, path);
        expect(row.state).toBe("released");
        expect(row.size).toBe(Buffer.byteLength(CONTENT[path] as string));
        expect(row.hash).toBe(sha256Hex(CONTENT[path] as string));
      }
      expect((await fileRow(ws, "new/d.dat")).state).toBe("present");
      expect(await ws.plan()).toEqual([]);

      // `sync scratch archive --delete` would send only the file never copied: no stub as data,
      // and no released file taken for a deleted one.
      const scope = {
        sourceLocationId: (await ws.ctx.location("scratch")).row.id,
        targetLocationId: (await ws.ctx.location("archive")).row.id,
        filter: NO_FILTER,
        checksum: false,
        compareTouched: true,
      };
      const sync = await summarizePlan(ws.ctx.catalog, scope, true);
      expect([sync.copy.files, sync.delete.files, sync.unchanged.files]).toEqual([1, 0, 0]);
    } finally {
      await ws.close();
    }
  });
});

describe("release", () => {
  it("never releases a file whose copy does not read back right, and says why", async () => {
    const ws = await workspace({ locations: ARCHIVE, policies: RELEASE_OLD });
    try {
      agedTree(ws.tree, CONTENT, 40);
      const original = statSync(join(ws.tree, "old/a.dat"));
      await ws.scan();
      const copied = await applyPlan(ws.ctx, stream(await ws.plan()), { transfers: 4, maxBuffer: 1 << 20 });
      expect(copied.kinds.copy.files).toBe(3);

      corruptBlob(join(ws.dir, "store"), "old/b.dat");
      await (await ws.ctx.location("archive")).backend.delete(["old/c.dat"]);
      const releases = await ws.plan();
      expect(kinds(releases)).toEqual({ release: 3 });

      const report = await applyPlan(ws.ctx, stream(releases), { transfers: 4, maxBuffer: 1 << 20 });
      expect(report.kinds.release).toEqual({ files: 1, bytes: 18_000, stale: 0, failed: 2 });
      const why = Object.fromEntries(report.failures.map((f) => [f.path, f.reason]));
      expect(why["old/b.dat"]).toMatch(
        /^not released: archive: read back [0-9a-f]{64}, expected sha256 .* \(marked lost\)$/,
      );
      expect(why["old/c.dat"]).toMatch(/^not released: archive: the object is missing \(marked lost\)$/);
      for (const path of ["old/b.dat", "old/c.dat"]) {
        expect(readFileSync(join(ws.tree, path), "utf8")).toBe(CONTENT[path]);
        expect((await fileRow(ws, path)).state).toBe("present");
      }
      expect(await replicaStates(ws)).toEqual([
        { path: "old/a.dat", state: "present" },
        { path: "old/b.dat", state: "lost" },
        { path: "old/c.dat", state: "lost" },
      ]);

      // The released file: a stub with the original's mode, owner and mtime, and a catalog row
      // that still describes the original.
      const stubPath = join(ws.tree, "old/a.dat");
      const text = readFileSync(stubPath, "utf8");
      expect(text.split("\n")[0]).toMatch(/^# strata stub v1 — data released by policy release-old on \d{4}-/);
      expect(text.split("\n")[1]).toBe("# bring it back: strata restore scratch:old/a.dat");
      const stub = parseStub(text);
      expect(stub?.sha256).toBe(sha256Hex(CONTENT["old/a.dat"] as string));
      expect(stub?.replicas).toEqual([
        { location: "archive", url: expect.stringMatching(/^local:/), key: "old/a.dat", class: "STANDARD_IA" },
      ]);
      const stubStat = statSync(stubPath);
      expect(stubStat.mode).toBe(original.mode);
      expect(stubStat.mtimeMs).toBe(original.mtimeMs);
      expect([stubStat.uid, stubStat.gid]).toEqual([original.uid, original.gid]);
      const row = await fileRow(ws, "old/a.dat");
      expect([row.state, row.size, row.hash]).toEqual(["released", 18_000, sha256Hex(CONTENT["old/a.dat"] as string)]);

      // The next plans copy the lost replicas again, then release those files too.
      expect(kinds(await ws.plan())).toEqual({ copy: 2 });
      const again = await applyPolicies(ws.ctx);
      expect([again.kinds.copy.files, again.kinds.release.files, again.failures.length]).toEqual([2, 2, 0]);
      expect(await ws.plan()).toEqual([]);

      // A stub that is only touched is still a stub to the scanner.
      utimesSync(stubPath, new Date(), new Date());
      await ws.scan();
      expect((await fileRow(ws, "old/a.dat")).state).toBe("released");
      expect(await ws.plan()).toEqual([]);

      const restored = await strata(["--config", join(ws.dir, "strata.yaml"), "restore", "scratch:old/a.dat"], {
        cwd: ws.dir,
      });
      expect(restored.stderr).toBe("");
      expect(restored.code).toBe(0);
      expect(readFileSync(stubPath, "utf8")).toBe(CONTENT["old/a.dat"]);
    } finally {
      await ws.close();
    }
  });

  it("leaves a file alone that changed on disk after the scan (stale)", async () => {
    const ws = await workspace({ locations: ARCHIVE, policies: RELEASE_OLD });
    try {
      agedTree(ws.tree, CONTENT, 40);
      await ws.scan();
      await applyPlan(ws.ctx, stream(await ws.plan()), { transfers: 2, maxBuffer: 1 << 20 });
      const releases = await ws.plan();
      writeFileSync(join(ws.tree, "old/a.dat"), "rewritten after the scan");
      const report = await applyPlan(ws.ctx, stream(releases), { transfers: 2, maxBuffer: 1 << 20 });
      expect(report.kinds.release).toEqual({ files: 2, bytes: 20_000, stale: 1, failed: 0 });
      expect(report.stale).toEqual([
        expect.objectContaining({ path: "old/a.dat", reason: "the file changed on disk since the last scan" }),
      ]);
      expect(readFileSync(join(ws.tree, "old/a.dat"), "utf8")).toBe("rewritten after the scan");
    } finally {
      await ws.close();
    }
  });
});

describe("scanning released files", () => {
  it("keeps a stub released (even when the release died before saying so), and sees new data or a removal", async () => {
    const ws = await workspace({ locations: ARCHIVE, policies: RELEASE_OLD });
    try {
      agedTree(ws.tree, CONTENT, 40);
      await ws.scan();
      expect((await applyPolicies(ws.ctx)).kinds.release.files).toBe(3);

      // As if killed between renaming the stub in and marking the row: the stub is on record.
      await ws.ctx.catalog.db.updateTable("files").set({ state: "present" }).where("path", "=", "old/a.dat").execute();
      writeFileSync(join(ws.tree, "old/b.dat"), "new data where a stub was");
      rmSync(join(ws.tree, "old/c.dat"));
      await ws.scan();

      const a = await fileRow(ws, "old/a.dat");
      expect([a.state, a.size, a.hash]).toEqual(["released", 18_000, sha256Hex(CONTENT["old/a.dat"] as string)]);
      const b = await fileRow(ws, "old/b.dat");
      expect([b.state, b.size, b.hash, b.stub_size]).toEqual(["present", 25, null, null]);
      // A released file whose stub is gone is missing, not deleted: its copies hold its only data.
      expect((await fileRow(ws, "old/c.dat")).state).toBe("missing");
      expect(kinds(await ws.plan())).toEqual({ copy: 1 });
    } finally {
      await ws.close();
    }
  });
});

describe("purge", () => {
  let webhook: LocalServer;
  let posts: { url: string; body: Record<string, unknown> }[] = [];
  let status = 200;
  let hook = "";

  beforeAll(async () => {
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        posts.push({ url: req.url ?? "", body: JSON.parse(body) as Record<string, unknown> });
        res.writeHead(status).end();
      });
    });
    webhook = await listenLocally(server);
    hook = `${webhook.endpoint}/hook?token=s3cret`;
  });

  afterAll(() => webhook?.close());

  const COLD: Record<string, [string, number]> = {
    "cold/u1/a.dat": ["a".repeat(100), 1001],
    "cold/u1/b.dat": ["b".repeat(200), 1001],
    "cold/u2/c.dat": ["c".repeat(300), 65534],
    "cold/u2/d.dat": ["d".repeat(400), 65534],
  };

  async function purgeWorkspace(): Promise<Workspace> {
    const ws = await workspace({
      locations: ARCHIVE,
      policies: `
  - name: scratch-purge
    from: [scratch]
    place: [{ to: archive }]
    then: purge
    purge: { after: 30d, grace: 14d, notices: ./notices, webhook: "${hook}" }`,
    });
    agedTree(ws.tree, Object.fromEntries(Object.entries(COLD).map(([p, [content]]) => [p, content])), 100);
    for (const [path, [, uid]] of Object.entries(COLD)) chownSync(join(ws.tree, path), uid, uid);
    agedTree(ws.tree, { "warm/e.dat": "in use" }, 1);
    await ws.scan();
    return ws;
  }

  it("announces per owner, deletes nothing inside the grace period, then only the announced files still unread", async () => {
    posts = [];
    status = 200;
    const ws = await purgeWorkspace();
    try {
      const copies = await applyPlan(ws.ctx, stream(await ws.plan()), { transfers: 4, maxBuffer: 1 << 20 });
      expect(copies.kinds.copy.files).toBe(5);
      // Copying read the files, which moved their atimes; set them back, as a reader that does
      // not touch atimes would have left them, so that a later read moves them again (relatime).
      const old = (Date.now() - 100 * DAY_MS) / 1000;
      for (const path of Object.keys(COLD)) {
        // The mtime stays to the microsecond (libuv truncates: aim at the middle of it).
        const mtimeUs = Math.round(statSync(join(ws.tree, path)).mtimeMs * 1000);
        utimesSync(join(ws.tree, path), old, (mtimeUs + 0.5) / 1e6);
      }
      const first = await applyPolicies(ws.ctx);
      expect([first.failures, first.stale]).toEqual([[], []]);
      expect([first.kinds.copy.files, first.kinds.notify.files, first.kinds.purge.files]).toEqual([0, 4, 0]);

      // One POST per owner, naming only the origin-free path it was given; one notice file each.
      expect(posts.map((p) => [p.url, p.body.owner, p.body.files, p.body.bytes]).sort()).toEqual([
        ["/hook?token=s3cret", { uid: 1001, name: "1001" }, 2, 300],
        ["/hook?token=s3cret", { uid: 65534, name: "nobody" }, 2, 700],
      ]);
      const notice = readFileSync(join(ws.dir, "notices", "1001.txt"), "utf8");
      expect(notice).toMatch(/^# strata purge notice for 1001 \(uid 1001\)/);
      expect(notice).toContain(`\t100\t${ws.tree}/cold/u1/a.dat\n`);
      expect(notice).toContain(`\t200\t${ws.tree}/cold/u1/b.dat\n`);
      expect(readFileSync(join(ws.dir, "notices", "nobody.txt"), "utf8")).toContain(`${ws.tree}/cold/u2/d.dat`);
      const notices = await ws.ctx.catalog.db.selectFrom("purge_notices").selectAll().execute();
      expect(notices).toHaveLength(4);
      for (const n of notices) expect(n.delete_after - n.announced_at).toBe(14 * DAY_MS);

      // Inside the grace period: nothing is deleted, nobody is told twice.
      const inGrace = await applyPolicies(ws.ctx);
      expect(Object.values(inGrace.kinds).every((k) => k.files + k.failed === 0)).toBe(true);
      for (const path of Object.keys(COLD)) expect(existsSync(join(ws.tree, path))).toBe(true);
      expect(posts).toHaveLength(2);

      // The grace period ends; d is read meanwhile (relatime updates an atime older than the mtime).
      await ws.ctx.catalog.db
        .updateTable("purge_notices")
        .set({ delete_after: Date.now() - 1000 })
        .execute();
      const atimeBefore = statSync(join(ws.tree, "cold/u2/d.dat")).atimeMs;
      readFileSync(join(ws.tree, "cold/u2/d.dat"));
      expect(statSync(join(ws.tree, "cold/u2/d.dat")).atimeMs).toBeGreaterThan(atimeBefore);

      const purged = await applyPolicies(ws.ctx);
      expect(purged.failures).toEqual([]);
      expect(purged.kinds.purge).toEqual({ files: 3, bytes: 600, stale: 1, failed: 0 });
      expect(purged.stale[0]).toMatchObject({ path: "cold/u2/d.dat", reason: expect.stringMatching(/^read since/) });
      for (const path of ["cold/u1/a.dat", "cold/u1/b.dat", "cold/u2/c.dat"]) {
        expect(existsSync(join(ws.tree, path))).toBe(false);
        expect((await fileRow(ws, path)).state).toBe("released");
      }
      expect(readFileSync(join(ws.tree, "cold/u2/d.dat"), "utf8")).toBe(COLD["cold/u2/d.dat"]?.[0]);
      expect(readFileSync(join(ws.tree, "warm/e.dat"), "utf8")).toBe("in use");
      expect(await ws.ctx.catalog.db.selectFrom("purge_notices").selectAll().execute()).toEqual([]);
      expect(purged.kinds.notify.files).toBe(0);

      // A rescan does not mistake the purged files for deleted ones. d's times were set back
      // above, which moved its ctime: its copy is compared by content, and nothing is sent.
      await ws.scan();
      expect((await fileRow(ws, "cold/u1/a.dat")).state).toBe("released");
      expect((await ws.plan()).map((a) => `${a.kind} ${a.file.path}`)).toEqual(["copy cold/u2/d.dat"]);
      const compared = await applyPolicies(ws.ctx);
      expect(compared.kinds.copy).toEqual({ files: 1, bytes: 0, stale: 0, failed: 0 });
      expect(await ws.plan()).toEqual([]);
    } finally {
      await ws.close();
    }
  });

  it("records no notice when the webhook refuses, and names only its origin", async () => {
    posts = [];
    status = 500;
    const ws = await purgeWorkspace();
    try {
      const report = await applyPolicies(ws.ctx);
      expect(report.kinds.notify).toEqual({ files: 0, bytes: 0, stale: 0, failed: 4 });
      expect(posts).toHaveLength(4); // two owners, one retry each (defaults.retries: 1)
      const reason = report.failures[0]?.reason ?? "";
      expect(reason).toMatch(/not told: webhook http:\/\/127\.0\.0\.1:\d+: answered HTTP 500/);
      expect(reason).not.toContain("s3cret");
      expect(await ws.ctx.catalog.db.selectFrom("purge_notices").selectAll().execute()).toEqual([]);
    } finally {
      await ws.close();
    }
  });
});

describe("stopping", () => {
  it("on abort starts nothing new, finishes what is in flight and settles the journal", async () => {
    const ws = await workspace({
      locations: ARCHIVE,
      policies: "  - name: keep-all\n    from: [scratch]\n    place: [{ to: archive }]",
    });
    try {
      agedTree(ws.tree, Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`f${i}.dat`, `file ${i}`])), 3);
      await ws.scan();
      const stop = new AbortController();
      const report = await applyPolicies(ws.ctx, {
        signal: stop.signal,
        transfers: 1,
        progress: { bytes: () => {}, fileDone: () => stop.abort() },
      });
      expect([report.stopped, report.kinds.copy.files, report.notStarted]).toEqual([true, 1, 9]);
      const journal = await ws.ctx.catalog.db
        .selectFrom("actions")
        .select(["state"])
        .where("run_id", "=", report.runId)
        .execute();
      expect(journal.map((a) => a.state).sort()).toEqual(["done", ...Array(9).fill("skipped")]);
      const run = await ws.ctx.catalog.db
        .selectFrom("runs")
        .selectAll()
        .where("id", "=", report.runId)
        .executeTakeFirst();
      expect(run?.status).toBe("partial");
      expect(kinds(await ws.plan())).toEqual({ copy: 9 });
    } finally {
      await ws.close();
    }
  });
});

describe("strata apply", () => {
  it("carries out exactly a plan file, skipping what changed since; plans itself without one; exits 1 on failures", async () => {
    const ws = await workspace({ locations: ARCHIVE, policies: RELEASE_OLD });
    await ws.close();
    const run = (...args: string[]) => strata(["--config", join(ws.dir, "strata.yaml"), ...args], { cwd: ws.dir });
    agedTree(ws.tree, CONTENT, 40);
    expect((await run("scan", "scratch")).code).toBe(0);
    expect((await run("plan", "--out", "plan.json")).code).toBe(0);

    writeFileSync(join(ws.tree, "old/c.dat"), "changed after planning");
    expect((await run("scan", "scratch")).code).toBe(0);
    const fromFile = await run("apply", "plan.json");
    expect(fromFile.stderr).toBe("");
    expect(fromFile.code).toBe(0);
    expect(fromFile.stdout).toMatch(/^ {2}copy {7}2 files \(29\.3 KiB\), 1 stale, 0 failed$/m);
    expect(fromFile.stdout).not.toMatch(/^ {2}release {4}\d/m);

    const planned = await run("--json", "apply");
    expect(planned.code).toBe(0);
    const result = JSON.parse(planned.stdout).result;
    expect([result.kinds.copy.files, result.kinds.release.files, result.failures]).toEqual([1, 3, []]);
    const nothing = await run("apply");
    expect(nothing.stdout).toMatch(/nothing to do/);

    // A plan whose location the config no longer has: each action fails, named; exit 1.
    writeFileSync(join(ws.tree, "old/e.dat"), "one more");
    await run("scan", "scratch");
    expect((await run("plan", "--out", "later.json")).code).toBe(0);
    const config = readFileSync(join(ws.dir, "strata.yaml"), "utf8");
    writeFileSync(join(ws.dir, "strata.yaml"), config.replaceAll("archive", "vault"));
    const failed = await run("apply", "later.json");
    expect(failed.code).toBe(1);
    expect(failed.stderr).toBe("strata: failed: copy scratch:old/e.dat: location archive is not in the config\n");
  });
});
