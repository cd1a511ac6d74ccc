import type { RestoreTier } from "../backends/backend.js";
import { printablePath } from "../backends/keys.js";
import { formatBytes, formatDuration } from "../config/units.js";
import type { FileOutcome, PackPlan, PendingReport, ThawWish } from "../engine/restore.js";
import type { Context } from "./context.js";
import { filesAndBytes, rates } from "./output.js";
import { EXIT } from "./runner.js";

/** What a restore did, counted as it goes, and how it is reported at the end (text or JSON). */

export interface Tally {
  restored: { files: number; bytes: number };
  /** Files whose place already held the version: left alone. */
  inPlace: number;
  /** Files restored per replica location. */
  sources: Record<string, number>;
  thawRequested: Thaw[];
  /** Objects this run asked to thaw (a pack once for all its members). */
  thawsAsked: number;
  stillThawing: Thaw[];
  /** What was done with each pack, once per pack. */
  packs: PackPlan[];
  failures: { path: string; error: string }[];
  /** Restore requests to wait for. */
  waitFor: number[];
}

export interface Thaw {
  path: string;
  from: string;
  tier: RestoreTier;
  expectedAt: string | null;
}

export function newTally(): Tally {
  return {
    restored: { files: 0, bytes: 0 },
    inPlace: 0,
    sources: {},
    thawRequested: [],
    thawsAsked: 0,
    stillThawing: [],
    packs: [],
    failures: [],
    waitFor: [],
  };
}

/** The thaw wish the flags make: a tier, or the cheapest within a deadline; days the copy stays. */
export function thawWish(opts: {
  days: number;
  tier?: RestoreTier | undefined;
  deadline?: number | undefined;
}): ThawWish {
  return {
    days: opts.days,
    ...(opts.tier ? { tier: opts.tier } : {}),
    ...(opts.deadline !== undefined ? { deadlineMs: opts.deadline } : {}),
  };
}

/** Each pack's line, once: what was done (or would be) with it, for how many files, cost and time. */
export function packHeard(ctx: Context, tally: Tally): (plan: PackPlan) => void {
  return (plan) => {
    tally.packs.push(plan);
    const files = `${plan.files} file(s), ${formatBytes(plan.bytes)}`;
    const tier = plan.tier ? ` (tier ${plan.tier})` : "";
    const when =
      plan.expectedAt != null
        ? `, expected by ${new Date(plan.expectedAt).toISOString()}`
        : plan.latencyMs !== undefined
          ? `, done in about ${formatDuration(plan.latencyMs)}`
          : "";
    const where = `pack ${printablePath(plan.pack)} at ${plan.location}`;
    const line = {
      "would-thaw": `would thaw ${where}${tier}: ${files}${costNote(plan.cost)}${when}`,
      "would-read": `would read ${files} from ${where}${costNote(plan.cost)}`,
      "thaw-asked": `thaw requested: ${where}${tier}: ${files}${costNote(plan.cost)}${when}`,
      thawing: `joined the thaw under way: ${where}${tier}: ${files}${when}`,
      read: `read ${files} from ${where}`,
    }[plan.action];
    if (plan.action === "read") ctx.out.detail(line);
    else ctx.out.info(line);
  };
}

export function count(ctx: Context, tally: Tally, path: string, outcome: FileOutcome): void {
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
      if (outcome.asked) tally.thawsAsked += 1;
      tally.stillThawing.push(thaw);
      tally.waitFor.push(outcome.requestId);
      if (outcome.requested) ctx.out.detail(`thaw requested: ${shown} at ${outcome.from} (tier ${outcome.tier})`);
      return;
    }
    case "would-read":
      if (outcome.pack) ctx.out.detail(`would restore ${shown} from pack ${printablePath(outcome.pack)}`);
      else ctx.out.info(`would restore ${shown} from ${outcome.from}${costNote(outcome.cost)}`);
      return;
    case "would-thaw":
      // A member's line names its pack; the pack's own line carries the thaw's cost, once.
      if (outcome.pack) ctx.out.detail(`would restore ${shown} from pack ${printablePath(outcome.pack)} once thawed`);
      else ctx.out.info(`would thaw ${shown} at ${outcome.from} (tier ${outcome.tier})${costNote(outcome.cost)}`);
      return;
    case "failed":
      tally.failures.push({ path, error: outcome.error });
  }
}

/** Folds pending restores into the tally: what is still thawing is its latest word. */
export function merge(tally: Tally, report: PendingReport): void {
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

export function summary(ctx: Context, tally: Tally, started: number, dryRun: boolean): number {
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
    const objects =
      tally.thawsAsked === tally.thawRequested.length ? "" : `, ${tally.thawsAsked} object(s) asked to thaw`;
    out.info(`Thaw requested for ${tally.thawRequested.length} file(s)${objects} (tier ${tiers})`);
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
    thawsAsked: tally.thawsAsked,
    stillThawing: tally.stillThawing,
    packs: tally.packs,
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
