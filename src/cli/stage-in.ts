import { createReadStream } from "node:fs";
import { posix } from "node:path";
import { createInterface } from "node:readline";
import { descriptorOf, parseLocationUrl } from "../backends/all.js";
import { allLocations } from "../catalog/locations.js";
import { filesWithReplicas } from "../catalog/replicas.js";
import { UsageError } from "../config/errors.js";
import {
  type RestoreCandidate,
  type RestoreDeps,
  restoreFiles,
  waitForRestores,
  withRestoreRun,
} from "../engine/restore.js";
import { restoreSelector } from "../engine/restore-path.js";
import type { TransferSettings } from "../engine/toolkit.js";
import type { Context, ResolvedLocation } from "./context.js";
import { count, merge, newTally, packHeard, summary, type Tally, thawWish } from "./restore-report.js";
import { EXIT } from "./runner.js";

/**
 * `strata restore --stage-in FILE`: what a job's input list needs, restored into the files' own
 * places before the job starts. Every line is checked first (a bad one names FILE:LINE, exits 2,
 * and nothing is restored or thawed); then files not on disk are restored, pack members grouped
 * into one thaw per pack. Exit 75 (EX_TEMPFAIL) while some are still thawing: a job script runs
 * `strata restore --stage-in inputs.txt --wait && srun …`, or a later step retries.
 */

export interface StageInOptions {
  to?: string | undefined;
  from?: string | undefined;
  days: number;
  tier?: "expedited" | "standard" | "bulk" | undefined;
  deadline?: number | undefined;
  wait: boolean;
  dryRun: boolean;
}

interface InputLine {
  number: number;
  text: string;
}

/** The input paths of FILE with their line numbers: blank lines and `#` comments skipped. */
async function* inputLines(file: string): AsyncGenerator<InputLine> {
  const lines = createInterface({ input: createReadStream(file, "utf8"), crlfDelay: Number.POSITIVE_INFINITY });
  let number = 0;
  for await (const line of lines) {
    number += 1;
    const text = line.trim();
    if (text !== "" && !text.startsWith("#")) yield { number, text };
  }
}

type Resolved = { location: ResolvedLocation; path: string } | { error: string };

/**
 * One line as `strata restore` takes a path: LOCATION:path, an absolute path inside a scanned
 * POSIX location, or a path relative to the root of the one POSIX location whose catalog holds it.
 */
async function resolveLine(ctx: Context, text: string): Promise<Resolved> {
  if (text.startsWith("/") || /^[A-Za-z][A-Za-z0-9_.-]*:/.test(text)) {
    let found: { location: ResolvedLocation; path: string };
    try {
      found = await ctx.reference(text, "path");
    } catch (err) {
      if (err instanceof UsageError) return { error: err.message };
      throw err;
    }
    if (!descriptorOf(found.location.parsed.kind).fileTree) {
      return { error: `${found.location.name} is not a POSIX location: stage-in restores files into their places` };
    }
    if (!(await holds(ctx, found.location, found.path))) {
      return { error: `no file in ${found.location.name} matches ${JSON.stringify(found.path)}` };
    }
    return found;
  }
  const path = posix.normalize(text).replace(/\/+$/, "");
  if (path === ".." || path.startsWith("../")) return { error: `${JSON.stringify(text)} leaves the locations' roots` };
  const holders: ResolvedLocation[] = [];
  for (const row of await allLocations(ctx.catalog)) {
    if (!descriptorOf(parseLocationUrl(row.url).kind).fileTree) continue;
    const location = await ctx.location(row.name, "--stage-in");
    if (await holds(ctx, location, path === "." ? "" : path)) holders.push(location);
  }
  const [only, other] = holders;
  if (!only) return { error: `no POSIX location's catalog holds ${JSON.stringify(text)}` };
  if (other) {
    const names = holders.map((l) => l.name).join(", ");
    return { error: `${JSON.stringify(text)} is in several locations (${names}): name one as LOCATION:path` };
  }
  return { location: only, path: path === "." ? "" : path };
}

/** Whether the catalog holds a file at `path` (or under it, or matching it as a glob) in `location`. */
async function holds(ctx: Context, location: ResolvedLocation, path: string): Promise<boolean> {
  const { prefix, matches } = restoreSelector(path);
  for await (const { file } of filesWithReplicas(ctx.catalog, location.row.id, prefix, ["present"])) {
    if (matches(file.path)) return true;
  }
  return false;
}

/** Checks every line; the locations they name, or a UsageError naming each bad line. */
async function checkedLocations(ctx: Context, file: string): Promise<ResolvedLocation[]> {
  const locations = new Map<string, ResolvedLocation>();
  const bad: string[] = [];
  let lines = 0;
  try {
    for await (const line of inputLines(file)) {
      lines += 1;
      const resolved = await resolveLine(ctx, line.text);
      if ("error" in resolved) bad.push(`${file}:${line.number}: ${resolved.error}`);
      else locations.set(resolved.location.name, resolved.location);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === undefined) throw err;
    throw new UsageError(`--stage-in ${file}: ${(err as Error).message}`);
  }
  if (bad.length > 0) throw new UsageError(`--stage-in: nothing restored; bad lines:\n  ${bad.join("\n  ")}`);
  if (lines === 0) throw new UsageError(`--stage-in ${file}: lists no path`);
  return [...locations.values()];
}

export async function stageIn(
  ctx: Context,
  ref: string | undefined,
  file: string,
  settings: TransferSettings,
  opts: StageInOptions,
): Promise<number> {
  if (ref !== undefined) throw new UsageError("--stage-in takes no <ref>: FILE lists the paths");
  for (const [flag, given] of [
    ["--to", opts.to],
    ["--from", opts.from],
  ] as const) {
    if (given !== undefined) throw new UsageError(`--stage-in restores files into their own places: drop ${flag}`);
  }
  const locations = await checkedLocations(ctx, file);
  const command = `restore --stage-in ${file}`;
  // Held while asking and copying, not while waiting for thaws (hours, in a job script): other
  // jobs' stage-ins and the location's syncs go on meanwhile.
  const held = <T>(work: () => Promise<T>) =>
    ctx.holding(
      locations.map((l) => l.name),
      command,
      work,
    );
  const work = (deps: RestoreDeps) => stageLocations(ctx, deps, { file, locations, held }, settings, opts);
  return opts.dryRun ? work(ctx) : withRestoreRun(ctx, command, settings, work);
}

/** The checked input list, its locations, and how to hold their leases for a while. */
interface Staging {
  file: string;
  locations: ResolvedLocation[];
  held: <T>(work: () => Promise<T>) => Promise<T>;
}

async function stageLocations(
  ctx: Context,
  deps: RestoreDeps,
  { file, locations, held }: Staging,
  settings: TransferSettings,
  opts: StageInOptions,
): Promise<number> {
  const started = Date.now();
  const tally = newTally();
  const thaw = thawWish(opts);
  await held(async () => {
    for (const location of locations) {
      const target = { dir: null, backend: location.backend, locationId: location.row.id };
      const { transfers } = settings;
      const options = { target, thaw, dryRun: opts.dryRun, transfers, onPack: packHeard(ctx, tally) };
      await restoreFiles(deps, needed(ctx, file, location, tally), options, (f, outcome) =>
        count(ctx, tally, f.path, outcome),
      );
    }
  });
  if (opts.wait && tally.waitFor.length > 0) {
    ctx.out.info(`Waiting for ${tally.waitFor.length} thaw(s) to complete…`);
    const signal = opts.deadline === undefined ? undefined : AbortSignal.timeout(opts.deadline);
    const waiting = { transfers: settings.transfers, round: held, ...(signal ? { signal } : {}) };
    merge(tally, await waitForRestores(deps, tally.waitFor, waiting));
  }
  const code = summary(ctx, tally, started, opts.dryRun);
  if (code !== EXIT.ok || opts.dryRun || tally.stillThawing.length === 0) return code;
  return EXIT.tempFail;
}

/**
 * The files of `location` the lines name that are not on disk as the catalog knows them: a file
 * present with its size and mtime is counted in place and not looked at further.
 */
async function* needed(
  ctx: Context,
  file: string,
  location: ResolvedLocation,
  tally: Tally,
): AsyncGenerator<RestoreCandidate> {
  for await (const line of inputLines(file)) {
    const resolved = await resolveLine(ctx, line.text);
    if ("error" in resolved || resolved.location.name !== location.name) continue;
    const { prefix, matches } = restoreSelector(resolved.path);
    const held = filesWithReplicas(ctx.catalog, location.row.id, prefix, ["present", "archived", "restoring"]);
    for await (const { file: row, replicas } of held) {
      if (!matches(row.path)) continue;
      if (row.state === "present") {
        const onDisk = await location.backend.stat(row.path);
        if (onDisk && onDisk.size === row.size && onDisk.modifiedUs === row.mtime_us) {
          tally.inPlace += 1;
          continue;
        }
      }
      if (replicas.length > 0) yield { file: row, replicas };
      else tally.failures.push({ path: row.path, error: "no replica" });
    }
  }
}
