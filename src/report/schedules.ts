import { Cron } from "croner";
import { formatBytes } from "../config/units.js";
import type { Config } from "../policy/config-schema.js";
import type { Policy } from "../policy/schema.js";
import type { Growth, PairRate, ScheduleNeed } from "./model.js";
import { measuredRate, rateWords } from "./pair-rate.js";
import { durationWords } from "./words.js";

const DAY_S = 86_400;

/**
 * What each scheduled, enabled policy needs inside the time between two of its runs. The
 * window is the gap between the schedule's next two runs after `now`, as the daemon's clock
 * (croner, local time) will fire them. A run is assumed to move what its sources grew by over
 * one window (the scan history's least-squares daily growth): new data, not the backlog a
 * first run works through, which the migration waves cover.
 */
export function scheduleNeeds(
  config: Config,
  options: { growth: Growth[]; rates: PairRate[]; now: number },
): ScheduleNeed[] {
  return config.policies
    .filter((policy): policy is Policy & { schedule: string } => policy.enabled && policy.schedule !== undefined)
    .map((policy) => need(policy, options));
}

function need(
  policy: Policy & { schedule: string },
  options: { growth: Growth[]; rates: PairRate[]; now: number },
): ScheduleNeed {
  const windowSeconds = scheduleWindow(policy.schedule, options.now);
  const facts: ScheduleNeed = { policy: policy.name, schedule: policy.schedule, windowSeconds, basis: "" };
  const basis = [`window ${durationWords(windowSeconds * 1000)} between the next two runs`];
  const growth = growthPerWindow(policy, options.growth, windowSeconds);
  basis.push(growth.basis);
  if (growth.bytesPerSource === undefined) return { ...facts, basis: basis.join("; ") };
  const bytesPerRun = [...growth.bytesPerSource.values()].reduce((a, b) => a + b, 0);
  const time = runTime(policy, growth.bytesPerSource, options.rates);
  basis.push(time.basis);
  return {
    ...facts,
    bytesPerRun,
    ...(time.seconds === undefined ? {} : { secondsNeeded: time.seconds }),
    ...(time.seconds ? { headroom: windowSeconds / time.seconds } : {}),
    basis: basis.join("; "),
  };
}

/** Seconds between the schedule's next two runs after `now`. */
export function scheduleWindow(schedule: string, now: number): number {
  const [first, second] = new Cron(schedule, { paused: true }).nextRuns(2, new Date(now));
  if (!first || !second) return 0;
  return (second.getTime() - first.getTime()) / 1000;
}

/**
 * Each source's growth over one window; unknown when any source has no growth rate. A source
 * that shrank gives nothing to move, not a negative amount.
 */
function growthPerWindow(
  policy: Policy,
  growth: Growth[],
  windowSeconds: number,
): { bytesPerSource?: Map<string, number>; basis: string } {
  const bytesPerSource = new Map<string, number>();
  const words: string[] = [];
  for (const from of policy.from) {
    const found = growth.find((g) => g.location === from);
    if (found?.bytesPerDay === undefined) {
      return { basis: `growth of ${from} unknown (${found?.basis ?? "never scanned"}): bytes per run unknown` };
    }
    bytesPerSource.set(from, Math.max(0, found.bytesPerDay) * (windowSeconds / DAY_S));
    const perDay =
      found.bytesPerDay < 0 ? `shrinks ${formatBytes(-found.bytesPerDay)}` : `grows ${formatBytes(found.bytesPerDay)}`;
    words.push(`${from} ${perDay} a day (${found.basis})`);
  }
  return { bytesPerSource, basis: words.join(", ") };
}

/**
 * The time one run takes to copy its bytes to every place, pair after pair at the measured
 * rates. Summed, not the slowest place alone: a run's copies to all its places share one pool
 * of transfers, and transferRates lends each pair only its share of a run's wall time, so the
 * pairs' times add up to the run's.
 */
function runTime(
  policy: Policy,
  bytesPerSource: ReadonlyMap<string, number>,
  rates: PairRate[],
): { seconds?: number; basis: string } {
  if (policy.place.length === 0) return { basis: "no place entries: nothing is copied" };
  let seconds = 0;
  const used: string[] = [];
  for (const place of policy.place) {
    for (const [from, bytes] of bytesPerSource) {
      const rate = measuredRate(rates, from, place.to);
      if (!rate) return { basis: `no run has copied from ${from} to ${place.to} yet: time needed unknown` };
      seconds += bytes / rate.bytesPerSecond;
      used.push(rateWords(rate));
    }
  }
  return { seconds, basis: `measured ${used.join(", ")}` };
}
