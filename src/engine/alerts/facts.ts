import { statfs } from "node:fs/promises";
import { parseLocationUrl } from "../../backends/all.js";
import type { CatalogDb } from "../../catalog/db.js";
import type { RunTable } from "../../catalog/schema.js";
import type { AlertsConfig } from "../../policy/alerts-config.js";
import type { Config } from "../../policy/config-schema.js";

/*
 * What the alert conditions look at, read from the catalog's small tables (runs, replicas by
 * state, restore requests) and statfs, never a walk of files. Only what a configured condition
 * needs is read: the cost, the dearest fact, is computed only under `costOverBudget`.
 */

export interface FillFact {
  location: string;
  /** Used share of the filesystem, 0 to 100, as df counts it; absent when statfs failed. */
  usedPercent?: number;
  /** Why there is no fill: statfs failed, or the name is not a POSIX location. */
  error?: string;
}

export interface PolicyRunFact {
  policy: string;
  schedule: string;
  /** When its latest successful run finished; absent if none has. */
  lastSuccess?: number;
  /** When its first run started: a policy that never succeeded is late from then. */
  firstRun?: number;
}

export interface RunFact {
  id: number;
  command: string;
  status: RunTable["status"];
  finishedAt: number;
}

export interface CountFact {
  location: string;
  count: number;
  /** The oldest item's time (for thaws: when it was asked for). */
  oldest?: number;
}

export interface AlertFacts {
  fills: FillFact[];
  policies: PolicyRunFact[];
  /** The latest finished run of each command. */
  latestRuns: RunFact[];
  lostReplicas: CountFact[];
  /** Restores pending since before the thaw limit, per location of the archived replica. */
  waitingThaws: CountFact[];
  monthlyCost?: number;
}

export interface FactSources {
  catalog: CatalogDb;
  config: Config;
  /** Where relative location URLs are taken from (the config file's directory). */
  baseDir: string;
  /** This month's cost of what is stored (`strata cost`'s total), asked for only under costOverBudget. */
  monthlyCost(): Promise<number>;
}

export async function gatherFacts(sources: FactSources, alerts: AlertsConfig, now: number): Promise<AlertFacts> {
  const { conditions } = alerts;
  const { catalog } = sources;
  const thawLimit = conditions.thawWaiting?.after;
  return {
    fills: conditions.posixFill ? await fills(sources, conditions.posixFill.locations) : [],
    policies: conditions.stalePolicy ? await policyRuns(sources) : [],
    latestRuns: conditions.failedRuns ? await latestRuns(catalog) : [],
    lostReplicas: conditions.lostReplicas ? await lostReplicas(catalog) : [],
    waitingThaws: thawLimit === undefined ? [] : await waitingThaws(catalog, now - thawLimit),
    ...(conditions.costOverBudget ? { monthlyCost: await sources.monthlyCost() } : {}),
  };
}

/** Each POSIX location's fill; `only` narrows them to the named ones (a name that is not one fails, to be told). */
async function fills(sources: FactSources, only: readonly string[] | undefined): Promise<FillFact[]> {
  const { locations } = sources.config;
  const roots = new Map<string, string>();
  for (const [name, settings] of Object.entries(locations)) {
    const parsed = parseLocationUrl(settings.url, sources.baseDir);
    if ("root" in parsed) roots.set(name, parsed.root);
  }
  const names = only ?? [...roots.keys()];
  return Promise.all(
    names.map((name) => {
      const root = roots.get(name);
      return root === undefined ? { location: name, error: "not a POSIX location of the config" } : fillOf(name, root);
    }),
  );
}

async function fillOf(location: string, root: string): Promise<FillFact> {
  try {
    const fs = await statfs(root);
    // df's Use%: used over what non-root users can have (used + available), rounded up.
    const used = fs.blocks - fs.bfree;
    const usable = used + fs.bavail;
    return { location, usedPercent: usable === 0 ? 0 : (used / usable) * 100 };
  } catch (err) {
    return { location, error: `statfs failed: ${(err as Error).message}` };
  }
}

/** Each enabled scheduled policy's latest success and first run (its runs are `apply <names…>`). */
async function policyRuns({ catalog, config }: FactSources): Promise<PolicyRunFact[]> {
  const rows = await catalog.db
    .selectFrom("runs")
    .select("command")
    .select((eb) => [
      eb.fn.min("started_at").as("first"),
      eb.fn.max(eb.case().when("status", "=", "done").then(eb.ref("finished_at")).else(null).end()).as("success"),
    ])
    .where("command", "like", "apply %")
    .groupBy("command")
    .execute();
  return config.policies
    .filter((p): p is typeof p & { schedule: string } => p.enabled && p.schedule !== undefined)
    .map((policy) => {
      const mine = rows.filter((row) => row.command.split(" ").slice(1).includes(policy.name));
      const lastSuccess = latest(mine.map((row) => row.success));
      const firstRun = earliest(mine.map((row) => row.first));
      return {
        policy: policy.name,
        schedule: policy.schedule,
        ...(lastSuccess === undefined ? {} : { lastSuccess }),
        ...(firstRun === undefined ? {} : { firstRun }),
      };
    });
}

function known(values: readonly (number | string | null)[]): number[] {
  return values.filter((v) => v !== null).map(Number);
}

function latest(values: readonly (number | string | null)[]): number | undefined {
  const list = known(values);
  return list.length === 0 ? undefined : Math.max(...list);
}

function earliest(values: readonly (number | string | null)[]): number | undefined {
  const list = known(values);
  return list.length === 0 ? undefined : Math.min(...list);
}

async function latestRuns({ db }: CatalogDb): Promise<RunFact[]> {
  const latestIds = db
    .selectFrom("runs")
    .select((eb) => eb.fn.max("id").as("id"))
    .where("finished_at", "is not", null)
    .groupBy("command");
  const rows = await db
    .selectFrom("runs")
    .select(["id", "command", "status", "finished_at"])
    .where("id", "in", latestIds)
    .execute();
  return rows.map((r) => ({ id: r.id, command: r.command, status: r.status, finishedAt: Number(r.finished_at) }));
}

async function lostReplicas({ db }: CatalogDb): Promise<CountFact[]> {
  const rows = await db
    .selectFrom("replicas")
    .innerJoin("locations", "locations.id", "replicas.location_id")
    .select("locations.name as location")
    .select((eb) => eb.fn.countAll().as("count"))
    .where("replicas.state", "=", "lost")
    .groupBy("locations.name")
    .execute();
  return rows.map((r) => ({ location: r.location, count: Number(r.count) }));
}

async function waitingThaws({ db }: CatalogDb, askedBefore: number): Promise<CountFact[]> {
  const rows = await db
    .selectFrom("restore_requests")
    .innerJoin("replicas", "replicas.id", "restore_requests.replica_id")
    .innerJoin("locations", "locations.id", "replicas.location_id")
    .select("locations.name as location")
    .select((eb) => [eb.fn.countAll().as("count"), eb.fn.min("restore_requests.requested_at").as("oldest")])
    .where("restore_requests.state", "=", "pending")
    .where("restore_requests.requested_at", "<", askedBefore)
    .groupBy("locations.name")
    .execute();
  return rows.map((r) => ({ location: r.location, count: Number(r.count), oldest: Number(r.oldest) }));
}
