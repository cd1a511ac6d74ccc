import { type RawBuilder, sql } from "kysely";
import { type BackendKind, LocationUrlError, type ParsedLocation, parseLocationUrl } from "../backends/all.js";
import type { CatalogDb } from "../catalog/db.js";
import { allLocations } from "../catalog/locations.js";
import type { LocationRow } from "../catalog/schema.js";
import { UsageError } from "../config/errors.js";
import { type ClassPrice, type PriceProfile, profileFor, resolveClass } from "../cost/index.js";
import { classPrice, DAYS_PER_MONTH, GIB } from "../cost/profile.js";
import type { Config } from "../policy/config-schema.js";
import type { CostDimension, CostLine, CostNow, PriceSource } from "./model.js";

/*
 * `strata cost`: what the data costs this month, where it is. Billed at a location are
 *  - the replicas held there that are not lost (present, archived, restoring, replacing,
 *    released: each is an object the store keeps, in the class the row records), at their
 *    stored size (coalesce(replicas.stored_size, replicas.size): a compressed copy bills its frames) and aged from replicas.created_at;
 *    a pack is one object of its whole size, however many members it holds (billedObjects);
 *  - the files a scan recorded there (present; released ones as their stub, stub_size bytes;
 *    a purged file, released with no stub, holds nothing), at the location's default class.
 * A location both scanned as a source and holding replicas (a bucket some tool writes and
 * Strata also copies into) lists each replica's object once in its scan as well: a scanned
 * file whose path is the key of a live replica there is that replica's object and is billed
 * as the replica (in its class), never a second time as a file.
 * Sums are made in SQL per location, class and the asked dimensions; only groups reach here.
 */

const DAY_MS = 86_400_000;

/** A location as pricing sees it: its profile and the class objects without one are in. */
export interface PricedPlace {
  name: string;
  kind: BackendKind;
  profile: PriceProfile;
  defaultClass: string;
  /** Its catalog row; absent for a configured location the catalog has never seen. */
  row?: LocationRow;
  configured: boolean;
}

/** Every location of the config and of the catalog, priced by its URL's profile merged with its `price:`. */
export async function pricedPlaces(catalog: CatalogDb, config: Config): Promise<Map<string, PricedPlace>> {
  const places = new Map<string, PricedPlace>();
  const rows = await allLocations(catalog);
  for (const row of rows) {
    const settings = config.locations[row.name];
    const kind = row.kind as BackendKind;
    const profile = profileFor({ kind, url: row.url, price: settings?.price });
    const defaultClass = settings?.class ?? row.default_class ?? profile.defaultClass;
    places.set(row.name, { name: row.name, kind, profile, defaultClass, row, configured: settings !== undefined });
  }
  for (const [name, settings] of Object.entries(config.locations)) {
    if (places.has(name)) continue;
    const { kind, url } = parsedUrl(name, settings.url);
    const profile = profileFor({ kind, url, price: settings.price });
    places.set(name, { name, kind, profile, defaultClass: settings.class ?? profile.defaultClass, configured: true });
  }
  return places;
}

function parsedUrl(name: string, url: string): ParsedLocation {
  try {
    return parseLocationUrl(url);
  } catch (err) {
    if (err instanceof LocationUrlError) throw new UsageError(`locations.${name}.url: ${err.message}`);
    throw err;
  }
}

/**
 * The class a group of objects is shown and priced in: the recorded one (the location's default
 * when none), spelled as the profile spells it. A flat profile prices every name alike, so the
 * recorded name is kept there (an RGW bucket's GLACIER objects stay GLACIER in the listing).
 * Throws UsageError for a class the profile has no price for.
 */
export function billedClass(place: PricedPlace, recorded: string | null | undefined): string {
  const name = recorded ?? place.defaultClass;
  const resolved = resolveClass(place.profile, name);
  return place.profile.flat ? name : resolved;
}

/** "location/class": a tier of the forecast. */
export function tierName(location: string, storageClass: string): string {
  return `${location}/${storageClass}`;
}

export function priceSourceOf(profile: PriceProfile): PriceSource {
  return { profile: profile.name, region: profile.region, source: profile.source, asOf: profile.asOf };
}

/** Each price source once, in first-seen order. */
export function uniqueSources(sources: Iterable<PriceSource>): PriceSource[] {
  const seen = new Map<string, PriceSource>();
  for (const source of sources) seen.set(JSON.stringify(source), source);
  return [...seen.values()];
}

type Measures = Omit<CostLine, "group">;

export async function costNow(
  catalog: CatalogDb,
  config: Config,
  options: { by: CostDimension[]; now: number },
): Promise<CostNow> {
  const places = await pricedPlaces(catalog, config);
  const unknown: string[] = [];
  const lines = new Map<string, CostLine>();
  const used: PriceProfile[] = [];
  const scanned = await scannedLocations(catalog);
  for (const place of places.values()) {
    let billedHere = false;
    for (const group of place.row ? await billedGroups(catalog, place, options) : []) {
      let storageClass: string;
      try {
        storageClass = billedClass(place, group.class);
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        unknown.push(
          `${place.name}: ${group.objects} objects in class ${group.class}, which has no price: ${err.message}`,
        );
        continue;
      }
      billedHere = true;
      const values: Record<CostDimension, string> = {
        location: place.name,
        class: storageClass,
        owner: group.owner,
        project: group.project,
      };
      const key = JSON.stringify(options.by.map((dimension) => values[dimension]));
      const line = lines.get(key) ?? {
        group: Object.fromEntries(options.by.map((dimension) => [dimension, values[dimension]])),
        ...zero(),
      };
      add(line, priced(place.profile, storageClass, group));
      lines.set(key, line);
    }
    if (billedHere) used.push(place.profile);
    unknown.push(...gapsOf(place, scanned, billedHere));
  }
  const total = zero();
  for (const line of lines.values()) add(total, line);
  return {
    at: new Date(options.now).toISOString(),
    by: options.by,
    lines: [...lines.values()].sort(byGroup),
    total,
    prices: uniqueSources(used.map(priceSourceOf)),
    unknown,
  };
}

/** What the catalog cannot say of a location: never scanned, not configured. */
function gapsOf(place: PricedPlace, scanned: ReadonlySet<number>, billed: boolean): string[] {
  const gaps: string[] = [];
  if (!place.row || !scanned.has(place.row.id)) {
    gaps.push(
      billed
        ? `${place.name}: never scanned: only the copies Strata made there are counted`
        : `${place.name}: never scanned and no copies made there: nothing of it is counted`,
    );
  }
  if (place.row && !place.configured) {
    gaps.push(
      `${place.name}: not in the config: priced by its URL's profile (${place.profile.name}) without overrides`,
    );
  }
  return gaps;
}

async function scannedLocations(catalog: CatalogDb): Promise<Set<number>> {
  const rows = await catalog.db
    .selectFrom("scans")
    .select("location_id")
    .distinct()
    .where("status", "=", "done")
    .execute();
  return new Set(rows.map((row) => Number(row.location_id)));
}

function zero(): Measures {
  return {
    objects: 0,
    logicalBytes: 0,
    storedBytes: 0,
    deduplicatedBytes: 0,
    billableBytes: 0,
    storage: 0,
    overheads: 0,
    monthly: 0,
    minimumDurationExposure: 0,
  };
}

function add(sum: Measures, part: Measures): void {
  for (const key of Object.keys(zero()) as (keyof Measures)[]) sum[key] += part[key];
}

function byGroup(a: CostLine, b: CostLine): number {
  const x = JSON.stringify(Object.values(a.group));
  const y = JSON.stringify(Object.values(b.group));
  return x < y ? -1 : x > y ? 1 : 0;
}

/** One GROUP BY row: a location's objects of one recorded class (and owner, project). */
interface BilledGroup {
  class: string;
  owner: string;
  project: string;
  objects: number;
  logical: number;
  stored: number;
  /** Logical bytes of replicas sharing another's object. */
  deduplicated: number;
  /** Σ max(stored, class minimum billable size). */
  raised: number;
  /** Objects at or above the class's monitoring threshold. */
  monitored: number;
  /** Σ over objects younger than the class minimum: days left × (raised size + index bytes). */
  exposureDayBytes: number;
}

/**
 * The per-object rules of cost/model.ts (monthlyStorageCost, earlyDeletionCharge) summed over a
 * group: linear in the counts and sums the query made, so exact to rounding.
 */
function priced(profile: PriceProfile, storageClass: string, group: BilledGroup): Measures {
  const price = classPrice(profile, storageClass);
  const rate = price.storagePerGBMonth;
  const defaultRate = classPrice(profile, undefined).storagePerGBMonth;
  const indexBytes = group.objects * (price.overhead?.classBytes ?? 0);
  const metadataBytes = group.objects * (price.overhead?.defaultClassBytes ?? 0);
  const classRated = group.raised + indexBytes;
  const storage = (group.stored / GIB) * rate;
  const monitoring = price.monitoring ? (group.monitored * price.monitoring.per1000ObjectsMonth) / 1000 : 0;
  const overheads = ((classRated - group.stored) / GIB) * rate + (metadataBytes / GIB) * defaultRate + monitoring;
  return {
    objects: group.objects,
    logicalBytes: group.logical,
    storedBytes: group.stored,
    deduplicatedBytes: group.deduplicated,
    billableBytes: classRated + metadataBytes,
    storage,
    overheads,
    monthly: storage + overheads,
    minimumDurationExposure: (group.exposureDayBytes / DAYS_PER_MONTH / GIB) * rate,
  };
}

async function billedGroups(
  catalog: CatalogDb,
  place: PricedPlace,
  options: { by: CostDimension[]; now: number },
): Promise<BilledGroup[]> {
  const id = (place.row as LocationRow).id;
  const defaultClass = sql`CAST(${place.defaultClass} AS text)`;
  const objects = billedObjects(id, defaultClass);
  const { profile } = place;
  const minimum = perClass(profile, (p) => p.minBillableBytes || undefined, sql`0`);
  // An object's shortfall below the class minimum is billed once, on the row that stands for the object.
  const raised = sql`(o.stored + CASE WHEN o.objects = 1 AND o.object_size < ${minimum} THEN ${minimum} - o.object_size ELSE 0 END)`;
  const monitorFrom = perClass(profile, (p) => p.monitoring?.minBytes, sql`NULL`);
  const minimumMs = perClass(profile, (p) => p.minStorageDays * DAY_MS || undefined, sql`0`);
  const indexBytes = perClass(profile, (p) => p.overhead?.classBytes, sql`0`);
  const now = sql.lit(options.now);
  const age = sql`(CASE WHEN ${now} > o.created_at THEN ${now} - o.created_at ELSE 0 END)`;
  const exposure = sql`CASE WHEN ${age} < ${minimumMs}
    THEN (${minimumMs} - ${age}) / ${sql.raw(`${DAY_MS}.0`)} * (${raised} + o.objects * ${indexBytes}) ELSE 0 END`;
  const project =
    catalog.dialect === "postgres" ? sql`(o.tags::jsonb ->> 'project')` : sql`json_extract(o.tags, '$.project')`;
  const byOwner = options.by.includes("owner");
  const byProject = options.by.includes("project");
  const keys = [sql`o.class AS class`];
  if (byOwner) keys.push(sql`o.uid AS uid`);
  if (byProject) keys.push(sql`${project} AS project`);
  const groupBy = sql.raw(keys.map((_, i) => String(i + 1)).join(", "));
  const own = (measure: RawBuilder<unknown>) => sql`CASE WHEN o.shared = 1 THEN 0 ELSE ${measure} END`;
  const result = await sql<Record<string, unknown>>`
    SELECT ${sql.join(keys)},
           SUM(o.objects) AS objects, SUM(o.logical) AS logical, SUM(${own(sql`o.stored`)}) AS stored,
           SUM(${own(raised)}) AS raised,
           SUM(CASE WHEN o.objects = 1 AND o.object_size >= ${monitorFrom} THEN 1 ELSE 0 END) AS monitored,
           SUM(${own(exposure)}) AS exposure, SUM(o.shared * o.logical) AS deduplicated
      FROM (${objects}) o
     GROUP BY ${groupBy}`.execute(catalog.db);
  return result.rows.map((row) => ({
    class: String(row.class),
    owner: byOwner ? String(row.uid) : "",
    project: byProject ? String(row.project ?? "") : "",
    objects: Number(row.objects),
    logical: Number(row.logical ?? 0),
    stored: Number(row.stored ?? 0),
    deduplicated: Number(row.deduplicated ?? 0),
    raised: Number(row.raised ?? 0),
    monitored: Number(row.monitored ?? 0),
    exposureDayBytes: Number(row.exposure ?? 0),
  }));
}

/**
 * The rows billed at a location, one per replica not lost and per scanned file that is not a live
 * replica's object (see the top), each with:
 *  - `stored`: the bytes this row bills. A whole object's coalesce(stored_size, size); a pack
 *    member's frame, and on its pack's first member the rest of the pack object too (tar headers,
 *    the frames of members no longer on record): a pack bills its whole size, once.
 *  - `objects`: 1 on the row that stands for a store object, else 0. A pack is ONE object,
 *    whatever its members: per-object overheads, minimum sizes and fees count packs, not members.
 *  - `object_size`: that object's size, for the class's minimum billable size and monitoring.
 *  - `shared`: 1 for a copy that points at bytes an older copy there holds (dedup: the same key,
 *    and within a pack the same member): billed nothing of its own.
 */
function billedObjects(id: number, defaultClass: RawBuilder<unknown>): RawBuilder<unknown> {
  const copies = sql`
    SELECT r.id AS id, r.pack_id AS pack_id, COALESCE(r.storage_class, ${defaultClass}) AS class,
           COALESCE(r.stored_size, r.size) AS stored, f.size AS logical, r.created_at AS created_at,
           f.uid AS uid, f.tags AS tags,
           CASE WHEN r.pack_offset IS NULL AND EXISTS (SELECT 1 FROM replicas o
                              WHERE o.location_id = r.location_id AND o.key = r.key AND o.pack_offset IS NULL
                                AND o.id < r.id AND o.state <> 'lost')
                THEN 1
                WHEN r.pack_offset IS NOT NULL AND EXISTS (SELECT 1 FROM replicas o
                              WHERE o.location_id = r.location_id AND o.key = r.key AND o.pack_offset = r.pack_offset
                                AND o.id < r.id AND o.state <> 'lost')
                THEN 1 ELSE 0 END AS shared
      FROM replicas r JOIN files f ON f.id = r.file_id
     WHERE r.location_id = ${id} AND r.state <> 'lost'`;
  // Per pack: its first member on record here, and the pack's bytes its members' own frames leave out.
  const packs = sql`
    SELECT c.pack_id AS pack_id, MIN(c.id) AS first_id, p.size AS size,
           p.size - SUM(CASE WHEN c.shared = 1 THEN 0 ELSE c.stored END) AS rest
      FROM copies c JOIN packs p ON p.id = c.pack_id
     GROUP BY c.pack_id, p.size`;
  return sql`
    WITH copies AS (${copies}), packed AS (${packs})
    SELECT c.class AS class,
           c.stored + CASE WHEN c.id = k.first_id THEN k.rest ELSE 0 END AS stored,
           c.logical AS logical, c.created_at AS created_at, c.uid AS uid, c.tags AS tags, c.shared AS shared,
           CASE WHEN c.pack_id IS NULL THEN 1 - c.shared WHEN c.id = k.first_id THEN 1 ELSE 0 END AS objects,
           CASE WHEN c.pack_id IS NULL THEN c.stored WHEN c.id = k.first_id THEN k.size ELSE 0 END AS object_size
      FROM copies c LEFT JOIN packed k ON k.pack_id = c.pack_id
    UNION ALL
    SELECT ${defaultClass}, CASE WHEN f.state = 'released' THEN f.stub_size ELSE f.size END, f.size,
           f.ctime_us / 1000, f.uid, f.tags, 0, 1, CASE WHEN f.state = 'released' THEN f.stub_size ELSE f.size END
      FROM files f
     WHERE f.location_id = ${id} AND f.kind = 'file'
       AND (f.state = 'present' OR (f.state = 'released' AND f.stub_size IS NOT NULL))
       AND NOT EXISTS (SELECT 1 FROM replicas h
                        WHERE h.location_id = f.location_id AND h.key = f.path AND h.state <> 'lost')`;
}

/**
 * A per-class constant of the profile as SQL over the row's class `o.class` (case-folded, as
 * resolveClass folds it): `otherwise` for classes without it. A flat profile has one price.
 */
function perClass(
  profile: PriceProfile,
  constantOf: (price: ClassPrice) => number | undefined,
  otherwise: RawBuilder<unknown>,
): RawBuilder<unknown> {
  if (profile.flat) {
    const value = constantOf(classPrice(profile, undefined));
    return value === undefined ? otherwise : sql.lit(value);
  }
  const cases = Object.entries(profile.classes).flatMap(([name, price]) => {
    const value = constantOf(price);
    return value === undefined ? [] : [sql`WHEN ${sql.lit(name.toUpperCase())} THEN ${sql.lit(value)}`];
  });
  if (cases.length === 0) return otherwise;
  return sql`(CASE UPPER(o.class) ${sql.join(cases, sql` `)} ELSE ${otherwise} END)`;
}

/** Each location's monthly cost today, for the metrics' gauge. */
export async function monthlyCostByLocation(catalog: CatalogDb, config: Config): Promise<Map<string, number>> {
  const figures = await costNow(catalog, config, { by: ["location"], now: Date.now() });
  return new Map(figures.lines.map((line) => [line.group.location ?? "", line.monthly]));
}
