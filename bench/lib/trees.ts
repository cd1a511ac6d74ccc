import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sh } from "./setup.js";

export interface Tree {
  dir: string;
  files: number;
  bytes: number;
}

/** A tree from bench/generate-tree.ts (deterministic: the same arguments give the same bytes). */
export function generate(repo: string, dir: string, args: string[]): Tree {
  // Run from the repository so `--import tsx` resolves.
  sh([process.execPath, "--import", "tsx", "bench/generate-tree.ts", dir, ...args], {
    cwd: repo,
    timeoutMs: 2 * 3600_000,
  });
  writtenOut();
  const files = listFiles(dir);
  return { dir, files: files.length, bytes: files.reduce((sum, f) => sum + statSync(join(dir, f)).size, 0) };
}

/** The main workload: mostly small files, 5% up to 4 MiB, as the issue describes. */
export function mainTreeArgs(files: number): string[] {
  return ["--files", String(files), "--small-max", "64KiB", "--medium-share", "0.05", "--medium-max", "4MiB"];
}

/** One large file (a checkpoint) and nothing else. */
export function bigTreeArgs(bytes: number): string[] {
  return ["--files", "0", "--large", "1", "--large-size", String(bytes)];
}

/** Tiny files for the scan rate: what is measured is entries per second, not bytes. */
export function scanTreeArgs(files: number): string[] {
  return ["--files", String(files), "--small-max", "1KiB", "--medium-share", "0", "--duplicate-share", "0"];
}

/** A copy with the same mtimes, so a tool that synced the original sees nothing changed. */
export function copyTree(from: string, to: string): void {
  sh(["cp", "-a", "--reflink=auto", from, to], { timeoutMs: 2 * 3600_000 });
  writtenOut();
}

/**
 * New files' pages written to disk now: otherwise the kernel writes them back (after 30 s) while
 * the first tool is timed, and that tool alone shares the disk and a core with the writeback.
 */
function writtenOut(): void {
  sh(["sync"], { timeoutMs: 600_000 });
}

/**
 * Every file of the tree read once, untimed, before a tool's timed run: each tool then starts
 * with the tree in the page cache. Without it the first tool found it there (just written) and
 * the next ones often not: during a 5-minute rclone run the kernel dropped the tree's pages and
 * Strata's following runs read 1 GB from disk (22 s of CPU became 28).
 */
export function readIntoCache(dir: string): void {
  sh(["sh", "-c", 'find "$1" -type f -print0 | xargs -0 cat > /dev/null', "read-into-cache", dir], {
    timeoutMs: 3600_000,
  });
}

/** Regular files under dir, relative, sorted (so every choice made from the list is repeatable). */
export function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
}

export interface Change {
  touched: string[];
  rewritten: string[];
  rewrittenBytes: number;
}

/**
 * The 1% of files run `run` changes: a choice that depends only on the paths and the run, so
 * every tool's copy of the tree gets the same change. Half are only touched (new mtime, same
 * bytes); half are rewritten with new bytes of the same size (so size alone cannot tell).
 */
export function chooseChange(files: string[], run: number): Omit<Change, "rewrittenBytes"> {
  const n = Math.max(2, Math.round(files.length / 100));
  const rank = (path: string) => createHash("sha1").update(`${run}\0${path}`).digest("hex");
  const chosen = files
    .map((path) => ({ path, key: rank(path) }))
    .sort((a, b) => (a.key < b.key ? -1 : 1))
    .slice(0, n)
    .map((c) => c.path)
    .sort();
  return { touched: chosen.filter((_, i) => i % 2 === 0), rewritten: chosen.filter((_, i) => i % 2 === 1) };
}

export function applyChange(dir: string, change: Omit<Change, "rewrittenBytes">, run: number): Change {
  // A whole second past anything uploaded so far: aws re-uploads only when the local mtime is
  // newer than the object's LastModified, which has a resolution of one second.
  const mtime = Math.ceil(Date.now() / 1000) + 1;
  const mask = ((0x5a + run) % 255) + 1; // never 0: every byte changes
  let rewrittenBytes = 0;
  for (const path of change.rewritten) {
    const full = join(dir, path);
    const data = readFileSync(full);
    for (let i = 0; i < data.length; i++) data[i] = (data[i] as number) ^ mask;
    writeFileSync(full, data);
    rewrittenBytes += data.length;
  }
  for (const path of [...change.touched, ...change.rewritten]) utimesSync(join(dir, path), mtime, mtime);
  return { ...change, rewrittenBytes };
}
