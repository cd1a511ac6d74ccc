import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { AWS_PROFILE, monthlyStorageCost } from "../../src/cost/index.js";
import { classPrice, GIB } from "../../src/cost/profile.js";
import type { CostLine } from "../../src/report/model.js";
import { startCountingProxy } from "./counting-proxy.js";
import { type Command, type Measurement, measure } from "./measure.js";
import type { Store } from "./store.js";
import type { Place, StrataOptions, SyncTool, Tools } from "./tools.js";
import { generate, listFiles, readIntoCache, type Tree } from "./trees.js";

/** What the packs workloads share: the tools, the RGW, where they write, and what they saw. */
export interface PacksBench {
  repo: string;
  work: string;
  tools: Tools;
  store: Store;
  serverPids: number[];
  timeoutMs: number;
  log(line: string): void;
  /** The exact command of each step, as it first ran (for RESULTS.md). */
  commands: Map<string, string>;
  /** Problems a reader must know of: a command that failed, a copy that came out short. */
  notes: string[];
}

const MiB = 1024 ** 2;
/** The packed sync: files below 1 MiB into packs of about 256 MiB. */
export const PACKED_SYNC = ["--pack-below", "1MiB", "--pack-size", "256MiB"];
/** The 1 GiB pack of the one-member restore. */
const BIG_PACK = ["--pack-below", "1MiB", "--pack-size", "1GiB"];
const PACK_PREFIX = ".strata-packs/";
/**
 * Strata's syncs of the small files write into GLACIER (the RGW has the class), so the cost report
 * prices packed and unpacked copies in the class they are in; rclone's objects go to STANDARD,
 * which costs the RGW the same.
 */
const GLACIER = ["class: GLACIER"];

/** Runs a command under time -v, notes a failure, logs a line. */
async function timed(bench: PacksBench, step: string, cmd: Command): Promise<Measurement> {
  if (!bench.commands.has(step)) bench.commands.set(step, cmd.display);
  const m = await measure(cmd, bench.timeoutMs, bench.serverPids);
  if (m.exitCode !== 0) bench.notes.push(`${step}: exited ${m.exitCode} (${cmd.display}); see ${cmd.stderrFile}`);
  bench.log(`  ${step.padEnd(34)} ${m.wallS.toFixed(2).padStart(8)} s wall ${m.cpuS.toFixed(2).padStart(7)} s CPU`);
  return m;
}

function catalogPath(bench: PacksBench, name: string): string {
  mkdirSync(join(bench.work, "cat"), { recursive: true });
  return join(bench.work, "cat", `${name}.db`);
}

/** The --json document a Strata command printed. */
function jsonOut(cmd: Command): unknown {
  return JSON.parse(readFileSync(cmd.stdoutFile as string, "utf8"));
}

/** Files Strata says it copied, from `strata --json sync`. */
function copiedFiles(cmd: Command): number {
  const doc = jsonOut(cmd) as { result?: { copied?: { files?: number } } };
  return doc.result?.copied?.files ?? 0;
}

export function smallFilesTreeArgs(files: number): string[] {
  return ["--files", String(files), "--small-min", "1KiB", "--small-max", "16KiB"].concat([
    "--medium-share",
    "0",
    "--duplicate-share",
    "0",
  ]);
}

export interface SyncFigures {
  strata: Measurement[];
  rclone: Measurement[];
  /** Objects the last packed sync left: packs and their indexes. */
  packs: number;
  indexes: number;
  /** The last packed sync, kept for the cost report. */
  kept: { place: { bucket: string; prefix: string }; catalog: string };
}

/**
 * a) The tree into a fresh prefix: `strata sync --pack-below 1MiB --pack-size 256MiB` against
 * tuned rclone's per-file sync, alternating run by run. Every run's objects are counted; all
 * but Strata's last run are deleted afterwards.
 */
export async function packedSyncVsRclone(bench: PacksBench, tree: Tree, runs: number): Promise<SyncFigures> {
  const strata: Measurement[] = [];
  const rclone: Measurement[] = [];
  let kept: SyncFigures["kept"] | undefined;
  let packs = 0;
  let indexes = 0;
  for (let run = 1; run <= runs; run++) {
    const place = { bucket: "packs-strata", prefix: `run-${run}` };
    const catalog = catalogPath(bench, `packed-${run}`);
    const cmd = bench.tools.sync("strata", { dir: tree.dir }, place, catalog, `packed-${run}`, {
      args: PACKED_SYNC,
      location: GLACIER,
    });
    readIntoCache(tree.dir);
    strata.push(await timed(bench, `a) strata packed sync, run ${run}`, cmd));
    const copied = copiedFiles(cmd);
    if (copied !== tree.files) bench.notes.push(`packed sync run ${run}: copied ${copied} of ${tree.files} files`);
    packs = 0;
    indexes = 0;
    for await (const object of bench.store.objects(place.bucket, `${place.prefix}/${PACK_PREFIX}`)) {
      if (object.key.endsWith(".index.jsonl")) indexes += 1;
      else packs += 1;
    }
    if (run < runs) await bench.store.purge(place.bucket, place.prefix);
    else kept = { place, catalog };

    const rclonePlace = { bucket: "packs-rclone", prefix: `run-${run}` };
    const tool: SyncTool = "rclone-tuned";
    const rcloneCmd = bench.tools.sync(tool, { dir: tree.dir }, rclonePlace, "", `rclone-${run}`);
    readIntoCache(tree.dir);
    rclone.push(await timed(bench, `a) rclone-tuned sync, run ${run}`, rcloneCmd));
    const found = await bench.store.count(rclonePlace.bucket, rclonePlace.prefix);
    if (found.objects !== tree.files || found.bytes !== tree.bytes) {
      bench.notes.push(`rclone run ${run}: ${found.objects} objects (${found.bytes} B), expected ${tree.files}`);
    }
    await bench.store.purge(rclonePlace.bucket, rclonePlace.prefix);
  }
  return { strata, rclone, packs, indexes, kept: kept as SyncFigures["kept"] };
}

export interface CostFigures {
  packed: CostLine;
  unpacked: CostLine;
  /** The unpacked sync that made the second catalog (one object per file), timed too. */
  unpackedSync: Measurement;
  /** Overheads of the same objects priced one by one with cost/model.ts's monthlyStorageCost. */
  model: { packed: number; unpacked: number; packs: number; files: number };
}

/** `strata --json cost` of the remote location, priced by AWS's list (its replicas are in GLACIER). */
async function glacierCost(bench: PacksBench, place: Place, catalog: string, label: string): Promise<CostLine> {
  const config = bench.tools.strataConfig(place, {
    location: [...GLACIER, "price: { profile: aws }"],
    configName: "glacier",
  });
  const cmd = bench.tools.strataCommand(["--config", config, "--catalog", catalog, "cost"], label);
  await timed(bench, `b) strata cost (${label})`, cmd);
  const doc = jsonOut(cmd) as { lines: CostLine[] };
  const line = doc.lines.find((l) => l.group.location === "remote");
  if (!line) throw new Error(`${label}: strata cost has no line for the remote location`);
  return line;
}

/** What GLACIER bills one object beyond its bytes at the class rate (index and metadata), per the model. */
function glacierOverhead(size: number): number {
  const rate = classPrice(AWS_PROFILE, "GLACIER").storagePerGBMonth;
  return monthlyStorageCost(AWS_PROFILE, "GLACIER", size) - (size / GIB) * rate;
}

/**
 * b) The cost report's per-object overhead in GLACIER for the tree packed (the catalog of the
 * last packed sync) and unpacked (a plain `strata sync` of the same tree: one object per file).
 */
export async function packedVsUnpackedCost(bench: PacksBench, tree: Tree, synced: SyncFigures): Promise<CostFigures> {
  const packed = await glacierCost(bench, synced.kept.place, synced.kept.catalog, "packed");
  let modelPacked = 0;
  for await (const object of bench.store.objects(
    synced.kept.place.bucket,
    `${synced.kept.place.prefix}/${PACK_PREFIX}`,
  )) {
    // The index objects are written in the default class (STANDARD), which has no per-object overhead.
    if (!object.key.endsWith(".index.jsonl")) modelPacked += glacierOverhead(object.size);
  }
  await bench.store.purge(synced.kept.place.bucket, synced.kept.place.prefix);

  const place = { bucket: "packs-strata", prefix: "unpacked" };
  const catalog = catalogPath(bench, "unpacked");
  const cmd = bench.tools.sync("strata", { dir: tree.dir }, place, catalog, "unpacked", { location: GLACIER });
  const unpackedSync = await timed(bench, "b) strata sync, unpacked", cmd);
  const unpacked = await glacierCost(bench, place, catalog, "unpacked");
  let modelUnpacked = 0;
  for (const path of listFiles(tree.dir)) modelUnpacked += glacierOverhead(statSync(join(tree.dir, path)).size);
  await bench.store.purge(place.bucket, place.prefix);
  return {
    packed,
    unpacked,
    unpackedSync,
    model: { packed: modelPacked, unpacked: modelUnpacked, packs: synced.packs, files: tree.files },
  };
}

export interface RestoreFigures {
  packBytes: number;
  packs: number;
  members: number;
  member: { path: string; bytes: number };
  restore: Measurement;
  /** Requests the restore made, as the RGW answered them. */
  requests: { method: string; range: string | undefined; status: number; bytes: number }[];
  serverBytes: number;
  identical: boolean;
}

/** The 1 GiB pack's tree: `files` files of exactly `memberBytes`. */
export function packTreeArgs(files: number, memberBytes: number): string[] {
  const size = String(memberBytes);
  return ["--files", String(files), "--small-min", size, "--small-max", size].concat([
    "--medium-share",
    "0",
    "--duplicate-share",
    "0",
    "--per-dir",
    "4096",
  ]);
}

/**
 * c) One member restored from a pack of about 1 GiB, through a proxy that counts what the RGW
 * sends back: `strata restore` of the middle member into an empty directory.
 */
export async function memberRestore(bench: PacksBench, tree: Tree): Promise<RestoreFigures> {
  const place = { bucket: "packs-restore", prefix: "data" };
  const catalog = catalogPath(bench, "restore");
  const sync = bench.tools.sync("strata", { dir: tree.dir }, place, catalog, "big-pack", { args: BIG_PACK });
  await timed(bench, "c) strata sync into a 1 GiB pack", sync);
  let packBytes = 0;
  let packs = 0;
  for await (const object of bench.store.objects(place.bucket, `${place.prefix}/${PACK_PREFIX}`)) {
    if (object.key.endsWith(".index.jsonl")) continue;
    packs += 1;
    packBytes = Math.max(packBytes, object.size);
  }
  const files = listFiles(tree.dir);
  const path = files[Math.floor(files.length / 2)] as string;
  const source = readFileSync(join(tree.dir, path));
  const proxy = await startCountingProxy(bench.tools.endpoint);
  const out = join(bench.work, "restored");
  rmSync(out, { recursive: true, force: true });
  try {
    const config = bench.tools.strataConfig(place, { endpoint: proxy.endpoint, configName: "proxy" });
    // The file by its path: a path inside the scanned tree names it (the tree's location is unnamed).
    const args = ["--config", config, "--catalog", catalog, "restore", join(tree.dir, path), "--to", out];
    const cmd = bench.tools.strataCommand(args, "restore");
    const restore = await timed(bench, "c) strata restore of one member", cmd);
    if (restore.exitCode !== 0) throw new Error(`the restore failed: ${readFileSync(cmd.stderrFile, "utf8").trim()}`);
    const requests = proxy.requests.map((r) => ({
      method: r.method,
      range: r.range,
      status: r.status,
      bytes: r.headerBytes + r.bodyBytes,
    }));
    const restored = readFileSync(join(out, path));
    return {
      packBytes,
      packs,
      members: files.length,
      member: { path, bytes: source.length },
      restore,
      requests,
      serverBytes: requests.reduce((sum, r) => sum + r.bytes, 0),
      identical: restored.equals(source),
    };
  } finally {
    await proxy.close();
    await bench.store.purge(place.bucket, place.prefix);
  }
}

export interface DedupFigures {
  files: number;
  logicalBytes: number;
  /** Bytes of files whose content an earlier file of the tree already has. */
  duplicateBytes: number;
  plain: { bytes: number; objects: number; sync: Measurement };
  dedup: { bytes: number; objects: number; sync: Measurement };
}

export function dedupTreeArgs(files: number): string[] {
  return ["--files", String(files), "--small-max", "256KiB", "--medium-share", "0", "--duplicate-share", "0.3"];
}

/**
 * e) The same tree (30% of its files copies of others) synced to a location with `dedup: true`
 * and to one without: the bytes each holds at the RGW.
 */
export async function dedupSaving(bench: PacksBench, tree: Tree): Promise<DedupFigures> {
  const seen = new Set<string>();
  let duplicateBytes = 0;
  for (const path of listFiles(tree.dir)) {
    const data = readFileSync(join(tree.dir, path));
    const key = `${createHash("sha256").update(data).digest("hex")}:${data.length}`;
    if (seen.has(key)) duplicateBytes += data.length;
    else seen.add(key);
  }
  const side = async (name: "plain" | "dedup", options: StrataOptions) => {
    const place = { bucket: "packs-dedup", prefix: name };
    const cmd = bench.tools.sync(
      "strata",
      { dir: tree.dir },
      place,
      catalogPath(bench, `dedup-${name}`),
      name,
      options,
    );
    const sync = await timed(bench, `e) strata sync, ${name === "dedup" ? "dedup: true" : "no dedup"}`, cmd);
    const found = await bench.store.count(place.bucket, place.prefix);
    await bench.store.purge(place.bucket, place.prefix);
    return { ...found, sync };
  };
  const plain = await side("plain", {});
  const dedup = await side("dedup", { location: ["dedup: true"], configName: "with-dedup" });
  return { files: tree.files, logicalBytes: tree.bytes, duplicateBytes, plain, dedup };
}

/** Generates a tree under the bench's work dir, timing it in the log. */
export function tree(bench: PacksBench, name: string, args: string[]): Tree {
  const started = Date.now();
  const made = generate(bench.repo, join(bench.work, "trees", name), args);
  bench.log(
    `${name} tree: ${made.files} files, ${(made.bytes / MiB).toFixed(1)} MiB (${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
  return made;
}
