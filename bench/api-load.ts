/**
 * The HTTP API under load (issue 14): a synthetic catalog of N files (1,000,000 by default) with
 * a history of runs, served by the built CLI's `strata serve` as users run it. autocannon's 50
 * connections issue 10,000 reads, a third each: du of a project or of a user's directory one
 * level deep, the runs list or one run, and a selective find, each request with other parameters (a random project,
 * run, user and size). Then `/metrics` is timed alone, scrape after scrape. The figures go to
 * bench/RESULTS.md between `<!-- api-load -->` markers.
 *
 *   node --import tsx bench/api-load.ts [--files 1000000] [--db sqlite,postgres]
 *        [--connections 50] [--requests 10000] [--scrapes 50] [--workers 2] [--tmp DIR] [--seed 1]
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import SQLite from "better-sqlite3";
import pg from "pg";
import { startPostgres } from "../test/support/postgres-server.js";
import { loadCatalog } from "./lib/catalog-loader.js";
import { replaceSection } from "./lib/results-section.js";
import { GENERATED_NOW_US, LOCATIONS } from "./lib/synthetic-catalog.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const strata = join(repo, "bin", "strata.js");

const { values } = parseArgs({
  options: {
    files: { type: "string", default: "1000000" },
    db: { type: "string", default: "sqlite,postgres" },
    connections: { type: "string", default: "50" },
    requests: { type: "string", default: "10000" },
    scrapes: { type: "string", default: "50" },
    workers: { type: "string", default: "2" },
    tmp: { type: "string", default: process.env.TMPDIR ?? tmpdir() },
    seed: { type: "string", default: "1" },
    results: { type: "string", default: join(repo, "bench", "RESULTS.md") },
  },
});

const FILES = Number(values.files);
const CONNECTIONS = Number(values.connections);
const REQUESTS = Number(values.requests);
const SCRAPES = Number(values.scrapes);
/** The run history the runs endpoints read: as many runs as a year of nightly policies and syncs. */
const RUNS = 2000;
const ACTIONS_PER_RUN = 50;
const P99_LIMIT_MS = 200;
const METRICS_LIMIT_MS = 100;

interface Figures {
  db: string;
  files: number;
  load: { total: number; p50: number; p90: number; p99: number; max: number; rps: number; errors: number };
  byKind: Record<string, { count: number; p99: number }>;
  metrics: { first: number; p50: number; p99: number; max: number };
}

/** A run history: runs of policies and syncs with their actions, as the journal keeps them. */
async function addRunHistory(url: string, dialect: "sqlite" | "postgres", fileRows: number): Promise<void> {
  const runs: unknown[][] = [];
  const actions: unknown[][] = [];
  const dayMs = 86_400_000;
  const nowMs = GENERATED_NOW_US / 1000;
  for (let r = 1; r <= RUNS; r++) {
    const started = nowMs - (RUNS - r) * (dayMs / 6);
    const status = r % 17 === 0 ? "partial" : "done";
    const command = r % 3 === 0 ? "sync scratch archive" : "apply scratch-lifecycle";
    runs.push([r, command, "node7", 4000 + r, started, started + 600_000, status, null, "{}"]);
    for (let a = 0; a < ACTIONS_PER_RUN; a++) {
      const state = status === "partial" && a === 0 ? "failed" : "done";
      actions.push([
        r,
        "copy",
        1 + ((r * ACTIONS_PER_RUN + a) % fileRows),
        1,
        2,
        `proj0000/f${a}`,
        4096,
        state,
        1,
        null,
        null,
        started,
      ]);
    }
  }
  const runColumns = "id, command, host, pid, started_at, finished_at, status, stop_requested_at, summary";
  const actionColumns =
    "run_id, kind, file_id, source_location_id, target_location_id, key, bytes, state, attempts, error, progress, updated_at";
  if (dialect === "sqlite") {
    const db = new SQLite(url);
    const insertRun = db.prepare(`INSERT INTO runs (${runColumns}) VALUES (${runColumns.replace(/\w+/g, "?")})`);
    const insertAction = db.prepare(
      `INSERT INTO actions (${actionColumns}) VALUES (${actionColumns.replace(/\w+/g, "?")})`,
    );
    db.transaction(() => {
      for (const row of runs) insertRun.run(...row);
      for (const row of actions) insertAction.run(...row);
    })();
    db.close();
    return;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const insert = async (table: string, columns: string, rows: unknown[][]) => {
      const width = columns.split(",").length;
      for (let i = 0; i < rows.length; i += 1000) {
        const chunk = rows.slice(i, i + 1000);
        const placeholders = chunk.map((_, k) => `(${columns.split(",").map((__, c) => `$${k * width + c + 1}`)})`);
        await client.query(`INSERT INTO ${table} (${columns}) VALUES ${placeholders.join(",")}`, chunk.flat());
      }
    };
    await insert("runs", runColumns, runs);
    await insert("actions", actionColumns, actions);
    await client.query("SELECT setval(pg_get_serial_sequence('runs', 'id'), (SELECT max(id) FROM runs))");
    await client.query("ANALYZE runs; ANALYZE actions");
  } finally {
    await client.end();
  }
}

/** A config naming the synthetic catalog's locations, so cost and metrics price them. */
function writeConfig(dir: string, url: string): string {
  const path = join(dir, "strata.yaml");
  const lines = [`catalog: ${JSON.stringify(url)}`, "locations:"];
  for (const l of LOCATIONS) {
    lines.push(`  ${l.name}:`, `    url: ${JSON.stringify(l.url)}`);
  }
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

function cli(config: string, args: string[], cwd: string): string {
  const result = spawnSync(process.execPath, [strata, "--config", config, ...args], { cwd, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`strata ${args.join(" ")} exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}

/** `strata serve` on a free port; resolves with its base URL once it listens. */
function serve(config: string, cwd: string): Promise<{ child: ChildProcess; base: string }> {
  const argv = [strata, "--config", config, "serve", "--listen", "127.0.0.1:0", "--workers", values.workers];
  const child = spawn(process.execPath, argv, {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolvePromise, reject) => {
    let output = "";
    const look = (chunk: Buffer) => {
      output += chunk.toString();
      const base = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
      if (base) {
        // The request log goes on stdout: drained, never kept.
        child.stdout?.removeAllListeners("data");
        child.stdout?.resume();
        resolvePromise({ child, base });
      }
    };
    child.stdout?.on("data", look);
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("exit", (code) => reject(new Error(`strata serve exited ${code}: ${output}`)));
  });
}

/** Small deterministic choices for each request, so two runs ask the same questions. */
function chooser(seed: number) {
  let state = seed >>> 0 || 1;
  return (n: number) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
}

/** Projects, their users' directories and heavy users of the loaded catalog, to aim the queries at real rows. */
function queryTargets(config: string, cwd: string): Targets {
  const rows = (args: string[]) =>
    (JSON.parse(cli(config, ["--json", "du", ...args], cwd)) as { rows: { name: string }[] }).rows;
  const dirs = rows(["scratch", "-d", "2"]).map((r) => r.name.replace(/^scratch:/, ""));
  const projects = dirs.filter((p) => /^proj\d{4}$/.test(p));
  const userDirs = dirs.filter((p) => /^proj\d{4}\/[^/]+$/.test(p));
  const users = rows(["scratch", "--by", "owner", "--top", "20"])
    .map((r) => Number(r.name))
    .filter((u) => Number.isInteger(u));
  if (projects.length === 0 || userDirs.length === 0 || users.length === 0) {
    throw new Error("the catalog has no projects, user directories or owners to ask about");
  }
  return { projects, userDirs, users };
}

interface Targets {
  projects: string[];
  userDirs: string[];
  users: number[];
}

async function loadTest(base: string, token: string, targets: Targets) {
  const pick = chooser(Number(values.seed));
  const kinds = ["du", "runs", "find"] as const;
  const latencies: Record<string, number[]> = { du: [], runs: [], find: [] };
  const sizes = ["+1G", "+4G", "+10G"];
  const ages = ["+30", "+180", "+365"];
  const pathOf = (kind: (typeof kinds)[number]): string => {
    if (kind === "du") {
      // A project's total (one row), or a user's directory with its runs (one level).
      if (pick(2) === 0) return `/api/v1/du?location=scratch&path=${targets.projects[pick(targets.projects.length)]}`;
      return `/api/v1/du?location=scratch&path=${targets.userDirs[pick(targets.userDirs.length)]}&depth=1`;
    }
    if (kind === "runs") return pick(2) === 0 ? "/api/v1/runs?limit=50" : `/api/v1/runs/${1 + pick(RUNS)}`;
    const user = targets.users[pick(targets.users.length)];
    const expr = `scratch -user ${user} -size ${sizes[pick(3)]} -atime ${ages[pick(3)]}`;
    return `/api/v1/find?expr=${encodeURIComponent(expr)}&limit=100`;
  };
  const sent = new Map<unknown, { kind: string; at: bigint }[]>();
  let next = 0;
  const result = await autocannon({
    url: base,
    connections: CONNECTIONS,
    amount: REQUESTS,
    headers: { authorization: `Bearer ${token}` },
    requests: [
      {
        setupRequest: (request, context) => {
          const kind = kinds[next++ % kinds.length] as (typeof kinds)[number];
          const queue = sent.get(context) ?? [];
          queue.push({ kind, at: process.hrtime.bigint() });
          sent.set(context, queue);
          return { ...request, path: pathOf(kind) };
        },
        onResponse: (status, _body, context) => {
          const asked = sent.get(context)?.shift();
          if (!asked || status !== 200) return;
          latencies[asked.kind]?.push(Number(process.hrtime.bigint() - asked.at) / 1e6);
        },
      },
    ],
  });
  const byKind = Object.fromEntries(
    Object.entries(latencies).map(([kind, ms]) => [kind, { count: ms.length, p99: percentile(ms, 0.99) }]),
  );
  const errors = result.errors + result.timeouts + result.non2xx;
  return {
    load: {
      total: result.requests.total,
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
      rps: result.requests.average,
      errors,
    },
    byKind,
  };
}

async function timeMetrics(base: string, token: string) {
  const scrape = async () => {
    const started = process.hrtime.bigint();
    const response = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    await response.text();
    if (response.status !== 200) throw new Error(`/metrics answered ${response.status}`);
    return Number(process.hrtime.bigint() - started) / 1e6;
  };
  const first = await scrape();
  const times: number[] = [];
  for (let i = 0; i < SCRAPES; i++) times.push(await scrape());
  return { first, p50: percentile(times, 0.5), p99: percentile(times, 0.99), max: Math.max(...times) };
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number;
}

async function measure(db: string, url: string, dialect: "sqlite" | "postgres", work: string): Promise<Figures> {
  console.error(`${db}: loading ${FILES.toLocaleString("en-US")} files…`);
  const loaded = await loadCatalog(url, { files: FILES, secondReplicaShare: 0.2, seed: Number(values.seed) }, true);
  await addRunHistory(url, dialect, loaded.files);
  const config = writeConfig(work, url);
  const made = cli(config, ["--json", "token", "create", "--role", "read", "--name", "bench"], work);
  const { token } = JSON.parse(made) as { token: string };
  const targets = queryTargets(config, work);
  const { child, base } = await serve(config, work);
  try {
    console.error(`${db}: serving at ${base}; timing /metrics, then the load`);
    const metrics = await timeMetrics(base, token);
    const { load, byKind } = await loadTest(base, token, targets);
    return { db, files: loaded.files, load, byKind, metrics };
  } finally {
    child.kill("SIGTERM");
  }
}

function section(figures: Figures[]): string {
  const ms = (n: number) => `${n.toFixed(n < 10 ? 1 : 0)} ms`;
  const met = (value: number, limit: number) => (value < limit ? "met" : "NOT met");
  const lines = [
    "## The HTTP API under load (issue 14)",
    "",
    `Run ${new Date().toISOString()} with \`node --import tsx bench/api-load.ts --files ${FILES}\` (bench/api-load.ts):`,
    "a synthetic catalog (bench/lib/synthetic-catalog.ts) with a history of",
    `${RUNS.toLocaleString("en-US")} runs of ${ACTIONS_PER_RUN} actions, served by the built CLI's`,
    `\`strata serve --workers ${values.workers}\`;`,
    `autocannon's ${CONNECTIONS} connections send ${REQUESTS.toLocaleString("en-US")} reads with a read token, in turn:`,
    "`du` of a random project (its total) or of a random user's directory one level deep (its runs),",
    "the runs list or a random run, and a selective",
    "`find` (a heavy user's files over 1, 4 or 10 GiB not read for 30, 180 or 365 days, 100 at most).",
    `Then \`/metrics\` is scraped ${SCRAPES} times in a row, after a first scrape that prices the catalog.`,
    "Same 2-core machine; the load tool runs on it too.",
    "",
    "| catalog | files | reads | errors | reads/s | p50 | p90 | p99 (limit 200 ms) | du p99 | runs p99 | find p99 | /metrics first | /metrics p50 | /metrics p99 (limit 100 ms) |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const f of figures) {
    const kind = (k: string) => ms(f.byKind[k]?.p99 ?? Number.NaN);
    lines.push(
      `| ${f.db} | ${f.files.toLocaleString("en-US")} | ${f.load.total.toLocaleString("en-US")} | ${f.load.errors} | ` +
        `${Math.round(f.load.rps)} | ${ms(f.load.p50)} | ${ms(f.load.p90)} | ` +
        `**${ms(f.load.p99)}** ${met(f.load.p99, P99_LIMIT_MS)} | ${kind("du")} | ${kind("runs")} | ${kind("find")} | ` +
        `${ms(f.metrics.first)} | ${ms(f.metrics.p50)} | **${ms(f.metrics.p99)}** ${met(f.metrics.p99, METRICS_LIMIT_MS)} |`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(values.tmp, "strata-api-load-"));
  const figures: Figures[] = [];
  try {
    const dbs = values.db.split(",");
    if (dbs.includes("sqlite")) {
      figures.push(await measure("SQLite", join(work, "catalog.db"), "sqlite", work));
    }
    if (dbs.includes("postgres")) {
      // A cache in proportion to the machine, as bench/catalog-scale.ts gives it.
      const server = await startPostgres(["shared_buffers=2GB", "effective_cache_size=8GB", "work_mem=64MB"]);
      try {
        const admin = new pg.Client({ connectionString: server.url });
        await admin.connect();
        await admin.query("CREATE DATABASE strata_api_load");
        await admin.end();
        const url = server.url.replace(/\/postgres$/, "/strata_api_load");
        figures.push(await measure("PostgreSQL 15", url, "postgres", work));
      } finally {
        server.stop();
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const text = section(figures);
  console.log(text);
  writeFileSync(values.results, replaceSection(readFileSync(values.results, "utf8"), "api-load", text));
}

await main();
