/**
 * Issue 15's measurements, on one throwaway Ceph RGW: a) a packed sync of 100,000 files of
 * 1–16 KiB against tuned rclone's per-file sync; b) `strata cost`'s per-object overhead for that
 * tree in GLACIER, packed and unpacked; c) the bytes the RGW sends for one member restored from
 * a 1 GiB pack (through a counting proxy); d) `codec: auto` against brute force and `zstd -3 -T2`;
 * e) the bytes a tree with 30% duplicate files takes with `dedup: true`. Writes the figures
 * between `<!-- packs -->` markers in bench/RESULTS.md. See bench/README.md.
 *
 *   node --import tsx bench/packs.ts [--quick] [--files 100000] [--runs 1] [--pack-files 4096]
 *        [--member-size 256KiB] [--codec-mib 128] [--dedup-files 5000] [--only sync,cost,restore,codec,dedup]
 *        [--tmp DIR] [--timeout 2h] [--results bench/RESULTS.md]
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Cleanups } from "./lib/cleanup.js";
import { measureCodecAuto } from "./lib/codec-auto.js";
import { killRunning } from "./lib/measure.js";
import { bytes, duration, wholeNumber } from "./lib/options.js";
import { packsSection } from "./lib/packs-report.js";
import {
  dedupSaving,
  dedupTreeArgs,
  memberRestore,
  type PacksBench,
  packedSyncVsRclone,
  packedVsUnpackedCost,
  packTreeArgs,
  smallFilesTreeArgs,
  tree,
} from "./lib/packs-workloads.js";
import { replaceSection } from "./lib/results-section.js";
import {
  awsExecutable,
  ensureBuilt,
  installTools,
  loadAverage,
  machine,
  memstoreBytes,
  rgwDaemons,
  startSizedRgw,
  versions,
} from "./lib/setup.js";
import { Store } from "./lib/store.js";
import { Tools } from "./lib/tools.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const log = (line: string) => process.stdout.write(`${line}\n`);

const STEPS = ["sync", "cost", "restore", "codec", "dedup"] as const;
type Step = (typeof STEPS)[number];

// The sizes, and a smoke test of every step in a few minutes.
const FULL = { files: "100000", packFiles: "4096", codecMib: "128", dedupFiles: "5000" };
const QUICK = { files: "2000", packFiles: "256", codecMib: "32", dedupFiles: "500" };

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    files: { type: "string" },
    runs: { type: "string", default: "1" },
    "pack-files": { type: "string" },
    "member-size": { type: "string", default: "256KiB" },
    "codec-mib": { type: "string" },
    "dedup-files": { type: "string" },
    only: { type: "string", default: STEPS.join(",") },
    tmp: { type: "string", default: process.env.TMPDIR ?? tmpdir() },
    timeout: { type: "string", default: "2h" },
    results: { type: "string", default: join(repo, "bench", "RESULTS.md") },
  },
});
const base = values.quick ? QUICK : FULL;
const options = {
  files: wholeNumber("--files", values.files ?? base.files, 1),
  runs: wholeNumber("--runs", values.runs, 1),
  packFiles: wholeNumber("--pack-files", values["pack-files"] ?? base.packFiles, 1),
  memberBytes: bytes("--member-size", values["member-size"]),
  codecMib: wholeNumber("--codec-mib", values["codec-mib"] ?? base.codecMib, 1),
  dedupFiles: wholeNumber("--dedup-files", values["dedup-files"] ?? base.dedupFiles, 10),
  timeoutMs: duration("--timeout", values.timeout),
};
const only = new Set(values.only.split(",").map((s) => s.trim()));
for (const name of only) {
  if (!(STEPS as readonly string[]).includes(name)) throw new Error(`--only: unknown step ${name} (known: ${STEPS})`);
}
// The cost step prices the packed sync's catalog.
if (only.has("cost")) only.add("sync");
const wants = (step: Step) => only.has(step);

const cleanups = new Cleanups(log);

async function main(): Promise<number> {
  const started = new Date();
  installTools(log);
  ensureBuilt(repo, log);
  const work = mkdtempSync(join(values.tmp, "strata-packs-bench-"));
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  log(`temp dir ${work}`);
  const loadStart = loadAverage();
  const needsRgw = wants("sync") || wants("restore") || wants("dedup");
  let bench: PacksBench | undefined;
  if (needsRgw) {
    const server = await startSizedRgw(memstoreBytes());
    cleanups.push(() => server.stop());
    log(`RGW at ${server.endpoint}`);
    const daemons = rgwDaemons(server.endpoint);
    const credentials = { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey };
    const store = new Store(server.endpoint, credentials, { conf: daemons?.conf });
    cleanups.push(() => store.close());
    const tools = new Tools({ repo, work, endpoint: server.endpoint, aws: awsExecutable(), ...credentials });
    for (const bucket of ["packs-strata", "packs-rclone", "packs-restore", "packs-dedup"]) {
      await store.createBucket(bucket);
    }
    bench = {
      repo,
      work,
      tools,
      store,
      serverPids: daemons?.pids ?? [],
      timeoutMs: options.timeoutMs,
      log,
      commands: new Map(),
      notes: [],
    };
  }
  const figures: Parameters<typeof packsSection>[0] = {};
  if (bench && wants("sync")) {
    const small = tree(bench, "small", smallFilesTreeArgs(options.files));
    figures.small = small;
    figures.sync = await packedSyncVsRclone(bench, small, options.runs);
    if (wants("cost")) figures.cost = await packedVsUnpackedCost(bench, small, figures.sync);
    else await bench.store.purge(figures.sync.kept.place.bucket, figures.sync.kept.place.prefix);
    rmSync(small.dir, { recursive: true, force: true });
  }
  if (bench && wants("restore")) {
    const packTree = tree(bench, "pack", packTreeArgs(options.packFiles, options.memberBytes));
    figures.restore = await memberRestore(bench, packTree);
    rmSync(packTree.dir, { recursive: true, force: true });
  }
  if (wants("codec")) {
    log(`d) codec auto on ${options.codecMib} MiB`);
    figures.codec = await measureCodecAuto(options.codecMib, work);
  }
  if (bench && wants("dedup")) {
    const dupTree = tree(bench, "dedup", dedupTreeArgs(options.dedupFiles));
    figures.dedup = await dedupSaving(bench, dupTree);
    rmSync(dupTree.dir, { recursive: true, force: true });
  }
  const text = packsSection(figures, {
    started,
    elapsedS: (Date.now() - started.getTime()) / 1000,
    commandLine: `node --import tsx bench/packs.ts ${process.argv.slice(2).join(" ")}`.trim(),
    machine: machine(),
    versions: versions(repo, awsExecutable()),
    load: { start: loadStart, end: loadAverage() },
    commands: bench?.commands ?? new Map(),
    notes: bench?.notes ?? [],
  });
  log(`\n${text}`);
  writeFileSync(values.results, replaceSection(readFileSync(values.results, "utf8"), "packs", text));
  log(`\nwrote the packs section of ${values.results}`);
  return (bench?.notes.length ?? 0) > 0 ? 1 : 0;
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
