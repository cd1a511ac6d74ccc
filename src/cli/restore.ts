import { type Command, Option } from "commander";
import { descriptorOf, parseLocationUrl } from "../backends/all.js";
import type { RestoreTier } from "../backends/backend.js";
import { filesWithReplicas } from "../catalog/replicas.js";
import { locationsRestoredInPlace } from "../catalog/restores.js";
import { UsageError } from "../config/errors.js";
import {
  directoryTarget,
  finishPendingRestores,
  type RestoreCandidate,
  type RestoreDeps,
  type RestoreTarget,
  restoreFiles,
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
import { count, merge, newTally, packHeard, summary, thawWish } from "./restore-report.js";
import type { Runner } from "./runner.js";
import { stageIn } from "./stage-in.js";

interface RestoreOptions extends TrustFlags, TransferFlags {
  to?: string;
  from?: string;
  tier?: RestoreTier;
  deadline?: number;
  days: number;
  wait: boolean;
  dryRun: boolean;
  stageIn?: string;
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
    .option(
      "--stage-in <file>",
      "restore the input paths a job lists in FILE (one a line, # comments) that are not on disk; " +
        "exits 75 while some are still thawing (with --wait: waits, until --deadline if given)",
    )
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
        if (opts.stageIn !== undefined) return stageIn(ctx, ref, opts.stageIn, settings, opts);
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
  const thaw = thawWish(opts);
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
  const options = { target, thaw, dryRun: opts.dryRun, transfers: settings.transfers, onPack: packHeard(ctx, tally) };
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

function directoryArg(dir: string): Promise<RestoreTarget> {
  const parsed = parseLocationUrl(dir);
  if (!descriptorOf(parsed.kind).fileTree || !("root" in parsed))
    throw new UsageError(`--to ${dir}: restore writes to a directory`);
  return directoryTarget(parsed.root);
}
