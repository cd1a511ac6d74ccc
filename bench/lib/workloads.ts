import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Bench } from "./bench.js";
import { measure } from "./measure.js";
import type { SyncTool } from "./tools.js";
import { applyChange, chooseChange, copyTree, listFiles, type Tree } from "./trees.js";

/** A tool's synced copy of the main tree: what the no-op, changed and download runs work on. */
export interface Synced {
  tool: SyncTool;
  dir: string;
  bucket: string;
  prefix: string;
  /** Strata's catalog, which remembers the sync (the other tools keep no state). */
  catalog: string;
}

/** Where a synced copy lives in the store (a Synced also names a directory, which is not the point). */
function remote(s: Synced): { bucket: string; prefix: string } {
  return { bucket: s.bucket, prefix: s.prefix };
}

function catalogPath(bench: Bench, name: string): string {
  mkdirSync(join(bench.work, "cat"), { recursive: true });
  return join(bench.work, "cat", `${name}.db`);
}

function removeCatalog(path: string): void {
  for (const suffix of ["", "-wal", "-shm"]) rmSync(`${path}${suffix}`, { force: true });
}

/**
 * a) The initial upload, to a fresh prefix each run. With `sources` (one copy of the tree per
 * tool), each tool's last upload is kept as the state the re-sync workloads start from and the
 * others are deleted once counted; otherwise each upload starts on a freshly started, empty RGW,
 * so no tool meets the deletions (or the fuller OSD) that the tool before it left.
 */
export async function upload(bench: Bench, tree: Tree, sources?: Map<SyncTool, string>) {
  const kept = new Map<SyncTool, Synced>();
  const runs = bench.options.runs;
  for (let run = 1; run <= runs; run++) {
    for (const tool of bench.syncTools) {
      const bucket = `upload-${tool}`;
      const prefix = `run-${run}`;
      const dir = sources?.get(tool) ?? tree.dir;
      const catalog = catalogPath(bench, `upload-${tool}-${run}`);
      const label = `upload-${tool}-${run}`;
      if (!sources) await bench.freshStore();
      await bench.time("upload", tool, run, bench.tools.sync(tool, { dir }, { bucket, prefix }, catalog, label));
      await bench.checkObjects(`upload ${tool} run ${run}`, bucket, prefix, tree.files, tree.bytes);
      if (sources && run === runs) kept.set(tool, { tool, dir, bucket, prefix, catalog });
      else {
        if (sources) await bench.store.purge(bucket, prefix);
        removeCatalog(catalog);
      }
    }
  }
  return kept;
}

/** A tool's copy of the tree, synced by that tool (untimed): for re-syncs without a kept upload. */
export async function seed(bench: Bench, tree: Tree, tool: SyncTool): Promise<Synced> {
  const dir = join(bench.work, "trees", `copy-${tool}`);
  rmSync(dir, { recursive: true, force: true });
  copyTree(tree.dir, dir);
  const synced = { tool, dir, bucket: `resync-${tool}`, prefix: "data", catalog: catalogPath(bench, `resync-${tool}`) };
  const cmd = bench.tools.sync(tool, { dir }, remote(synced), synced.catalog, `seed-${tool}`);
  const m = await measure(cmd, bench.options.commandTimeoutMs);
  if (m.exitCode !== 0) throw new Error(`seeding ${tool}: ${cmd.display} exited ${m.exitCode}`);
  bench.log(`  seed     ${tool.padEnd(14)} ${m.wallS.toFixed(2).padStart(8)} s (untimed)`);
  await bench.checkObjects(`seed ${tool}`, synced.bucket, synced.prefix, tree.files, tree.bytes);
  return synced;
}

/** c) Sync again with nothing changed. */
export async function noop(bench: Bench, group: Synced[]): Promise<void> {
  for (let run = 1; run <= bench.options.runs; run++) {
    for (const s of group) {
      const cmd = bench.tools.sync(s.tool, { dir: s.dir }, remote(s), s.catalog, `noop-${s.tool}-${run}`);
      await bench.time("noop", s.tool, run, cmd, { expected: { files: 0, bytes: 0 } });
    }
  }
}

/** d) Sync again after 1% of the files changed (half touched, half rewritten), the same in every copy. */
export async function changed(bench: Bench, tree: Tree, group: Synced[]): Promise<void> {
  const files = listFiles(tree.dir);
  for (let run = 1; run <= bench.options.runs; run++) {
    const change = chooseChange(files, run);
    for (const s of group) {
      const applied = applyChange(s.dir, change, run);
      const expected = { files: applied.rewritten.length, bytes: applied.rewrittenBytes };
      const cmd = bench.tools.sync(s.tool, { dir: s.dir }, remote(s), s.catalog, `changed-${s.tool}-${run}`);
      await bench.time("changed", s.tool, run, cmd, { expected });
    }
  }
}

/** e) Everything back from the store into an empty directory (Strata with a fresh catalog). */
export async function download(bench: Bench, tree: Tree, group: Synced[]): Promise<void> {
  for (let run = 1; run <= bench.options.runs; run++) {
    for (const s of group) {
      const dir = join(bench.work, "download", `${s.tool}-${run}`);
      mkdirSync(dir, { recursive: true });
      const catalog = catalogPath(bench, `download-${s.tool}-${run}`);
      const cmd = bench.tools.sync(s.tool, remote(s), { dir }, catalog, `download-${s.tool}-${run}`);
      await bench.time("download", s.tool, run, cmd);
      const got = listFiles(dir).length;
      if (got !== tree.files) bench.note(`download ${s.tool} run ${run}: ${got} of ${tree.files} files arrived`);
      rmSync(dir, { recursive: true, force: true });
      removeCatalog(catalog);
    }
  }
}

/** Removes what a group of re-sync workloads left; its objects too, unless the store is restarted next. */
export async function dropSynced(bench: Bench, group: Synced[], { purge }: { purge: boolean }): Promise<void> {
  for (const s of group) {
    if (purge) await bench.store.purge(s.bucket, s.prefix);
    rmSync(s.dir, { recursive: true, force: true });
    removeCatalog(s.catalog);
  }
}

/**
 * The fewest runs of the large file: one upload takes about 20 s, and single runs of it swung by
 * a fifth with the server's state (0.79x aws in one run, 0.98-1.03x over three alternating).
 */
const BIG_MIN_RUNS = 3;

/** b) One large file, each run on a freshly started, empty RGW. */
export async function big(bench: Bench, tree: Tree): Promise<void> {
  for (let run = 1; run <= Math.max(bench.options.runs, BIG_MIN_RUNS); run++) {
    for (const tool of bench.syncTools) {
      const place = { bucket: `big-${tool}`, prefix: `run-${run}` };
      const catalog = catalogPath(bench, `big-${tool}-${run}`);
      await bench.freshStore();
      await bench.time(
        "big",
        tool,
        run,
        bench.tools.sync(tool, { dir: tree.dir }, place, catalog, `big-${tool}-${run}`),
      );
      await bench.checkObjects(`big ${tool} run ${run}`, place.bucket, place.prefix, tree.files, tree.bytes);
      removeCatalog(catalog);
    }
  }
}

/** f) Entries per second: `strata scan` into a fresh catalog against find printing size and mtime. */
export async function scan(bench: Bench, tree: Tree): Promise<void> {
  for (let run = 1; run <= bench.options.runs; run++) {
    for (const build of bench.strataBuilds) {
      const catalog = catalogPath(bench, `scan-${build}-${run}`);
      const cmd = bench.tools.strataScan(build, tree.dir, catalog, `scan-${build}-${run}`);
      await bench.time("scan", build, run, cmd);
      removeCatalog(catalog);
    }
    await bench.time("scan", "find", run, bench.tools.find(tree.dir, `scan-find-${run}`));
  }
}
