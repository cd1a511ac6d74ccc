import type { CatalogDb } from "../catalog/db.js";
import { UsageError } from "../config/errors.js";
import { breakEvenMonth, cumulative, projectLinear, returnOnInvestment } from "../cost/forecast.js";
import { monthlyStorageCost, type PriceProfile, releaseDelta } from "../cost/index.js";
import { classPrice, DAYS_PER_MONTH, GIB } from "../cost/profile.js";
import type { DeletePolicyAction, PolicyAction } from "../policy/actions.js";
import type { Config } from "../policy/config-schema.js";
import { planPolicies } from "../policy/planner.js";
import {
  billedClass,
  costNow,
  type PricedPlace,
  pricedPlaces,
  priceSourceOf,
  tierName,
  uniqueSources,
} from "./cost-now.js";
import { scanGrowth } from "./growth.js";
import type { Forecast, ForecastMonth, Growth } from "./model.js";

/*
 * `strata cost forecast`: the monthly cost of every tier ("location/class") over the coming
 * months, as-is and with the enabled policies' current plan applied in month 1.
 *
 * Assumptions (docs/cost-model.md, "Forecast"):
 *  - A location grows linearly at its scan history's least-squares rate; month m holds the
 *    bytes reached at its start, today's plus rate × 30 × (m − 1) (never below nothing).
 *  - A byte added at a location costs what its bytes cost per byte today (the location's
 *    blended $/GB-month, monthly cost ÷ stored bytes), in the same tiers in the same shares.
 *  - With policies, a byte added at a location is treated as each policy treats the bytes it
 *    acts on there now: on top of its as-is cost, every policy's monthly deltas on that
 *    location's files (new copies elsewhere, releases, class moves, purges; not the prunes of
 *    files already deleted) ÷ the bytes of the files they act on, in the tiers they land in.
 *    Measured on the pending actions alone, this holds as well when most files were handled by
 *    earlier runs as for a first plan.
 *  - A location without a growth rate (one scan, scans within a day, never scanned) stays flat
 *    and `unknown` says so: no rate is ever invented.
 */

/** The horizons whose cumulative totals every forecast reports (3 and 5 years). */
export const TOTAL_HORIZONS = [36, 60] as const;

/** Per tier, USD per month. */
type TierCosts = Map<string, number>;

export async function forecastCosts(
  catalog: CatalogDb,
  config: Config,
  options: { months: number; now: number },
): Promise<Forecast> {
  const { months, now } = options;
  const current = await costNow(catalog, config, { by: ["location", "class"], now });
  const places = await pricedPlaces(catalog, config);
  const growth = await scanGrowth(catalog);
  const unknown = [...current.unknown];

  const base: TierCosts = new Map();
  const atLocation = new Map<string, { stored: number; tiers: TierCosts }>();
  for (const line of current.lines) {
    const location = line.group.location as string;
    const tier = tierName(location, line.group.class as string);
    add(base, tier, line.monthly);
    const here = atLocation.get(location) ?? { stored: 0, tiers: new Map() };
    here.stored += line.storedBytes;
    add(here.tiers, tier, line.monthly);
    atLocation.set(location, here);
  }

  const plan = await planEffects(catalog, config, places, now);
  if (plan.error) unknown.push(`with policies: no plan could be made (${plan.error}); priced as-is`);

  const horizon = Math.max(months, ...TOTAL_HORIZONS);
  const asIs = tierSeries(base, new Map(), horizon);
  const withPolicies = tierSeries(base, plan.byTier, horizon);
  for (const location of new Set([...atLocation.keys(), ...growth.map((g) => g.location)])) {
    const rate = growth.find((g) => g.location === location);
    const here = atLocation.get(location) ?? { stored: 0, tiers: new Map() };
    if (rate?.bytesPerDay === undefined) {
      if (here.stored > 0) unknown.push(`growth of ${location} unknown: ${rate?.basis ?? "never scanned"}`);
      continue;
    }
    const place = places.get(location);
    if (!place) continue;
    const added = addedBytes(rate, here.stored, horizon);
    const asIsPerByte = perByte(place, here);
    const withPerByte = withTreatments(asIsPerByte, plan.bySource.get(location));
    addGrowth(asIs, asIsPerByte, added);
    addGrowth(withPolicies, withPerByte, added);
  }

  const asIsTotals = monthTotals(asIs, horizon);
  const withTotals = monthTotals(withPolicies, horizon);
  const { oneTime } = plan;
  const shown = (series: number[]) => series.slice(0, months);
  const breakEven = plan.actions > 0 ? breakEvenMonth(shown(asIsTotals), shown(withTotals), oneTime) : undefined;
  const roi = returnOnInvestment(cumulative(asIsTotals, months), cumulative(withTotals, months), oneTime);
  return {
    at: new Date(now).toISOString(),
    months: forecastMonths(asIs, withPolicies, asIsTotals, withTotals, months),
    growth,
    migration: {
      oneTime,
      monthlySaving: (asIsTotals[0] ?? 0) - (withTotals[0] ?? 0),
      ...(breakEven === undefined ? {} : { breakEvenMonth: breakEven }),
    },
    totals: TOTAL_HORIZONS.map((h) => ({
      months: h,
      asIs: cumulative(asIsTotals, h),
      withPolicies: cumulative(withTotals, h) + oneTime,
    })),
    ...(roi === undefined ? {} : { roi }),
    prices: uniqueSources([...current.prices, ...[...plan.profiles].map(priceSourceOf)]),
    unknown,
  };
}

function add(costs: TierCosts, tier: string, amount: number): void {
  costs.set(tier, (costs.get(tier) ?? 0) + amount);
}

/** Each tier's monthly cost over the horizon, starting from base + deltas (flat until growth is added). */
function tierSeries(base: TierCosts, deltas: TierCosts, horizon: number): Map<string, number[]> {
  const series = new Map<string, number[]>();
  for (const tier of new Set([...base.keys(), ...deltas.keys()])) {
    series.set(tier, projectLinear({ base: (base.get(tier) ?? 0) + (deltas.get(tier) ?? 0), perMonth: 0 }, horizon));
  }
  return series;
}

/** Bytes added at a location by the start of each month: rate × 30 × (m − 1), never below removing all of it. */
function addedBytes(growth: Growth, stored: number, horizon: number): number[] {
  const perMonth = (growth.bytesPerDay as number) * DAYS_PER_MONTH;
  return projectLinear({ base: 0, perMonth }, horizon).map((bytes) => Math.max(-stored, bytes));
}

/**
 * What one more byte at a location costs a month, per tier: its tiers' cost ÷ its stored bytes.
 * A location with nothing stored yet has no blend: a new byte is priced at its default class's
 * storage rate.
 */
function perByte(place: PricedPlace, here: { stored: number; tiers: TierCosts }): TierCosts {
  if (here.stored <= 0) {
    const rate = classPrice(place.profile, undefined).storagePerGBMonth / GIB;
    return new Map([[tierName(place.name, billedClass(place, undefined)), rate]]);
  }
  return new Map([...here.tiers].map(([tier, cost]) => [tier, cost / here.stored]));
}

/** The as-is cost of a new byte, plus what each policy's treatment of a byte there adds per tier. */
function withTreatments(asIs: TierCosts, treatments: Map<string, Treatment> | undefined): TierCosts {
  const costs: TierCosts = new Map(asIs);
  for (const treatment of treatments?.values() ?? []) {
    if (treatment.bytes <= 0) continue;
    for (const [tier, delta] of treatment.tiers) add(costs, tier, delta / treatment.bytes);
  }
  return costs;
}

function addGrowth(series: Map<string, number[]>, costPerByte: TierCosts, added: number[]): void {
  for (const [tier, rate] of costPerByte) {
    const months = series.get(tier) ?? added.map(() => 0);
    series.set(
      tier,
      months.map((cost, i) => cost + rate * (added[i] as number)),
    );
  }
}

function monthTotals(series: Map<string, number[]>, horizon: number): number[] {
  const totals = new Array<number>(horizon).fill(0);
  for (const months of series.values()) {
    months.forEach((cost, i) => {
      totals[i] = (totals[i] as number) + cost;
    });
  }
  return totals;
}

function forecastMonths(
  asIs: Map<string, number[]>,
  withPolicies: Map<string, number[]>,
  asIsTotals: number[],
  withTotals: number[],
  months: number,
): ForecastMonth[] {
  const tiers = [...new Set([...asIs.keys(), ...withPolicies.keys()])].sort();
  const at = (series: Map<string, number[]>, tier: string, i: number) => series.get(tier)?.[i] ?? 0;
  return Array.from({ length: months }, (_, i) => ({
    month: i + 1,
    asIs: asIsTotals[i] as number,
    withPolicies: withTotals[i] as number,
    asIsByTier: Object.fromEntries(tiers.map((tier) => [tier, at(asIs, tier, i)])),
    withPoliciesByTier: Object.fromEntries(tiers.map((tier) => [tier, at(withPolicies, tier, i)])),
  }));
}

// ---- The plan's effect --------------------------------------------------------------------------

interface PlanEffects {
  actions: number;
  oneTime: number;
  /** Monthly deltas per tier once the plan is applied. */
  byTier: TierCosts;
  /** Per location of the files acted on, per policy: how it treats them (prunes left out). */
  bySource: Map<string, Map<string, Treatment>>;
  profiles: Set<PriceProfile>;
  /** Why no plan could be made (a refused prune, a policy the config cannot place). */
  error?: string;
}

/** What a policy's pending actions do to the bill per tier, and the bytes of the files they act on. */
interface Treatment {
  bytes: number;
  tiers: TierCosts;
  /** The file last counted: a file's actions come together, so each file's bytes count once. */
  lastFile?: number;
}

function treat(bySource: Map<string, Map<string, Treatment>>, action: PolicyAction, tier: string, delta: number): void {
  const policies = bySource.get(action.file.location) ?? new Map<string, Treatment>();
  bySource.set(action.file.location, policies);
  const treatment: Treatment = policies.get(action.policy) ?? { bytes: 0, tiers: new Map() };
  policies.set(action.policy, treatment);
  if (treatment.lastFile !== action.file.fileId) {
    treatment.lastFile = action.file.fileId;
    treatment.bytes += action.file.size;
  }
  add(treatment.tiers, tier, delta);
}

/** Deletes are looked up in batches of this many for their replicas' classes. */
const DELETE_BATCH = 500;

/**
 * The enabled policies' plan as of `now`, streamed: each action's one-time cost, and its monthly
 * delta put on the tiers it changes (a transition takes from its old class and adds to the new).
 */
async function planEffects(
  catalog: CatalogDb,
  config: Config,
  places: Map<string, PricedPlace>,
  now: number,
): Promise<PlanEffects> {
  const effects: PlanEffects = { actions: 0, oneTime: 0, byTier: new Map(), bySource: new Map(), profiles: new Set() };
  const record = (action: PolicyAction, tier: string, delta: number, place: PricedPlace) => {
    add(effects.byTier, tier, delta);
    effects.profiles.add(place.profile);
    // A prune removes copies of files already deleted: nothing new data will go through.
    if (action.kind !== "delete") treat(effects.bySource, action, tier, delta);
  };
  // A releasing policy frees a source only once its copies exist: a plan made before them lists
  // the copies alone, and the release comes with the next run. Both are counted as applied in
  // month 1, the release once per file (a file's actions come together).
  const releasing = new Set(config.policies.filter((p) => p.enabled && p.then === "release").map((p) => p.name));
  let lastFollowed: string | undefined;
  const followOn = (action: PolicyAction) => {
    const file = `${action.policy}\u0000${action.file.fileId}`;
    if (action.kind !== "copy" || !releasing.has(action.policy) || file === lastFollowed) return;
    lastFollowed = file;
    const source = placeOf(places, action.file.location);
    const freed = releaseDelta({ profile: source.profile }, action.file.size).monthly;
    record(action, tierName(source.name, billedClass(source, null)), freed, source);
  };
  let deletes: DeletePolicyAction[] = [];
  const flushDeletes = async () => {
    const classes = await replicaClasses(
      catalog,
      deletes.map((d) => d.replicaId),
    );
    for (const action of deletes) {
      const place = placeOf(places, action.at);
      record(
        action,
        tierName(action.at, billedClass(place, classes.get(action.replicaId))),
        action.monthlyCostDelta,
        place,
      );
    }
    deletes = [];
  };
  try {
    for await (const action of planPolicies(catalog, config, { now })) {
      effects.actions += 1;
      effects.oneTime += action.oneTimeCost;
      if (action.kind === "delete") {
        deletes.push(action);
        if (deletes.length >= DELETE_BATCH) await flushDeletes();
        continue;
      }
      for (const { place, storageClass, delta } of tierDeltas(action, places)) {
        record(action, tierName(place.name, billedClass(place, storageClass)), delta, place);
      }
      followOn(action);
    }
    await flushDeletes();
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    return { actions: 0, oneTime: 0, byTier: new Map(), bySource: new Map(), profiles: new Set(), error: err.message };
  }
  return effects;
}

function placeOf(places: Map<string, PricedPlace>, name: string): PricedPlace {
  const place = places.get(name);
  if (!place) throw new UsageError(`location ${name} is neither in the config nor in the catalog`);
  return place;
}

/** Where an action (other than a delete) changes the monthly bill, and by how much. */
function tierDeltas(
  action: Exclude<PolicyAction, DeletePolicyAction>,
  places: Map<string, PricedPlace>,
): { place: PricedPlace; storageClass: string | null; delta: number }[] {
  switch (action.kind) {
    case "copy":
      return [{ place: placeOf(places, action.to), storageClass: action.storageClass, delta: action.monthlyCostDelta }];
    case "transition": {
      // The planner's delta is the new class's storage less the old's, both at the file's size.
      const place = placeOf(places, action.at);
      const into = monthlyStorageCost(place.profile, action.toClass, action.bytes);
      return [
        { place, storageClass: action.toClass, delta: into },
        { place, storageClass: action.fromClass, delta: action.monthlyCostDelta - into },
      ];
    }
    case "release":
    case "purge":
    case "restore":
      // Frees (or, for a restore, fills) the file's own place, in that location's class.
      return [{ place: placeOf(places, action.file.location), storageClass: null, delta: action.monthlyCostDelta }];
    case "notify":
      return [];
  }
}

async function replicaClasses(catalog: CatalogDb, ids: number[]): Promise<Map<number, string | null>> {
  if (ids.length === 0) return new Map();
  const rows = await catalog.db.selectFrom("replicas").select(["id", "storage_class"]).where("id", "in", ids).execute();
  return new Map(rows.map((row) => [Number(row.id), row.storage_class]));
}
