import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { Cron } from "croner";
import { describe, expect, it, vitest } from "vitest";
import { parse as parseYaml } from "yaml";
import { type CatalogDb, openCatalog } from "../../src/catalog/db.js";
import { acquireLease, currentLease, releaseLease, renewLease } from "../../src/catalog/locks.js";
import { type Job, Scheduler, type SchedulerEvent } from "../../src/engine/scheduler.js";
import { parseStrataConfig as parseConfigFile } from "../../src/policy/config.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { finished, spawnStrata, strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { randomTree } from "../support/trees.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));

interface Interval {
  holder: string;
  start: number;
  end: number;
}

/** Runs of one job that overlapped in time: each must end before the next one starts. */
function overlaps(intervals: Interval[]): [Interval, Interval][] {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  return sorted.slice(1).flatMap((next, i) => {
    const previous = sorted[i] as Interval;
    return next.start < previous.end ? [[previous, next] as [Interval, Interval]] : [];
  });
}

/** A job that records when it ran, taking `ms` (or until its signal says stop). */
function recordingJob(name: string, holder: string, intervals: Interval[], ms: number, schedule?: string): Job {
  return {
    name,
    ...(schedule ? { schedule } : {}),
    async run(signal) {
      const start = Date.now();
      await sleep(ms, undefined, { signal }).catch(() => undefined);
      intervals.push({ holder, start, end: Date.now() });
      return { summary: `ran for ${Date.now() - start} ms`, failed: false };
    },
  };
}

async function twoConnections(url: string): Promise<[CatalogDb, CatalogDb]> {
  return [await openCatalog(url), await openCatalog(url)];
}

/**
 * One daemon's scheduler in its own process: waits for "go" on stdin, then tries `attempts` runs
 * of one job, each recording its interval in a file both processes append to.
 */
const DAEMON_SCRIPT = `
import { appendFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { openCatalog } from ${JSON.stringify(join(REPO, "src/catalog/db.ts"))};
import { Scheduler } from ${JSON.stringify(join(REPO, "src/engine/scheduler.ts"))};

const [url, holder, record, attempts] = process.argv.slice(2);
const catalog = await openCatalog(url);
const scheduler = new Scheduler({ catalog, holder, leaseMs: 10_000, onEvent: () => {} });
const job = {
  name: "nightly",
  async run() {
    const start = Date.now();
    await sleep(3 + Math.random() * 12);
    appendFileSync(record, JSON.stringify({ holder, start, end: Date.now() }) + "\\n");
    return { summary: "", failed: false };
  },
};
const outcomes = { done: 0, failed: 0, skipped: 0 };
process.stdout.write("ready\\n");
await new Promise((resolve) => createInterface({ input: process.stdin }).once("line", resolve));
for (let i = 0; i < Number(attempts); i++) {
  outcomes[await scheduler.runOnce(job)] += 1;
  await sleep(Math.random() * 4);
}
await catalog.close();
process.stdout.write(JSON.stringify(outcomes) + "\\n");
`;

interface Outcomes {
  done: number;
  failed: number;
  skipped: number;
}

/** Starts the script as a real process; resolves once it is connected and waiting for "go". */
async function startDaemonProcess(script: string, args: string[]) {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: REPO,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const iterator = lines[Symbol.asyncIterator]();
  const first = await iterator.next();
  expect(first.value).toBe("ready");
  return {
    go: () => child.stdin.write("go\n"),
    outcomes: async (): Promise<Outcomes> => JSON.parse((await iterator.next()).value as string),
  };
}

describe.each(CATALOG_KINDS)("policy leases on %s", (kind) => {
  it("one holder at a time, renewed only by its holder, taken over once expired, released by its holder", async () => {
    const [a, b] = await twoConnections(await freshCatalogUrl(kind, tempDir()));
    try {
      expect(await acquireLease(a, "nightly", "A", 400)).toBe(true);
      expect(await acquireLease(b, "nightly", "B", 400)).toBe(false);
      expect(await acquireLease(a, "nightly", "A", 400)).toBe(false); // not re-entrant
      expect(await acquireLease(b, "weekly", "B", 60_000)).toBe(true); // one lease per policy
      expect(await renewLease(b, "nightly", "B", 400)).toBe(false);

      // Renewed before it expires: still A's after longer than one lease.
      await sleep(250);
      expect(await renewLease(a, "nightly", "A", 400)).toBe(true);
      await sleep(250);
      expect(await acquireLease(b, "nightly", "B", 400)).toBe(false);

      // Not renewed: B takes it over, and A can neither renew nor release it.
      await sleep(500);
      expect(await acquireLease(b, "nightly", "B", 60_000)).toBe(true);
      expect(await renewLease(a, "nightly", "A", 400)).toBe(false);
      await releaseLease(a, "nightly", "A");
      expect((await currentLease(a, "nightly"))?.holder).toBe("B");

      await releaseLease(b, "nightly", "B");
      expect(await currentLease(a, "nightly")).toBeUndefined();
      expect(await acquireLease(a, "nightly", "A", 400)).toBe(true);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("two daemon processes never run one policy at the same time, and both get runs", async () => {
    const dir = tempDir();
    const url = await freshCatalogUrl(kind, dir);
    await (await openCatalog(url)).close(); // migrated once, before the daemons race
    const script = join(dir, "daemon.mts");
    const record = join(dir, "intervals.jsonl");
    writeFileSync(script, DAEMON_SCRIPT);
    writeFileSync(record, "");
    const attempts = 60;
    const daemons = await Promise.all(
      ["d1", "d2"].map((h) => startDaemonProcess(script, [url, h, record, `${attempts}`])),
    );
    for (const d of daemons) d.go();
    const outcomes = await Promise.all(daemons.map((d) => d.outcomes()));

    const intervals: Interval[] = readFileSync(record, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    const done = outcomes.reduce((n, o) => n + o.done, 0);
    const skipped = outcomes.reduce((n, o) => n + o.skipped, 0);
    console.log(`${kind}: ${done} runs, ${skipped} skipped for a held lease, of ${2 * attempts} attempts`);
    expect(overlaps(intervals)).toEqual([]);
    expect(outcomes.every((o) => o.failed === 0)).toBe(true);
    expect(intervals.length).toBe(done);
    expect(done + skipped).toBe(2 * attempts);
    expect(skipped).toBeGreaterThan(0); // they did contend
    expect(new Set(intervals.map((i) => i.holder))).toEqual(new Set(["d1", "d2"]));
  });

  it("a lease left by a dead daemon is taken over once expired; a run whose lease is taken over is stopped", async () => {
    const [a, b] = await twoConnections(await freshCatalogUrl(kind, tempDir()));
    const events: SchedulerEvent[] = [];
    const scheduler = new Scheduler({ catalog: a, holder: "A", leaseMs: 300, onEvent: (e) => events.push(e) });
    const intervals: Interval[] = [];
    try {
      // A daemon that died mid-run: its lease is still in the table, and not yet expired.
      await b.db
        .insertInto("policy_locks")
        .values({ policy: "nightly", holder: "ghost:1", acquired_at: Date.now(), expires_at: Date.now() + 400 })
        .execute();
      expect(await scheduler.runOnce(recordingJob("nightly", "A", intervals, 10))).toBe("skipped");
      expect(events.at(-1)).toMatchObject({ kind: "skipped", reason: expect.stringMatching(/held by ghost:1 until/) });
      await sleep(600);
      expect(await scheduler.runOnce(recordingJob("nightly", "A", intervals, 10))).toBe("done");
      expect(intervals).toHaveLength(1);
      expect(await currentLease(b, "nightly")).toBeUndefined();

      // Another daemon takes the lease while A works (A stalled past expiry): A's run is told to stop.
      const run = scheduler.runOnce(recordingJob("nightly", "A", intervals, 30_000));
      await sleep(150);
      await b.db.updateTable("policy_locks").set({ holder: "B" }).where("policy", "=", "nightly").execute();
      const started = Date.now();
      expect(await run).toBe("done");
      expect(Date.now() - started).toBeLessThan(1000);
      expect(events.map((e) => e.kind)).toContain("lease-lost");
      expect((await currentLease(b, "nightly"))?.holder).toBe("B"); // A's release left B's lease alone
    } finally {
      await scheduler.stop();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("runs on the cron schedule; two schedulers on one catalog skip while the other runs", async () => {
    const [a, b] = await twoConnections(await freshCatalogUrl(kind, tempDir()));
    const intervals: Interval[] = [];
    const events: SchedulerEvent[] = [];
    const daemons = (["A", "B"] as const).map((holder) => {
      const scheduler = new Scheduler({
        catalog: holder === "A" ? a : b,
        holder,
        leaseMs: 5000,
        onEvent: (e) => events.push(e),
      });
      scheduler.start([recordingJob("nightly", holder, intervals, 1300, "* * * * * *")]);
      return scheduler;
    });
    try {
      await sleep(3500);
    } finally {
      await Promise.all(daemons.map((d) => d.stop()));
      await Promise.all([a.close(), b.close()]);
    }
    const count = (kind: SchedulerEvent["kind"]) => events.filter((e) => e.kind === kind).length;
    expect(count("scheduled")).toBe(2);
    expect(intervals.length).toBeGreaterThanOrEqual(2);
    expect(count("started")).toBe(intervals.length);
    expect(count("skipped")).toBeGreaterThanOrEqual(intervals.length);
    expect(overlaps(intervals)).toEqual([]);
  });
});

/** One value from the daemon's SQLite catalog, read beside it as an operator would. */
function query(catalogFile: string, sql: string): unknown[] {
  const db = new Database(catalogFile, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .trim()
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line));
}

const DAEMON_CONFIG = `
catalog: catalog.db
locations:
  scratch: { url: ./scratch }
  archive: { url: "local:store" }
defaults: { transfers: 1 }
policies:
  - name: nightly
    from: [scratch]
    place: [{ to: archive }]
    schedule: "* * * * * *"
  - name: by-hand
    from: [scratch]
    match: { path: ["nothing/**"] }
    place: [{ to: archive }]
`;

describe("strata daemon, the real process", () => {
  it("a second daemon skips the policy the first is running; SIGTERM mid-run exits 0, lease released, run journaled", async () => {
    const work = tempDir();
    const files = Object.keys(randomTree(join(work, "scratch"), 2000, 64 * 1024)).length;
    writeFileSync(join(work, "strata.yaml"), DAEMON_CONFIG);
    const catalog = join(work, "catalog.db");
    const first = spawnStrata(["--json", "daemon", "--policy", "nightly"], { cwd: work });
    const firstDone = finished(first);

    // Wait until its run of nightly is under way: scanned, journaled, some copies done.
    const copying = () => {
      try {
        return query(catalog, "SELECT 1 FROM actions WHERE state = 'done' LIMIT 1").length > 0;
      } catch {
        return false; // not created yet, or its tables not yet
      }
    };
    await vitest.waitUntil(copying, { timeout: 30_000, interval: 20 });
    const second = await strata(["--json", "daemon", "--once", "--policy", "nightly"], { cwd: work });
    expect(second.stderr).toBe("");
    expect(second.code).toBe(0);
    const secondEvents = jsonLines(second.stdout);
    expect(secondEvents).toContainEqual(
      expect.objectContaining({
        event: "skipped",
        job: "nightly",
        reason: expect.stringMatching(new RegExp(`held by [^ ]+:${first.pid} until`)),
      }),
    );
    expect(secondEvents.filter((e) => e.event === "started")).toEqual([]);

    expect(query(catalog, "SELECT status FROM runs")).toEqual([{ status: "running" }]); // still mid-run
    first.kill("SIGTERM");
    const stopped = await firstDone;
    expect(stopped.code).toBe(0);
    const events = jsonLines(stopped.stdout);
    const run = events.find((e) => e.event === "finished" && e.job === "nightly");
    expect(run?.summary).toMatch(/^run 1: copy [\d,]+ files .*; stopped with [\d,]+ actions not begun$/);
    expect(events.at(-1)).toMatchObject({ event: "note", message: "stopped; leases released" });

    expect(query(catalog, "SELECT * FROM policy_locks")).toEqual([]);
    expect(query(catalog, "SELECT status FROM runs")).toEqual([{ status: "partial" }]);
    expect(query(catalog, "SELECT count(*) AS n FROM actions WHERE state = 'pending'")).toEqual([{ n: 0 }]);
    const [copied] = query(catalog, "SELECT count(*) AS n FROM actions WHERE state = 'done'") as { n: number }[];
    console.log(`SIGTERM after ${copied?.n} of ${files} copies`);
    expect(copied?.n).toBeGreaterThan(0);
    expect(copied?.n).toBeLessThan(files);
  });

  it("names a bad --policy, a scheduled run with no schedule, and a short --lease; exit 2, nothing run", async () => {
    const work = tempDir();
    writeFileSync(join(work, "strata.yaml"), DAEMON_CONFIG);
    const unknown = await strata(["daemon", "--once", "--policy", "nope"], { cwd: work });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe("strata: --policy nope: no such policy (known: nightly, by-hand)\n");
    const unscheduled = await strata(["daemon", "--policy", "by-hand"], { cwd: work });
    expect(unscheduled.code).toBe(2);
    expect(unscheduled.stderr).toMatch(/no schedule on by-hand: add schedule:/);
    const lease = await strata(["daemon", "--lease", "1s"], { cwd: work });
    expect(lease.code).toBe(2);
    expect(lease.stderr).toBe("strata: --lease must be at least 3s\n");
    // Refused, so nothing ran and nothing was written: not even a catalog.
    expect(existsSync(join(work, "catalog.db"))).toBe(false);
  });
});

const DEPLOY = join(REPO, "deploy");

type Manifest = {
  spec: Record<string, unknown> & {
    jobTemplate?: { spec: { template: PodTemplate } };
    template?: PodTemplate;
  };
};
type Container = { args?: string[]; command?: string[]; env?: { name: string; value: string }[] };
type PodTemplate = { spec: { initContainers: Container[]; containers: Container[] } };

function manifest(path: string): Manifest {
  return parseYaml(readFileSync(join(DEPLOY, path), "utf8"));
}

/** Runs a manifest's render-config init container script as the pod would, with its env. */
function renderConfig(pod: PodTemplate, out: string, env: Record<string, string | undefined> = {}) {
  const init = pod.spec.initContainers[0] as Container;
  const manifestEnv = Object.fromEntries((init.env ?? []).map((e) => [e.name, e.value]));
  return spawnSync(process.execPath, ["-e", init.args?.[0] as string], {
    env: {
      PATH: process.env.PATH,
      ...manifestEnv,
      TEMPLATE: join(DEPLOY, "kubernetes/base/strata.yaml"),
      RENDERED: out,
      ...env,
    },
    encoding: "utf8",
  });
}

describe("deploy/", () => {
  it("the Kubernetes config, rendered as the init container does, and the hosts' config both load", () => {
    const cronJob = manifest("kubernetes/cronjob/cronjob.yaml");
    const deployment = manifest("kubernetes/daemon/deployment.yaml");
    const jobPod = cronJob.spec.jobTemplate?.spec.template as PodTemplate;
    const daemonPod = deployment.spec.template as PodTemplate;
    expect(cronJob.spec).toMatchObject({ schedule: "0 2 * * *", concurrencyPolicy: "Forbid" });
    expect(jobPod.spec.containers[0]?.args).toEqual(["daemon", "--once"]);
    expect(daemonPod.spec.containers[0]?.args).toEqual(["daemon"]);
    expect(daemonPod.spec.initContainers).toEqual(jobPod.spec.initContainers);

    const rendered = join(tempDir(), "strata.yaml");
    const render = renderConfig(jobPod, rendered);
    expect(render.stderr).toBe("");
    expect(render.status).toBe(0);
    const k8s = parseConfigFile(rendered);
    expect(k8s.locations.archive?.url).toBe("s3://hpc-archive-bucket/scratch");
    expect(k8s.policies.map((p) => [p.name, p.schedule, p.enabled])).toEqual([
      ["scratch-lifecycle", "0 2 * * *", true],
    ]);

    const unset = join(tempDir(), "strata.yaml");
    const refused = renderConfig(jobPod, unset, { CLOUD_BUCKET: undefined });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toBe("render-config: CLOUD_BUCKET is not set\n");
    expect(existsSync(unset)).toBe(false);

    const hosts = parseConfigFile(join(DEPLOY, "strata.yaml"));
    expect(hosts.catalog).toMatch(/^postgres:\/\//);
    expect(hosts.policies).toEqual(k8s.policies);
  });

  it("the Slurm batch script is valid bash and the scrontab line a valid schedule", () => {
    const check = spawnSync("bash", ["-n", join(DEPLOY, "slurm/strata-lifecycle.sbatch")], { encoding: "utf8" });
    expect(check.stderr).toBe("");
    expect(check.status).toBe(0);
    const lines = readFileSync(join(DEPLOY, "slurm/scrontab"), "utf8")
      .split("\n")
      .filter((line) => line !== "" && !line.startsWith("#"));
    expect(lines).toHaveLength(1);
    const fields = (lines[0] as string).split(/\s+/);
    expect(new Cron(fields.slice(0, 5).join(" ")).nextRun()?.getHours()).toBe(2);
    expect(fields.slice(5)).toEqual(["exec", "/opt/strata/strata-lifecycle.sbatch"]);
  });
});
