/**
 * Strata, rclone and `aws s3 sync` side by side against one real S3 server (a throwaway Ceph
 * RGW), each workload run --runs times per tool with the tools alternating. Writes the medians,
 * Strata's ratios and the targets to bench/RESULTS.md. See bench/README.md.
 *
 *   node --import tsx bench/run.ts [--quick] [--files 50000] [--runs 3] [--big 2GiB]
 *        [--scan-files 1000000] [--only upload,noop,changed,download,big,scan] [--out FILE]
 *        [--baseline GIT-REV]
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { formatBytes } from "../src/config/units.js";
import { type Baseline, prepareBaseline } from "./lib/baseline.js";
import { Bench } from "./lib/bench.js";
import { Cleanups } from "./lib/cleanup.js";
import { killRunning } from "./lib/measure.js";
import { type BenchOptions, parseOptions, USAGE } from "./lib/options.js";
import { printSummary, type RunInfo, writeResults } from "./lib/results.js";
import {
  awsExecutable,
  BenchRgw,
  builtAt,
  ensureBuilt,
  installTools,
  loadAverage,
  machine,
  memstoreBytes,
  versions,
} from "./lib/setup.js";
import { Store } from "./lib/store.js";
import { SYNC_TOOLS, type SyncTool, Tools } from "./lib/tools.js";
import { bigTreeArgs, copyTree, generate, mainTreeArgs, scanTreeArgs, type Tree } from "./lib/trees.js";
import * as workloads from "./lib/workloads.js";

// The bench's own S3 client would print the SDK's Node 20 notice, as Strata's CLI does not.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const log = (line: string) => process.stdout.write(`${line}\n`);

const cleanups = new Cleanups(log);

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (!options) {
    log(USAGE);
    return 0;
  }
  const started = new Date();
  installTools(log);
  ensureBuilt(repo, log);
  const aws = awsExecutable();
  const work = mkdtempSync(join(options.tmpParent ?? tmpdir(), "strata-bench-"));
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  log(`temp dir ${work}`);
  const baseline = options.baseline
    ? timed(`baseline ${options.baseline}`, () => prepareBaseline(repo, options.baseline as string, work, log))
    : undefined;

  const info: RunInfo = {
    started,
    elapsedS: 0,
    commandLine: `node --import tsx bench/run.ts ${process.argv.slice(2).join(" ")}`.trim(),
    machine: machine(),
    versions: versions(repo, aws),
    order: "",
    memstoreBytes: 0,
    load: { start: loadAverage(), end: "" },
    strataYaml: "",
    rcloneConf: "",
    ...(baseline ? { baseline } : {}),
  };
  const wantsMain = (["upload", "noop", "changed", "download"] as const).some((w) => options.only.has(w));
  if (wantsMain)
    info.main = timed("main tree", () => generate(repo, join(work, "trees", "main"), mainTreeArgs(options.files)));

  const bench = await startBench(options, work, aws, info, baseline);
  if (info.main) await mainTreeWorkloads(bench, info.main, info);
  if (options.only.has("big")) await bigWorkload(bench, info);
  if (options.only.has("scan")) await scanWorkload(bench, info);

  info.elapsedS = (Date.now() - started.getTime()) / 1000;
  info.load.end = loadAverage();
  if (builtAt(repo) !== info.versions.built) {
    bench.note(`dist/ was rebuilt during the run (at ${builtAt(repo)}): later commands ran another build`);
  }
  printSummary(bench, info, log);
  writeResults(options.out, bench, info);
  log(`\nwrote ${options.out}`);
  return bench.notes.length > 0 ? 1 : 0;
}

/** Starts the RGW (sized for the trees), the bench's S3 client and the tools' configs. */
async function startBench(
  options: BenchOptions,
  work: string,
  aws: string,
  info: RunInfo,
  baseline: Baseline | undefined,
): Promise<Bench> {
  info.memstoreBytes = memstoreBytes();
  const rgw = await timedAsync("RGW start", () => BenchRgw.start(info.memstoreBytes));
  cleanups.push(() => rgw.stop());
  log(`RGW at ${rgw.endpoint}`);
  if (rgw.pids.length === 0) log("RGW daemons not found: the RGW CPU column will stay empty");
  const credentials = rgw.credentials;
  const store = new Store(rgw.endpoint, credentials, rgw);
  cleanups.push(() => store.close());
  const tools = new Tools({
    repo,
    work,
    endpoint: rgw.endpoint,
    aws,
    ...credentials,
    ...(baseline ? { baseline: { tool: baseline.tool, dir: baseline.dir } } : {}),
  });
  // The older build runs right after the current one, so both meet the machine in the same state.
  const syncTools = SYNC_TOOLS.flatMap((tool): SyncTool[] =>
    tool === "strata" && baseline ? [tool, baseline.tool] : [tool],
  );
  info.strataYaml = readFileSync(tools.strataConfig({ bucket: "upload-strata", prefix: "run-1" }), "utf8");
  info.rcloneConf = tools.rcloneConfigShown();
  const osdLog = (line: string) => {
    const rss = bench.osdRss();
    log(rss === undefined ? line : `${line}  [OSD RSS ${formatBytes(rss)}]`);
  };
  const bench: Bench = new Bench(options, repo, work, tools, syncTools, store, rgw, osdLog);
  await bench.makeBuckets();
  return bench;
}

/**
 * a), c), d), e). When the four tools' copies of the tree fit in the OSD together, the
 * re-sync workloads alternate the tools run by run, starting from the last upload of each; when
 * they do not, each tool syncs its own copy and does all its re-sync runs before the next tool.
 */
async function mainTreeWorkloads(bench: Bench, tree: Tree, info: RunInfo): Promise<void> {
  const only = bench.options.only;
  const resync = only.has("noop") || only.has("changed") || only.has("download");
  const interleaved = bench.syncTools.length * tree.bytes * 1.15 <= info.memstoreBytes;
  const eachFresh = "each large-file run on a freshly started RGW";
  info.order = interleaved
    ? `tools alternating in every workload; ${eachFresh}${resync ? "" : ", and each upload"}`
    : `tools alternating for upload, big and scan, ${eachFresh} and each upload; no-op, changed and ` +
      "download one tool at a time, each on a freshly started RGW " +
      `(${bench.syncTools.length} copies of the tree do not fit in the OSD's RAM)`;
  let kept = new Map<SyncTool, workloads.Synced>();
  if (only.has("upload")) {
    bench.log("\nupload");
    kept = await workloads.upload(bench, tree, interleaved && resync ? copies(bench, tree) : undefined);
  }
  if (!resync) return;
  for (const group of interleaved ? [[...bench.syncTools]] : bench.syncTools.map((t) => [t])) {
    // One tool at a time: each starts on an empty store, and leaves its copy there for the restart.
    if (!interleaved) await timedAsync("RGW restart", () => bench.freshStore());
    const synced: workloads.Synced[] = [];
    for (const tool of group) synced.push(kept.get(tool) ?? (await workloads.seed(bench, tree, tool)));
    if (only.has("noop")) await workloads.noop(bench, synced);
    if (only.has("changed")) await workloads.changed(bench, tree, synced);
    if (only.has("download")) await workloads.download(bench, tree, synced);
    await workloads.dropSynced(bench, synced, { purge: interleaved });
  }
  if (!interleaved) await timedAsync("RGW restart", () => bench.freshStore());
  rmSync(tree.dir, { recursive: true, force: true });
}

/** One copy of the tree per tool, so each can be changed the same way later. */
function copies(bench: Bench, tree: Tree): Map<SyncTool, string> {
  return timed("tree copies", () => {
    const dirs = new Map<SyncTool, string>();
    mkdirSync(join(bench.work, "trees"), { recursive: true });
    for (const tool of bench.syncTools) {
      const dir = join(bench.work, "trees", `copy-${tool}`);
      copyTree(tree.dir, dir);
      dirs.set(tool, dir);
    }
    return dirs;
  });
}

async function bigWorkload(bench: Bench, info: RunInfo): Promise<void> {
  const dir = join(bench.work, "trees", "big");
  info.big = timed("big file", () => generate(repo, dir, bigTreeArgs(bench.options.bigBytes)));
  bench.log("\nbig");
  await workloads.big(bench, info.big);
  rmSync(dir, { recursive: true, force: true });
}

async function scanWorkload(bench: Bench, info: RunInfo): Promise<void> {
  const dir = join(bench.work, "trees", "scan");
  info.scan = timed("scan tree", () => generate(repo, dir, scanTreeArgs(bench.options.scanFiles)));
  // A run of the scan alone has no main-tree order to report.
  info.order ||= "strata and find alternating";
  bench.log("\nscan");
  await workloads.scan(bench, info.scan);
  rmSync(dir, { recursive: true, force: true });
}

function timed<T>(what: string, work: () => T): T {
  const started = Date.now();
  const result = work();
  log(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

async function timedAsync<T>(what: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await work();
  log(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

main().then(
  (code) => {
    cleanups.run();
    process.exitCode = code;
  },
  (err: unknown) => {
    log(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    killRunning();
    cleanups.run();
    process.exitCode = 1;
  },
);
