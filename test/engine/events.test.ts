/**
 * Issue 11, "Done when": every action kind leaves exactly one event. Through the CLI on the
 * embedded store (whose classes make transitions), each command's new rows of `events` are read
 * from the SQLite catalog and checked column by column against the agreed spec: kind, file,
 * location (and target for copies and restores), bytes, run, policy, host, user, outcome.
 *
 * Readings of the spec where it says nothing explicit (the most natural one taken):
 * - target_location_id is null for every kind but copy and restore;
 * - notify, like release and purge, names the POSIX source as its location;
 * - bytes are asserted for a done copy (spec: the file's bytes) and restore (the bytes brought
 *   back); for a failed copy and the other kinds only that they are a whole number;
 * - a verify that finds damage leaves its journal row settled (done or failed), never pending;
 *   a clean verify's rows are all done, as are a restore's.
 */

import { rmSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { freshCatalogUrl } from "../support/catalogs.js";
import { strata } from "../support/cli.js";
import { corruptBlob } from "../support/damage.js";
import { sqliteRows } from "../support/sqlite-rows.js";
import { writeTree } from "../support/trees.js";
import { KEEP_ALL, workDir } from "./workdir.js";

interface EventRow {
  id: number;
  at: number;
  kind: string;
  file_id: number | null;
  location_id: number | null;
  target_location_id: number | null;
  bytes: number;
  run_id: number | null;
  policy: string | null;
  host: string;
  user: string;
  outcome: string;
  detail: string | null;
}

interface ActionRow {
  kind: string;
  key: string;
  state: string;
}

/** A work dir with a config (catalog cat.db, scratch = ./tree, then `more` lines) and a way to run the CLI in it. */
function work(more: string[]) {
  const dir = workDir({}, more);
  const catalog = join(dir, "cat.db");
  const rows = <T>(sql: string, ...params: unknown[]) => sqliteRows<T>(catalog, sql, ...params);
  /** The newest id of `table`; 0 before the first command has made the catalog. */
  const lastId = (table: "events" | "runs") => {
    try {
      return rows<{ n: number | null }>(`SELECT max(id) AS n FROM ${table}`)[0]?.n ?? 0;
    } catch {
      return 0;
    }
  };
  const names = () =>
    new Map(rows<{ id: number; name: string }>("SELECT id, name FROM locations").map((l) => [l.id, l.name]));
  const paths = () =>
    new Map(rows<{ id: number; path: string }>("SELECT id, path FROM files").map((f) => [f.id, f.path]));

  /**
   * Runs `strata args` expecting exit `code`, and returns what it left: its events (each checked
   * for the columns every event must hold, and described for comparing), its runs, and its
   * runs' journaled actions.
   */
  async function step(args: string[], code = 0) {
    const [eventsBefore, runsBefore] = [lastId("events"), lastId("runs")];
    const started = Date.now();
    const result = await strata(args, { cwd: dir });
    const ended = Date.now();
    if (code === 0) expect(result.stderr, `strata ${args.join(" ")}`).toBe("");
    expect(result.code, `strata ${args.join(" ")}: ${result.stderr}`).toBe(code);
    const events = rows<EventRow>(
      `SELECT id, at, kind, file_id, location_id, target_location_id, bytes, run_id, policy, host, "user", outcome, detail
       FROM events WHERE id > ? ORDER BY id`,
      eventsBefore,
    );
    const runs = rows<{ id: number }>("SELECT id FROM runs WHERE id > ? ORDER BY id", runsBefore).map((r) => r.id);
    const actions = rows<ActionRow>("SELECT kind, key, state FROM actions WHERE run_id > ? ORDER BY id", runsBefore);
    for (const e of events) expectCommonColumns(e, { started, ended }, runs);
    const named = { locations: names(), paths: paths() };
    const described = events.map((e) => describeEvent(e, named)).sort();
    return { result, events, described, runs, actions };
  }
  return { dir, tree: join(dir, "tree"), step, rows };
}

/** What every event holds: a time inside its command, one of its runs, this host and user, whole bytes. */
function expectCommonColumns(e: EventRow, command: { started: number; ended: number }, runs: number[]): void {
  expect(e.at).toBeGreaterThanOrEqual(command.started);
  expect(e.at).toBeLessThanOrEqual(command.ended);
  expect(runs).toContain(e.run_id);
  expect([e.host, e.user]).toEqual([hostname(), userInfo().username]);
  expect(Number.isInteger(e.bytes) && e.bytes >= 0, `bytes ${e.bytes}`).toBe(true);
}

/**
 * An event as the tests compare it: "kind path location→target policy outcome", with its bytes
 * after the locations for a done copy or restore, and "-" for a null target or policy.
 */
function describeEvent(e: EventRow, named: { locations: Map<number, string>; paths: Map<number, string> }): string {
  const name = (id: number | null) => (id === null ? "-" : (named.locations.get(id) ?? `location ${id}`));
  const moved = (e.kind === "copy" || e.kind === "restore") && e.outcome === "done";
  return [
    e.kind,
    e.file_id === null ? "-" : (named.paths.get(e.file_id) ?? `file ${e.file_id}`),
    `${name(e.location_id)}→${name(e.target_location_id)}`,
    ...(moved ? [`${e.bytes}B`] : []),
    e.policy ?? "-",
    e.outcome,
  ].join(" ");
}

const ARCHIVE = ['  archive: { url: "local:store", class: STANDARD }'];

describe("events of sync, restore and verify", () => {
  it("copy, delete (sync --delete), restore, verify passed and failed: one event each, with their columns", async () => {
    const { dir, tree, step } = work(ARCHIVE);
    writeTree(tree, { "a.txt": "alpha", "b.txt": "bravo!", "c.txt": "charlie" });

    const synced = await step(["sync", "scratch", "archive"]);
    expect(synced.runs).toHaveLength(1);
    expect(synced.described).toEqual([
      "copy a.txt scratch→archive 5B - done",
      "copy b.txt scratch→archive 6B - done",
      "copy c.txt scratch→archive 7B - done",
    ]);

    rmSync(join(tree, "c.txt"));
    const pruned = await step(["sync", "--delete", "--force", "scratch", "archive"]);
    expect(pruned.described).toEqual(["delete c.txt archive→- - done"]);

    rmSync(join(tree, "a.txt"));
    const restored = await step(["restore", "scratch:a.txt"]);
    expect(restored.runs).toHaveLength(1);
    expect(restored.described).toEqual(["restore a.txt archive→scratch 5B - done"]);
    expect(restored.actions.map((a) => `${a.kind} ${a.key} ${a.state}`)).toEqual(["restore a.txt done"]);

    const verified = await step(["verify", "archive"]);
    expect(verified.runs).toHaveLength(1);
    expect(verified.described).toEqual(["verify a.txt archive→- - passed", "verify b.txt archive→- - passed"]);
    expect(verified.actions.map((a) => `${a.kind} ${a.key} ${a.state}`).sort()).toEqual([
      "verify a.txt done",
      "verify b.txt done",
    ]);

    corruptBlob(join(dir, "store"), "b.txt");
    const damaged = await step(["verify", "archive"], 1);
    expect(damaged.described).toEqual(["verify a.txt archive→- - passed", "verify b.txt archive→- - failed"]);
    const settled = Object.fromEntries(damaged.actions.map((a) => [`${a.kind} ${a.key}`, a.state]));
    expect(settled).toEqual({ "verify a.txt": "done", "verify b.txt": expect.stringMatching(/^(done|failed)$/) });
  });
});

describe("a restore from an archive class", () => {
  it("writes no event for the thaw request, and one once the bytes are back", async () => {
    const { tree, step } = work(["  vault: { url: local:vault, class: GLACIER, restoreDelay: 2000ms }"]);
    // keep.txt stays: a tree left empty would look unmounted to the scan.
    writeTree(tree, { "x.txt": "frozen", "keep.txt": "kept" });
    await step(["sync", "scratch", "vault"]);
    rmSync(join(tree, "x.txt"));
    await step(["scan", "scratch"]);
    const thawing = await step(["restore", "scratch:x.txt"]);
    const askedBy = Date.now();
    expect(thawing.result.stdout).toMatch(/Thaw requested for 1 file/);
    expect(thawing.described).toEqual([]);
    await sleep(Math.max(0, askedBy + 2200 - Date.now()));
    const back = await step(["restore"]);
    expect(back.described).toEqual(["restore x.txt vault→scratch 6B - done"]);
  });
});

describe("a failed copy", () => {
  it("writes one event, outcome failed, beside the done ones", async () => {
    const { dir, tree, step } = work(["  out: { url: ./out }"]);
    writeTree(tree, { "a.txt": "alpha", "b.txt": "bravo" });
    // A directory where a.txt must go: its copy fails however often it is tried.
    writeTree(join(dir, "out"), { "a.txt/in-the-way": "" });
    const synced = await step(["sync", "scratch", "out"], 1);
    expect(synced.described).toEqual(["copy a.txt scratch→out - failed", "copy b.txt scratch→out 5B - done"]);
  });
});

const POLICIES = [
  ...ARCHIVE,
  "policies:",
  "  - name: tier",
  "    from: [scratch]",
  '    match: { path: ["warm/**"] }',
  "    place: [{ to: archive, class: STANDARD_IA }]",
  "    prune: true",
  "  - name: release-old",
  "    from: [scratch]",
  '    match: { path: ["old/**"] }',
  "    place: [{ to: archive }]",
  "    then: release",
  "  - name: purge-cold",
  "    from: [scratch]",
  '    match: { path: ["cold/**"] }',
  "    place: [{ to: archive }]",
  "    then: purge",
  "    purge: { after: 30d, grace: 2s, notices: ./notices }",
];

describe("events of policies", () => {
  it("copy, transition, delete (prune), release, notify, purge: one event each, naming the policy", async () => {
    const { tree, step, rows } = work(POLICIES);
    writeTree(tree, {
      "warm/t.dat": "to be tiered",
      "warm/gone.dat": "to be pruned",
      "old/r.dat": "to be released",
      "cold/p.dat": "to be purged",
    });
    // Not read (nor written) for 100 days: past the purge policy's 30.
    const longAgo = Date.now() / 1000 - 100 * 86_400;
    utimesSync(join(tree, "cold/p.dat"), longAgo, longAgo);
    // warm/ goes over first in the location's class, STANDARD: the policy then moves it down.
    await step(["sync", "scratch", "archive", "--include", "warm/**"]);
    rmSync(join(tree, "warm/gone.dat"));
    await step(["scan", "scratch"]);

    // Releases and notices follow the copies they need once verified, purges the notice's grace
    // period: in the same run or a later one, as the engine plans them and the clock allows.
    // However the runs fall, each action leaves one event.
    const first = await step(["apply", "--force"]);
    const second = await step(["apply", "--force"]);
    const [notice] = rows<{ delete_after: number }>("SELECT delete_after FROM purge_notices");
    await sleep(Math.max(0, (notice?.delete_after ?? 0) - Date.now()) + 100);
    const third = await step(["apply"]);
    expect(first.runs).toHaveLength(1);
    expect([first, second, third].flatMap((s) => s.described).sort()).toEqual([
      "copy cold/p.dat scratch→archive 12B purge-cold done",
      "copy old/r.dat scratch→archive 14B release-old done",
      "delete warm/gone.dat archive→- tier done",
      "notify cold/p.dat scratch→- purge-cold done",
      "purge cold/p.dat scratch→- purge-cold done",
      "release old/r.dat scratch→- release-old done",
      "transition warm/t.dat archive→- tier done",
    ]);
    const transition = first.events.find((e) => e.kind === "transition");
    expect(Object.values(JSON.parse(transition?.detail ?? "{}"))).toEqual(
      expect.arrayContaining(["STANDARD", "STANDARD_IA"]),
    );
  });

  it("a stale-skipped action writes none", async () => {
    const { dir, tree, step } = work([...ARCHIVE, ...KEEP_ALL]);
    writeTree(tree, { "s1.txt": "planned", "s2.txt": "planned too" });
    await step(["scan", "scratch"]);
    await step(["plan", "--out", join(dir, "plan.json")]);
    writeFileSync(join(tree, "s2.txt"), "changed after planning");
    await step(["scan", "scratch"]);
    const applied = await step(["apply", join(dir, "plan.json")]);
    expect(applied.result.stdout).toMatch(/\b1 stale\b/);
    expect(applied.described).toEqual(["copy s1.txt scratch→archive 7B keep-all done"]);
    expect(applied.actions.map((a) => `${a.key} ${a.state}`).sort()).toEqual(["s1.txt done", "s2.txt skipped"]);
  });
});

describe("events with the catalog in PostgreSQL", () => {
  it("a sync's copy writes its event with the same columns", async () => {
    const dir = workDir({ "a.txt": "alpha" }, ARCHIVE);
    const url = await freshCatalogUrl("postgres", dir);
    const synced = await strata(["--catalog", url, "sync", "scratch", "archive"], { cwd: dir });
    expect(synced.stderr).toBe("");
    expect(synced.code).toBe(0);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query(
        `SELECT e.kind, f.path, l.name AS location, t.name AS target, e.bytes, e.policy, e.host, e."user", e.outcome,
           e.run_id = (SELECT max(id) FROM runs) AS latest_run
         FROM events e JOIN files f ON f.id = e.file_id JOIN locations l ON l.id = e.location_id
         LEFT JOIN locations t ON t.id = e.target_location_id`,
      );
      // A bigint reads as a string or a number, as node-postgres is set up: the value is what counts.
      expect(rows.map((r) => ({ ...r, bytes: Number(r.bytes) }))).toEqual([
        {
          kind: "copy",
          path: "a.txt",
          location: "scratch",
          target: "archive",
          bytes: 5,
          policy: null,
          host: hostname(),
          user: userInfo().username,
          outcome: "done",
          latest_run: true,
        },
      ]);
    } finally {
      await client.end();
    }
  });
});
