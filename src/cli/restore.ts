import { type Command, Option } from "commander";
import { descriptorOf, parseLocationUrl } from "../backends/all.js";
import type { RestoreTier } from "../backends/backend.js";
import { printablePath } from "../backends/keys.js";
import { filesWithReplicas } from "../catalog/replicas.js";
import { locationsRestoredInPlace } from "../catalog/restores.js";
import { UsageError } from "../config/errors.js";
import { formatDuration } from "../config/units.js";
import {
  directoryTarget,
  type FileOutcome,
  finishPendingRestores,
  type PendingReport,
  type RestoreCandidate,
  type RestoreDeps,
  type RestoreTarget,
  restoreFiles,
  type ThawWish,
  waitForRestores,
  withRestoreRun,
} from "../engine/restore.js";
import { restoreSelector } from "../engine/restore-path.js";
import type { TransferSettings } from "../engine/toolkit.js";
import type { Context, ResolvedLocation } from "./context.js";
import {
  duration,
  preserveRootOwnerOption,
  preserveSpecialBitsOption,
  type TransferFlags,
  type TrustFlags,
  transferOptions,
  transferSettings,
  trustFrom,
  wholeNumber,
} from "./options.js";
import { filesAndBytes, rates } from "./output.js";
import { EXIT, type Runner } from "./runner.js";

interface RestoreOptions extends TrustFlags, TransferFlags {
  to?: string;
  from?: string;
  tier?: RestoreTier;
  deadline?: number;
  days: number;
  wait: boolean;
  dryRun: boolean;
}

export function registerRestore(program: Command, run: Runner): void {
  const command = program
    .command("restore")
    .description(
      "bring files back from a replica, with owner (as root), mode and times, to where they were or into --to DIR " +
        "(a file already holding the version is left alone); " +
        "archived replicas are thawed first. Without <ref>, finishes the restores whose thaw is done",
    )
    .argument("[ref]", "LOCATION:path-or-glob (a directory restores its subtree), or an absolute path")
    .option("--to <dir>", "restore under this directory instead of the original place")
    .option("--from <location>", "read from this replica location (default: the cheapest readable)");
  transferOptions(command)
    .addOption(
      new Option("--tier <tier>", "thaw archived replicas at this tier").choices(["expedited", "standard", "bulk"]),
    )
    .option("--deadline <duration>", "thaw at the cheapest tier done within this (e.g. 12h)", duration)
    .option("--days <n>", "days a thawed copy stays readable", wholeNumber(1, 365), 1)
    .option("--wait", "wait for thaws, then finish the copies (else a later restore or the daemon does)", false)
    .option("-n, --dry-run", "list what would be restored or thawed, change nothing", false)
    .addOption(preserveSpecialBitsOption())
    .addOption(preserveRootOwnerOption())
    .action(
      run(async (ctx, ref: string | undefined, opts: RestoreOptions) => {
        // A flag refused now, before anything is thawed; --tps for the locations opened next.
        const settings = transferSettings(ctx, opts, trustFrom(opts));
        if (opts.tier !== undefined && opts.deadline !== undefined) {
          throw new UsageError("--tier and --deadline: give one of them, not both");
        }
        ctx.dryRun = opts.dryRun;
        if (ref === undefined) {
          // Copies back into their own place change those locations: held as any such command does.
          return ctx.holding(await locationsRestoredInPlace(ctx.catalog), "restore", () =>
            withRestoreRun(ctx, "restore", settings, (deps) => finishPending(ctx, deps, settings, opts)),
          );
        }
        const { location, path } = await ctx.reference(ref, "<ref>");
        const from = opts.from === undefined ? undefined : await ctx.location(opts.from, "--from");
        if (opts.to === undefined && !descriptorOf(location.parsed.kind).fileTree) {
          throw new UsageError(`<ref> ${location.name} is not a POSIX location; restore with --to DIR`);
        }
        const restoring = (target: RestoreTarget) => (deps: RestoreDeps) =>
          restore(ctx, deps, { location, pattern: path, from, target }, settings, opts);
        // A dry run changes nothing, so it journals nothing.
        const inRun = (target: RestoreTarget) =>
          opts.dryRun ? restoring(target)(ctx) : withRestoreRun(ctx, `restore ${ref}`, settings, restoring(target));
        if (opts.to !== undefined) return inRun(await directoryArg(opts.to));
        // In place, the restore changes the location's files and rows: one run at a time.
        const target = { dir: null, backend: location.backend, locationId: location.row.id };
        return ctx.holding([location.name], `restore ${ref}`, () => inRun(target));
      }),
    );
}

interface Tally {
  restored: { files: number; bytes: number };
  /** Files whose place already held the version: left alone. */
  inPlace: number;
  /** Files restored per replica location. */
  sources: Record<string, number>;
  thawRequested: Thaw[];
  stillThawing: Thaw[];
  failures: { path: string; error: string }[];
  /** Restore requests to wait for. */
  waitFor: number[];
}

interface Thaw {
  path: string;
  from: string;
  tier: RestoreTier;
  expectedAt: string | null;
}

function newTally(): Tally {
  return {
    restored: { files: 0, bytes: 0 },
    inPlace: 0,
    sources: {},
    thawRequested: [],
    stillThawing: [],
    failures: [],
    waitFor: [],
  };
}

/** What to restore, from where, to where. */
interface RestoreWhat {
  location: ResolvedLocation;
  pattern: string;
  from: ResolvedLocation | undefined;
  target: RestoreTarget;
}

async function restore(
  ctx: Context,
  deps: RestoreDeps,
  { location, pattern, from, target }: RestoreWhat,
  settings: TransferSettings,
  opts: RestoreOptions,
): Promise<number> {
  const started = Date.now();
  const { out } = ctx;
  const { prefix, matches } = restoreSelector(pattern);
  const tally = newTally();
  const thaw: ThawWish = {
    days: opts.days,
    ...(opts.tier ? { tier: opts.tier } : {}),
    ...(opts.deadline !== undefined ? { deadlineMs: opts.deadline } : {}),
  };
  let matched = 0;
  const progress = out.progress();
  /** The catalog's files the pattern matches, with the replicas --from allows; a file with none fails here. */
  async function* candidates(): AsyncGenerator<RestoreCandidate> {
    const held = filesWithReplicas(ctx.catalog, location.row.id, prefix, ["present", "archived", "restoring"]);
    for await (const { file, replicas } of held) {
      if (!matches(file.path)) continue;
      matched += 1;
      const allowed = replicas.filter((r) => (from ? r.location_id === from.row.id : true));
      if (allowed.length > 0) yield { file, replicas: allowed };
      else tally.failures.push({ path: file.path, error: from ? `no replica at ${from.name}` : "no replica" });
    }
  }
  const options = { target, thaw, dryRun: opts.dryRun, transfers: settings.transfers };
  await restoreFiles(deps, candidates(), options, (file, outcome) => {
    progress.fileDone();
    if (outcome.kind === "restored") progress.addBytes(outcome.bytes);
    count(ctx, tally, file.path, outcome);
  }).finally(() => progress.stop());
  if (matched === 0) throw new UsageError(`<ref> ${pattern || "(root)"}: no file in ${location.name} matches`);
  if (opts.wait && tally.waitFor.length > 0) {
    out.info(`Waiting for ${tally.waitFor.length} thaw(s) to complete…`);
    const waited = await waitForRestores(deps, tally.waitFor, { transfers: settings.transfers });
    merge(tally, waited);
  }
  return summary(ctx, tally, started, opts.dryRun);
}

/** `strata restore` without a path: finish what earlier runs asked to thaw. */
async function finishPending(
  ctx: Context,
  deps: RestoreDeps,
  settings: TransferSettings,
  opts: RestoreOptions,
): Promise<number> {
  for (const [flag, given] of [
    ["--to", opts.to],
    ["--from", opts.from],
    ["--tier", opts.tier],
    ["--deadline", opts.deadline],
  ] as const) {
    if (given !== undefined) throw new UsageError(`${flag} needs a <ref>: it chooses what to restore`);
  }
  const started = Date.now();
  const tally = newTally();
  const { transfers } = settings;
  const first = await finishPendingRestores(deps, { transfers });
  merge(tally, first);
  if (opts.wait && first.thawing.length > 0) {
    ctx.out.info(`Waiting for ${first.thawing.length} thaw(s) to complete…`);
    merge(
      tally,
      await waitForRestores(
        deps,
        first.thawing.map((t) => t.id),
        { transfers },
      ),
    );
  }
  return summary(ctx, tally, started, false);
}

function count(ctx: Context, tally: Tally, path: string, outcome: FileOutcome): void {
  const shown = printablePath(path);
  switch (outcome.kind) {
    case "restored":
      tally.restored.files += 1;
      tally.restored.bytes += outcome.bytes;
      tally.sources[outcome.from] = (tally.sources[outcome.from] ?? 0) + 1;
      ctx.out.detail(`restored ${shown} from ${outcome.from}`);
      return;
    case "in-place":
      tally.inPlace += 1;
      ctx.out.detail(`already in place: ${shown}`);
      return;
    case "thawing": {
      const thaw = { path, from: outcome.from, tier: outcome.tier, expectedAt: isoOrNull(outcome.expectedAt) };
      if (outcome.requested) tally.thawRequested.push(thaw);
      tally.stillThawing.push(thaw);
      tally.waitFor.push(outcome.requestId);
      if (outcome.requested) ctx.out.detail(`thaw requested: ${shown} at ${outcome.from} (tier ${outcome.tier})`);
      return;
    }
    case "would-read":
      ctx.out.info(`would restore ${shown} from ${outcome.from}${costNote(outcome.cost)}`);
      return;
    case "would-thaw":
      ctx.out.info(`would thaw ${shown} at ${outcome.from} (tier ${outcome.tier})${costNote(outcome.cost)}`);
      return;
    case "failed":
      tally.failures.push({ path, error: outcome.error });
  }
}

/** Folds pending restores into the tally: what is still thawing is its latest word. */
function merge(tally: Tally, report: PendingReport): void {
  for (const r of report.restored) {
    tally.restored.files += 1;
    tally.restored.bytes += r.bytes;
    tally.sources[r.from] = (tally.sources[r.from] ?? 0) + 1;
  }
  tally.inPlace += report.inPlace.length;
  tally.stillThawing = report.thawing.map((t) => ({
    path: t.path,
    from: t.from,
    tier: t.tier,
    expectedAt: isoOrNull(t.expectedAt),
  }));
  for (const f of report.failed) tally.failures.push({ path: f.path, error: f.error });
}

function summary(ctx: Context, tally: Tally, started: number, dryRun: boolean): number {
  const { out } = ctx;
  for (const f of tally.failures) out.warn(`not restored: ${printablePath(f.path)}: ${f.error}`);
  const thawsOnly =
    tally.restored.files + tally.inPlace === 0 && tally.failures.length === 0 && tally.stillThawing.length > 0;
  if (!dryRun && !thawsOnly) {
    const { files, bytes } = tally.restored;
    const inPlace = tally.inPlace > 0 ? `, ${tally.inPlace} already in place` : "";
    out.info(
      `Restored ${filesAndBytes(files, bytes)}${inPlace}, ${tally.failures.length} failed ${rates(files, bytes, Date.now() - started)}`,
    );
  }
  if (tally.thawRequested.length > 0) {
    const tiers = [...new Set(tally.thawRequested.map((t) => t.tier))].join(", ");
    out.info(`Thaw requested for ${tally.thawRequested.length} file(s) (tier ${tiers})`);
  }
  if (tally.stillThawing.length > 0) {
    out.info(
      `Still thawing: ${tally.stillThawing.length} file(s), ${expectation(tally.stillThawing)}; ` +
        "run strata restore again then (or use --wait) to finish the copies",
    );
    for (const t of tally.stillThawing) out.detail(`still thawing: ${printablePath(t.path)} at ${t.from}`);
  }
  out.json({
    restored: tally.restored,
    inPlace: tally.inPlace,
    sources: tally.sources,
    thawRequested: tally.thawRequested,
    stillThawing: tally.stillThawing,
    failures: tally.failures,
    dryRun,
  });
  return tally.failures.length > 0 ? EXIT.itemsFailed : EXIT.ok;
}

/** "expected by 2026-11-24T14:05:00.000Z (in 2 h 0 min)", from the latest expected time. */
function expectation(thaws: Thaw[]): string {
  const times = thaws.map((t) => (t.expectedAt === null ? Number.NaN : Date.parse(t.expectedAt)));
  if (times.some(Number.isNaN)) return "expected time unknown";
  const latest = Math.max(...times);
  return `expected by ${new Date(latest).toISOString()} (in ${formatDuration(Math.max(0, latest - Date.now()))})`;
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function costNote(cost: number | undefined): string {
  return cost === undefined || cost === 0 ? "" : `, about $${cost.toFixed(cost < 0.01 ? 6 : 2)}`;
}

function directoryArg(dir: string): Promise<RestoreTarget> {
  const parsed = parseLocationUrl(dir);
  if (!descriptorOf(parsed.kind).fileTree || !("root" in parsed))
    throw new UsageError(`--to ${dir}: restore writes to a directory`);
  return directoryTarget(parsed.root);
}
