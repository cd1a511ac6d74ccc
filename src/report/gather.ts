import { sql } from "kysely";
import type { CatalogDb } from "../catalog/db.js";
import type { Config } from "../policy/config-schema.js";
import { type TierProfile, tierProfiles } from "./age-profile.js";
import { compareCosts } from "./compare.js";
import { costNow } from "./cost-now.js";
import { dataFlow } from "./flow.js";
import { forecastCosts } from "./forecast.js";
import { scanGrowth } from "./growth.js";
import type {
  Comparison,
  CostNow,
  DataFlow,
  Forecast,
  Growth,
  MigrationWave,
  PairRate,
  RecallScenario,
  ScheduleNeed,
} from "./model.js";
import { transferRates } from "./rates.js";
import { scheduleNeeds } from "./schedules.js";
import { migrationWaves } from "./waves.js";

/** The recall scenario the report prices placements under, and says it does: 5% of the bytes read back a year. */
export const REPORT_RECALL: RecallScenario = { sharePerYear: 0.05 };

/** One policy as configured: what the implementation plan lists as a synchronization procedure. */
export interface Procedure {
  policy: string;
  enabled: boolean;
  from: string[];
  /** Each place entry in words: "archive (seed tiering)", "tape (class DEEP_ARCHIVE)". */
  to: string[];
  schedule?: string;
  copies: number;
  then: string;
  prune: boolean;
  /** The policy's selector and filters in words, as the data-flow diagram writes them. */
  selects: string[];
  purge?: { afterMs: number; graceMs: number; notices?: string; webhook?: string };
}

/** What watches the data today: the runs' outcomes, verification, retention and notices. */
export interface Monitoring {
  /** "forever", or how long events are kept, in ms. */
  eventsRetention: "forever" | number;
  /** Runs finished in the last 30 days, per command and status. */
  recentRuns: { command: string; status: string; runs: number; lastFinished: string }[];
  replicas: { total: number; verified: number };
  /** Purge notices announced and not yet carried out. */
  pendingPurgeNotices: number;
}

/** Everything the three deliverables show, gathered once, read-only. */
export interface ReportData {
  at: string;
  months: number;
  recall: RecallScenario;
  locations: { name: string; url: string; class?: string }[];
  tiers: TierProfile[];
  cost: { byTier: CostNow; byOwner: CostNow; byProject: CostNow };
  comparison: Comparison;
  forecast: Forecast;
  growth: Growth[];
  rates: PairRate[];
  flow: DataFlow;
  waves: MigrationWave[];
  schedules: ScheduleNeed[];
  procedures: Procedure[];
  monitoring: Monitoring;
}

const RECENT_MS = 30 * 86_400_000;

export async function gatherReport(
  catalog: CatalogDb,
  config: Config,
  options: { now: number; months: number /** Where the config's relative URLs start. */; baseDir?: string },
): Promise<ReportData> {
  const { now, months } = options;
  const growth = await scanGrowth(catalog);
  const rates = await transferRates(catalog);
  const flow = dataFlow(config, options.baseDir === undefined ? {} : { baseDir: options.baseDir });
  const byTier = await costNow(catalog, config, { by: ["location", "class"], now });
  const comparison = await compareCosts(catalog, config, { recall: REPORT_RECALL, now });
  return {
    at: new Date(now).toISOString(),
    months,
    recall: REPORT_RECALL,
    locations: Object.entries(config.locations).map(([name, l]) => ({
      name,
      url: l.url,
      ...(l.class ? { class: l.class } : {}),
    })),
    tiers: await tierProfiles(catalog, now),
    cost: {
      byTier,
      byOwner: await costNow(catalog, config, { by: ["owner"], now }),
      byProject: await costNow(catalog, config, { by: ["project"], now }),
    },
    // What the data costs where it is now is cost now's total: compare leaves it to its caller.
    comparison: { ...comparison, currentMonthly: byTier.total.monthly },
    forecast: await forecastCosts(catalog, config, { months, now }),
    growth,
    rates,
    flow,
    waves: await migrationWaves(catalog, config, { now, rates }),
    schedules: scheduleNeeds(config, { growth, rates, now }),
    procedures: proceduresOf(config, flow),
    monitoring: await monitoringOf(catalog, config, now),
  };
}

export function proceduresOf(config: Config, flow: DataFlow): Procedure[] {
  return config.policies.map((policy) => ({
    policy: policy.name,
    enabled: policy.enabled,
    from: policy.from,
    to: policy.place.map(
      (p) => `${p.to} (${p.tiering ? `${p.tiering} tiering` : p.class ? `class ${p.class}` : "the location's class"})`,
    ),
    ...(policy.schedule ? { schedule: policy.schedule } : {}),
    copies: policy.copies,
    // biome-ignore lint/suspicious/noThenProperty: the policy language's word; this object is never awaited
    then: policy.then,
    prune: policy.prune,
    selects: [...new Set(flow.edges.filter((e) => e.policy === policy.name).flatMap((e) => e.selects))],
    ...(policy.purge
      ? {
          purge: {
            afterMs: policy.purge.after,
            graceMs: policy.purge.grace,
            ...(policy.purge.notices ? { notices: policy.purge.notices } : {}),
            ...(policy.purge.webhook ? { webhook: policy.purge.webhook } : {}),
          },
        }
      : {}),
  }));
}

async function monitoringOf(catalog: CatalogDb, config: Config, now: number): Promise<Monitoring> {
  const runs = await catalog.db
    .selectFrom("runs")
    .select(["command", "status", sql<number>`COUNT(*)`.as("runs"), sql<number>`MAX(finished_at)`.as("last")])
    .where("finished_at", ">=", now - RECENT_MS)
    .groupBy(["command", "status"])
    .orderBy("command")
    .orderBy("status")
    .execute();
  const replicas = await catalog.db
    .selectFrom("replicas")
    .select([sql<number>`COUNT(*)`.as("total"), sql<number>`COUNT(verified_at)`.as("verified")])
    .where("state", "<>", "lost")
    .executeTakeFirst();
  const notices = await catalog.db
    .selectFrom("purge_notices")
    .select(sql<number>`COUNT(*)`.as("pending"))
    .executeTakeFirst();
  return {
    eventsRetention: config.history.retention,
    recentRuns: runs.map((r) => ({
      command: r.command,
      status: r.status,
      runs: Number(r.runs),
      lastFinished: new Date(Number(r.last)).toISOString(),
    })),
    replicas: { total: Number(replicas?.total ?? 0), verified: Number(replicas?.verified ?? 0) },
    pendingPurgeNotices: Number(notices?.pending ?? 0),
  };
}
