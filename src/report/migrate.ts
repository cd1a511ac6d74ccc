import { type RawBuilder, sql } from "kysely";
import { type BackendKind, parseLocationUrl } from "../backends/all.js";
import type { CatalogDb } from "../catalog/db.js";
import { allLocations } from "../catalog/locations.js";
import type { LocationRow, ReplicaState } from "../catalog/schema.js";
import { UsageError } from "../config/errors.js";
import { type Cohort, cohortMonthlyStorage, restoreTierFor, sizeThresholds } from "../cost/cohort.js";
import { DEFAULT_RESTORE_DAYS } from "../cost/model.js";
import { profileFor } from "../cost/override.js";
import { classPrice, DAYS_PER_MONTH, GIB, type PriceProfile, resolveClass } from "../cost/profile.js";
import type { Config } from "../policy/config-schema.js";
import { priceSource } from "./compare.js";
import type { MigrationEstimate, PairRate } from "./model.js";
import { transferRates } from "./rates.js";

/*
 * Moving a location: what its objects cost to move once and to keep before and after, and how
 * long the move takes at the rate Strata's own runs measured. The objects are aggregated in
 * SQL, one row per storage class, whatever their number.
 */

const DAY_MS = 86_400_000;

/** A location as far as a migration goes: its backend kind, its prices, its default class. */
interface Place {
  name: string;
  kind: BackendKind;
  profile: PriceProfile;
  defaultClass: string;
  row?: LocationRow;
}

/** One storage class's objects at the source, with what leaving the class early would be billed. */
interface ClassCohort extends Cohort {
  storageClass: string;
  earlyDeletion: number;
}

export async function estimateMigration(
  catalog: CatalogDb,
  config: Config,
  options: { from: string; to: string; toClass?: string; now: number },
): Promise<MigrationEstimate> {
  if (options.from === options.to) {
    throw new UsageError(
      `cost migrate: "${options.to}" is both source and destination (a class change in place is a policy's transition)`,
    );
  }
  const rows = await allLocations(catalog);
  const from = placeOf(options.from, config, rows);
  const to = placeOf(options.to, config, rows);
  const toClass = resolveClass(to.profile, options.toClass ?? to.defaultClass);
  const thresholds = sizeThresholds([from.profile, to.profile]);
  const cohorts = from.row ? await sourceCohorts(catalog, from, thresholds, options.now) : [];
  const all = mergeCohorts(cohorts, thresholds);
  const basis: string[] = [];
  const unknown: string[] = [];
  if (!from.row) unknown.push(`nothing is recorded at ${from.name} yet: scan it (or sync to it) first`);

  const leaves = from.profile.name !== to.profile.name;
  const egress = leaves ? (all.bytes / GIB) * from.profile.egressPerGB : 0;
  basis.push(egressRule(from, to, leaves));

  let requests = (all.objects * classPrice(to.profile, toClass).putPer1000) / 1000;
  let retrieval = 0;
  let earlyDeletion = 0;
  let monthlyBefore = 0;
  for (const cohort of cohorts) {
    const price = classPrice(from.profile, cohort.storageClass);
    requests += (cohort.objects * price.getPer1000) / 1000;
    retrieval += (cohort.bytes / GIB) * price.retrievalPerGB;
    const restore = restoreTierFor(from.profile, cohort.storageClass, cohort.objects, cohort.bytes);
    if (restore) {
      // Thawed copies are kept a day at the default class's rate while they are read (as restoreDelta).
      const copies = (DEFAULT_RESTORE_DAYS / DAYS_PER_MONTH) * cohortMonthlyStorage(from.profile, undefined, cohort);
      retrieval += restore.cost + copies;
      basis.push(`${cohort.storageClass} at ${from.name} restored at its cheapest tier, ${restore.tier}`);
    }
    earlyDeletion += cohort.earlyDeletion;
    monthlyBefore += cohortMonthlyStorage(from.profile, cohort.storageClass, cohort);
  }
  const oneTime = egress + requests + retrieval + earlyDeletion;
  const timing = await timeOf(catalog, from, to, all.bytes, rows);
  return {
    from: from.name,
    to: to.name,
    toClass,
    objects: all.objects,
    bytes: all.bytes,
    egress,
    requests,
    retrieval,
    earlyDeletion,
    oneTime,
    monthlyBefore,
    monthlyAfter: all.objects === 0 ? 0 : cohortMonthlyStorage(to.profile, toClass, all),
    ...(timing.rate ? { rate: timing.rate } : {}),
    ...(timing.seconds !== undefined ? { seconds: timing.seconds } : {}),
    prices: from.profile === to.profile ? [priceSource(from.profile)] : [from.profile, to.profile].map(priceSource),
    basis: [...basis, ...timing.basis],
    unknown: [...unknown, ...timing.unknown],
  };
}

/**
 * The egress rule, in words: bytes leaving the source's provider pay its transfer out (first
 * tier); within one provider they are taken to stay in one region, where transfer is free; on
 * premises nothing is billed.
 */
function egressRule(from: Place, to: Place, leaves: boolean): string {
  if (!leaves)
    return `egress: none, ${from.name} and ${to.name} are both ${from.profile.name} (taken to be one region)`;
  if (from.profile.egressPerGB === 0) return `egress: none, ${from.name} (${from.profile.name}) bills no transfer out`;
  return (
    `egress: ${from.name} (${from.profile.name}) to ${to.name} (${to.profile.name}) leaves the provider: ` +
    `$${from.profile.egressPerGB}/GB, its first tier`
  );
}

/** A location named in the config, or one the catalog recorded; anything else is refused by name. */
function placeOf(name: string, config: Config, rows: readonly LocationRow[]): Place {
  const row = rows.find((r) => r.name === name);
  const settings = config.locations[name];
  if (settings) {
    const { kind, url } = parseLocationUrl(settings.url);
    const profile = profileFor({ kind, url, price: settings.price });
    return { name, kind, profile, defaultClass: resolveClass(profile, settings.class), ...(row ? { row } : {}) };
  }
  if (row) {
    const kind = row.kind as BackendKind;
    const profile = profileFor({ kind, url: row.url });
    return { name, kind, profile, defaultClass: resolveClass(profile, row.default_class ?? undefined), row };
  }
  const known = [...new Set([...Object.keys(config.locations), ...rows.map((r) => r.name)])];
  throw new UsageError(`unknown location "${name}" (known: ${known.join(", ") || "none"})`);
}

/**
 * The objects at the source, one cohort per storage class: a POSIX tree's present files (a
 * released file's data is elsewhere already), or an object store's live replicas.
 */
async function sourceCohorts(
  catalog: CatalogDb,
  from: Place,
  thresholds: readonly number[],
  nowMs: number,
): Promise<ClassCohort[]> {
  const locationId = (from.row as LocationRow).id;
  if (from.kind === "posix") {
    const present = sql`location_id = ${locationId} AND kind = 'file' AND state = 'present'`;
    // A file has no age in a class: on premises no class has a minimum duration to owe.
    return [await cohortOf(catalog, "files", present, from, from.defaultClass, thresholds, nowMs)];
  }
  const stored = await catalog.db
    .selectFrom("replicas")
    .select("storage_class")
    .distinct()
    .where("location_id", "=", locationId)
    .where("state", "in", LIVE_REPLICAS)
    .execute();
  const cohorts = new Map<string, ClassCohort[]>();
  for (const { storage_class } of stored) {
    const storageClass = resolveClass(from.profile, storage_class ?? from.defaultClass);
    const inClass = storage_class === null ? sql`storage_class IS NULL` : sql`storage_class = ${storage_class}`;
    const live = sql`location_id = ${locationId} AND state IN (${sql.join(LIVE_REPLICAS)}) AND ${inClass}`;
    const cohort = await cohortOf(catalog, "replicas", live, from, storageClass, thresholds, nowMs);
    cohorts.set(storageClass, [...(cohorts.get(storageClass) ?? []), cohort]);
  }
  return [...cohorts].map(([storageClass, parts]) => ({
    ...mergeCohorts(parts, thresholds),
    storageClass,
    earlyDeletion: parts.reduce((n, p) => n + p.earlyDeletion, 0),
  }));
}

/** Replicas whose objects exist at their location. */
const LIVE_REPLICAS: ReplicaState[] = ["present", "archived", "restoring", "replacing"];

/**
 * One class's aggregate, in SQL: count, bytes, bytes raised to each threshold, objects at each
 * threshold, and the early-deletion charge: Σ days left of the class's minimum × billable bytes.
 */
async function cohortOf(
  catalog: CatalogDb,
  table: "files" | "replicas",
  filter: RawBuilder<unknown>,
  from: Place,
  storageClass: string,
  thresholds: readonly number[],
  nowMs: number,
): Promise<ClassCohort> {
  const price = classPrice(from.profile, storageClass);
  const billable = sql`(CASE WHEN size < ${sql.lit(price.minBillableBytes)} THEN ${sql.lit(price.minBillableBytes)} ELSE size END + ${sql.lit(price.overhead?.classBytes ?? 0)})`;
  const start = nowMs - price.minStorageDays * DAY_MS;
  // Milliseconds still owed × billable bytes; unknown age (a file) counts as age 0.
  const owed =
    price.minStorageDays === 0
      ? sql`0`
      : table === "files"
        ? sql`${sql.lit(price.minStorageDays * DAY_MS)} * 1.0 * ${billable}`
        : sql`CASE WHEN created_at > ${sql.lit(start)} THEN (created_at - ${sql.lit(start)}) * 1.0 * ${billable} ELSE 0 END`;
  const selections = [
    sql`count(*) AS objects`,
    sql`coalesce(sum(size), 0) AS bytes`,
    sql`coalesce(sum(${owed}), 0) AS owed`,
    ...thresholds.flatMap((t, i) => [
      sql`coalesce(sum(CASE WHEN size < ${sql.lit(t)} THEN ${sql.lit(t)} ELSE size END), 0) AS ${sql.ref(`raised${i}`)}`,
      sql`coalesce(sum(CASE WHEN size >= ${sql.lit(t)} THEN 1 ELSE 0 END), 0) AS ${sql.ref(`atleast${i}`)}`,
    ]),
  ];
  const result = await sql<
    Record<string, unknown>
  >`SELECT ${sql.join(selections)} FROM ${sql.table(table)} WHERE ${filter}`.execute(catalog.db);
  const row = result.rows[0] ?? {};
  const raised = new Map(thresholds.map((t, i) => [t, Number(row[`raised${i}`])]));
  const atLeast = new Map(thresholds.map((t, i) => [t, Number(row[`atleast${i}`])]));
  const objects = Number(row.objects);
  const bytes = Number(row.bytes);
  const owedDays = Number(row.owed) / DAY_MS;
  return {
    storageClass,
    objects,
    bytes,
    raisedBytes: (minBytes) => (minBytes === 0 ? bytes : (raised.get(minBytes) as number)),
    objectsAtLeast: (minBytes) => (minBytes === 0 ? objects : (atLeast.get(minBytes) as number)),
    earlyDeletion: ((owedDays / DAYS_PER_MONTH) * price.storagePerGBMonth) / GIB,
  };
}

/** The objects of several cohorts as one. */
function mergeCohorts(parts: readonly Cohort[], thresholds: readonly number[]): Cohort {
  const objects = parts.reduce((n, p) => n + p.objects, 0);
  const bytes = parts.reduce((n, p) => n + p.bytes, 0);
  const raised = new Map(thresholds.map((t) => [t, parts.reduce((n, p) => n + p.raisedBytes(t), 0)]));
  const atLeast = new Map(thresholds.map((t) => [t, parts.reduce((n, p) => n + p.objectsAtLeast(t), 0)]));
  return {
    objects,
    bytes,
    raisedBytes: (minBytes) => (minBytes === 0 ? bytes : (raised.get(minBytes) as number)),
    objectsAtLeast: (minBytes) => (minBytes === 0 ? objects : (atLeast.get(minBytes) as number)),
  };
}

/**
 * The move's time at the rate measured from SRC to DST; never measured, at the closest pair
 * measured between the same kinds (same source first, then same target, then most bytes);
 * none, no time.
 */
async function timeOf(
  catalog: CatalogDb,
  from: Place,
  to: Place,
  bytes: number,
  rows: readonly LocationRow[],
): Promise<{ rate?: PairRate; seconds?: number; basis: string[]; unknown: string[] }> {
  const rates = (await transferRates(catalog)).filter((r) => r.bytesPerSecond > 0);
  const exact = rates.find((r) => r.from === from.name && r.to === to.name);
  const kinds = new Map(rows.map((r) => [r.name, r.kind]));
  const alike = rates
    .filter((r) => kinds.get(r.from) === from.kind && kinds.get(r.to) === to.kind)
    .sort((a, b) => closeness(b, from, to) - closeness(a, from, to) || b.bytes - a.bytes);
  const rate = exact ?? alike[0];
  if (!rate) {
    return {
      basis: [],
      unknown: [
        `time: no finished run has copied from ${from.name} to ${to.name}, nor from any ${from.kind} location to any ${to.kind} location`,
      ],
    };
  }
  const measured = `${rate.runs} ${rate.runs === 1 ? "run" : "runs"}, ${rate.bytes} bytes in ${rate.seconds.toFixed(1)} s`;
  return {
    rate,
    seconds: bytes / rate.bytesPerSecond,
    basis: [
      exact
        ? `time: at the rate measured from ${from.name} to ${to.name} (${measured})`
        : `time: ${from.name} to ${to.name} was never measured; at the rate of ${rate.from} to ${rate.to}, the closest ${from.kind} to ${to.kind} pair measured (${measured})`,
    ],
    unknown: [],
  };
}

function closeness(rate: PairRate, from: Place, to: Place): number {
  return (rate.from === from.name ? 2 : 0) + (rate.to === to.name ? 1 : 0);
}
