/**
 * Issue 16's floors: what the same jobs cost when nothing but Node (or SQLite) does them, run
 * on one throwaway Ceph RGW beside Strata's own, so that a target Strata misses can be set
 * against the least this runtime needs for it. Measured, one after the other:
 *   - Strata's upload and download of the main tree (50,000 mixed files), then bench/floors'
 *     bare uploader (files read whole, then streamed) and downloader over undici, unsigned;
 *   - `find -printf`, Strata's first scan of the scan tree (1,000,000 entries), and the bare
 *     SQLite writes of that tree's rows and name trigrams (bench/floors/catalog-rows.mjs),
 *     those three `--scan-runs` times, alternating.
 * Writes each step's figures between `<!-- floors-transfers -->` or `<!-- floors-scan -->` markers
 * in bench/RESULTS.md. See bench/README.md.
 *
 *   node --import tsx bench/floors.ts [--quick] [--files 50000] [--scan-files 1000000]
 *        [--tree DIR] [--scan-tree DIR] [--in-flight 16] [--scan-runs 3] [--only transfers,scan] [--tmp DIR]
 *        [--results bench/RESULTS.md]
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Cleanups } from "./lib/cleanup.js";
import { type Command, type Measurement, measure } from "./lib/measure.js";
import { wholeNumber } from "./lib/options.js";
import { replaceSection } from "./lib/results-section.js";
import { awsExecutable, BenchRgw, ensureBuilt, loadAverage, machine, memstoreBytes } from "./lib/setup.js";
import { Store } from "./lib/store.js";
import { Tools } from "./lib/tools.js";
import { generate, listFiles, mainTreeArgs, readIntoCache, scanTreeArgs } from "./lib/trees.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const log = (line: string) => process.stdout.write(`${line}\n`);
const cleanups = new Cleanups(log);
const BUCKET = "floors";
const TIMEOUT_MS = 3600_000;
// The scan needs no store: its config names none.
const NO_CREDENTIALS = { accessKeyId: "none", secretAccessKey: "none" };

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    files: { type: "string" },
    "scan-files": { type: "string" },
    tree: { type: "string" },
    "scan-tree": { type: "string" },
    "in-flight": { type: "string", default: "16" },
    "scan-runs": { type: "string", default: "3" },
    only: { type: "string", default: "transfers,scan" },
    tmp: { type: "string", default: process.env.TMPDIR ?? tmpdir() },
    results: { type: "string", default: join(repo, "bench", "RESULTS.md") },
  },
});
const options = {
  files: wholeNumber("--files", values.files ?? (values.quick ? "2000" : "50000"), 1),
  scanFiles: wholeNumber("--scan-files", values["scan-files"] ?? (values.quick ? "20000" : "1000000"), 1),
  inFlight: wholeNumber("--in-flight", values["in-flight"], 1),
  scanRuns: wholeNumber("--scan-runs", values["scan-runs"], 1),
  only: new Set(values.only.split(",")),
};
for (const step of options.only) {
  if (step !== "transfers" && step !== "scan") throw new Error(`--only ${step}: expected transfers, scan or both`);
}

interface Row {
  what: string;
  m: Measurement;
  /** The writes alone, where the program reports them (catalog-rows.mjs). */
  innerMs?: number;
}

async function main(): Promise<void> {
  ensureBuilt(repo, log);
  const work = mkdtempSync(join(values.tmp, "strata-floors-"));
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  if (options.only.has("transfers")) {
    const tree = values.tree ?? generate(repo, join(work, "main"), mainTreeArgs(options.files)).dir;
    const rows = await transferFloors(work, tree);
    record("floors-transfers", `${options.files} files of the main tree, ${options.inFlight} requests in flight`, rows);
  }
  if (options.only.has("scan")) {
    const tree = values["scan-tree"] ?? generate(repo, join(work, "scan"), scanTreeArgs(options.scanFiles)).dir;
    record("floors-scan", `the scan tree, ${options.scanFiles} entries`, await scanFloors(work, tree));
  }
}

/** One step's table, in its own section of the results file (a step run alone leaves the other's). */
function record(name: string, what: string, rows: Row[]): void {
  const text = section(rows, what);
  const results = existsSync(values.results) ? readFileSync(values.results, "utf8") : "";
  writeFileSync(values.results, replaceSection(results, name, text));
  log(`\n${text}\nwrote ${values.results}`);
}

/** Strata's upload and download of `tree`, then the floor programs', on one RGW emptied between them. */
async function transferFloors(work: string, tree: string): Promise<Row[]> {
  const rgw = await BenchRgw.start(memstoreBytes());
  cleanups.push(() => rgw.stop());
  const store = new Store(rgw.endpoint, rgw.credentials, rgw);
  cleanups.push(() => store.close());
  await store.createBucket(BUCKET);
  await store.allowAnonymous(BUCKET);
  const tools = new Tools({ repo, work, endpoint: rgw.endpoint, aws: awsExecutable(), ...rgw.credentials });
  const list = join(work, "main.list");
  writeFileSync(list, `${listFiles(tree).join("\n")}\n`);
  const inFlight = String(options.inFlight);
  const rows: Row[] = [];
  const upAndDown = async (label: string, up: Command, down: (dir: string) => Command | undefined) => {
    readIntoCache(tree);
    rows.push(await run(rgw.pids, `${label} upload`, up));
    const dir = join(work, `down-${label}`);
    mkdirSync(dir);
    const get = down(dir);
    if (get) rows.push(await run(rgw.pids, `${label} download`, get));
    rmSync(dir, { recursive: true, force: true });
    await store.purge(BUCKET, label);
  };
  const catalog = join(work, "strata.db");
  const strataAt = { bucket: BUCKET, prefix: "strata" };
  await upAndDown("strata", tools.sync("strata", { dir: tree }, strataAt, catalog, "strata-up"), (dir) =>
    tools.sync("strata", strataAt, { dir }, catalog, "strata-down"),
  );
  const endpoint = rgw.endpoint;
  await upAndDown(
    "floor",
    floor(work, "put-whole", "put.mjs", [endpoint, BUCKET, "floor", tree, list, inFlight, "whole"]),
    (dir) => floor(work, "get", "get.mjs", [endpoint, BUCKET, "floor", list, dir, inFlight]),
  );
  const streamed = [endpoint, BUCKET, "floor-stream", tree, list, inFlight, "stream"];
  await upAndDown("floor-stream", floor(work, "put-stream", "put.mjs", streamed), () => undefined);
  return rows;
}

/** `find`, Strata's first scan and the bare catalog writes of `tree`, alternating, each scan into a new catalog. */
async function scanFloors(work: string, tree: string): Promise<Row[]> {
  const tools = new Tools({ repo, work, endpoint: "http://127.0.0.1:1", aws: awsExecutable(), ...NO_CREDENTIALS });
  const entries = join(work, "scan.list");
  writeFileSync(entries, execFileSync("find", [tree, "-printf", "%P\\t%s\\t%T@\\n"], { maxBuffer: 2 ** 31 }));
  const rows: Row[] = [];
  // Alternating, as `find`'s time on this machine drifts between minutes.
  for (let round = 1; round <= options.scanRuns; round++) {
    rows.push(await run([], `find, run ${round}`, tools.find(tree, `find-${round}`)));
    const catalog = join(work, `scan-${round}.db`);
    rows.push(await run([], `strata scan, run ${round}`, tools.strataScan("strata", tree, catalog, `scan-${round}`)));
    const database = join(work, `rows-${round}.db`);
    const writes = floor(work, `rows-${round}`, "catalog-rows.mjs", [entries, database]);
    const row = await run([], `catalog rows, run ${round}`, writes);
    row.innerMs = (JSON.parse(readFileSync(writes.stdoutFile as string, "utf8")) as { ms: number }).ms;
    rows.push(row);
    for (const db of [catalog, database]) {
      for (const suffix of ["", "-wal", "-shm"]) rmSync(`${db}${suffix}`, { force: true });
    }
  }
  return rows;
}

/** Times one command; `serverPids` are the RGW's daemons, whose CPU the bench reports beside it. */
async function run(serverPids: number[], what: string, cmd: Command): Promise<Row> {
  log(`${what}: ${cmd.display}`);
  const m = await measure(cmd, TIMEOUT_MS, serverPids);
  if (m.exitCode !== 0) {
    throw new Error(`${what} exited ${m.exitCode}: ${readFileSync(cmd.stderrFile, "utf8").slice(-800)}`);
  }
  log(`  ${m.wallS.toFixed(1)} s, ${m.cpuS.toFixed(1)} s CPU, ${m.maxRssMB.toFixed(0)} MB`);
  return { what, m };
}

/** One of bench/floors' programs, its output kept (catalog-rows.mjs prints its writes' time). */
function floor(work: string, label: string, script: string, args: string[]): Command {
  return {
    argv: [process.execPath, join("bench", "floors", script), ...args],
    env: process.env,
    cwd: repo,
    stdoutFile: join(work, `${label}.out`),
    stderrFile: join(work, `${label}.err`),
    timeFile: join(work, `${label}.time`),
    display: `node bench/floors/${script} ${args.map((a) => a.replace(work, "$BENCH")).join(" ")}`,
  };
}

function section(rows: Row[], what: string): string {
  const { nproc, kernel } = machine();
  const lines = [
    `### Floors: ${what} (bench/floors.ts, ${new Date().toISOString().slice(0, 16)}Z)`,
    "",
    `\`node --import tsx bench/floors.ts ${process.argv.slice(2).join(" ")}\`; ${nproc} cores, Linux ${kernel}, ` +
      `load at the end ${loadAverage()}.`,
    "",
    "| job | wall s | client CPU s | peak RSS MB | SQLite writes s |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...rows.map(
      ({ what, m, innerMs }) =>
        `| ${what} | ${m.wallS.toFixed(2)} | ${m.cpuS.toFixed(2)} | ${m.maxRssMB.toFixed(0)} | ` +
        `${innerMs === undefined ? "" : (innerMs / 1000).toFixed(2)} |`,
    ),
  ];
  return lines.join("\n");
}

main().then(
  () => cleanups.run(),
  (err: unknown) => {
    log(`floors failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    cleanups.run();
    process.exitCode = 1;
  },
);
