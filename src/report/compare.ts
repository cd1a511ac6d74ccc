import type { CatalogDb } from "../catalog/db.js";
import { CohortTally, cohortMonthlyStorage, restoreTierFor, sizeThresholds } from "../cost/cohort.js";
import { mediumProfiles } from "../cost/costs-config.js";
import { accessRateEstimate } from "../cost/model.js";
import { AWS_PROFILE } from "../cost/prices/aws.js";
import { AZURE_PROFILE } from "../cost/prices/azure.js";
import { GCS_PROFILE } from "../cost/prices/gcs.js";
import { classPrice, GIB, type PriceProfile } from "../cost/profile.js";
import type { Config } from "../policy/config-schema.js";
import type { CompareGroup, Comparison, PlacementCost, PriceSource, RecallScenario } from "./model.js";

/*
 * The same files priced in every provider's classes and on premises. Files are streamed a page
 * at a time into a fixed set of groups (size band × access band), each a cohort that prices its
 * objects exactly as one-by-one pricing would; no list of files is ever held.
 */

const KIB = 1024;
const MIB = 1024 * KIB;

/** Bands by size: under S3's 128 KiB minimum billable size, small, medium, large. */
const SIZE_BANDS = [
  { below: 128 * KIB, name: "under 128 KiB" },
  { below: 16 * MIB, name: "128 KiB to 16 MiB" },
  { below: GIB, name: "16 MiB to 1 GiB" },
  { below: Number.POSITIVE_INFINITY, name: "1 GiB and over" },
] as const;

/** Bands by estimated reads a month (accessRateEstimate): monthly or more, yearly or more, rarer. */
const ACCESS_BANDS = [
  { atLeast: 1, name: "read monthly" },
  { atLeast: 1 / 12, name: "read yearly" },
  { atLeast: 0, name: "read rarely" },
] as const;

const PAGE = 5000;

/** A group of files: its cohort, and its reads a month (count, and bytes read at that rate). */
class GroupTally extends CohortTally {
  accessesPerMonth = 0;
  bytesReadPerMonth = 0;

  addFile(size: number, accessesPerMonth: number): void {
    this.add(size);
    this.accessesPerMonth += accessesPerMonth;
    this.bytesReadPerMonth += size * accessesPerMonth;
  }
}

/** Where the files could be: a provider's class, or an on-premises medium. */
interface Placement {
  provider: string;
  storageClass: string;
  profile: PriceProfile;
}

export async function compareCosts(
  catalog: CatalogDb,
  config: Config,
  options: { recall: RecallScenario; now: number },
): Promise<Comparison> {
  const media = mediumProfiles(config.costs, options.now);
  const placements = placementsOf([AWS_PROFILE, AZURE_PROFILE, GCS_PROFILE], media);
  const tallies = await tallyFiles(
    catalog,
    sizeThresholds([AWS_PROFILE, AZURE_PROFILE, GCS_PROFILE, ...media]),
    options.now,
  );
  const basis = new Set<string>();
  const groups: CompareGroup[] = [];
  for (const [name, tally] of tallies) {
    if (tally.objects === 0) continue;
    const priced = placements.map((placement) => priceGroup(placement, tally, options.recall, basis));
    groups.push({
      name,
      objects: tally.objects,
      bytes: tally.bytes,
      accessesPerMonth: tally.accessesPerMonth,
      bytesReadPerMonth: (tally.bytes * options.recall.sharePerYear) / 12 + tally.bytesReadPerMonth,
      placements: priced,
      cheapest: label(cheapestOf(priced)),
    });
  }
  const unknown = groups.length === 0 ? ["the catalog holds no files (present or released): nothing to compare"] : [];
  return {
    at: new Date(options.now).toISOString(),
    recall: options.recall,
    groups,
    totals: placements.map((placement) => totalOf(placement, groups)),
    cheapestMix: cheapestMixOf(groups),
    prices: [AWS_PROFILE, AZURE_PROFILE, GCS_PROFILE, ...media].map(priceSource),
    basis: [
      "each catalog file once (present or released), at its logical size; reads a month from its atime and mtime",
      "retrieval: the recall's share of the bytes and objects a year, /12 a month, plus the reads at the access rates, " +
        "restored first from archive classes; egress: every byte read back leaves the provider",
      ...basis,
    ],
    unknown,
  };
}

function placementsOf(clouds: readonly PriceProfile[], media: readonly PriceProfile[]): Placement[] {
  const placements: Placement[] = [];
  for (const profile of clouds) {
    for (const storageClass of Object.keys(profile.classes)) {
      placements.push({ provider: profile.name, storageClass, profile });
    }
  }
  for (const profile of media) placements.push({ provider: "onprem", storageClass: profile.defaultClass, profile });
  return placements;
}

/** Streams the catalog's files (keyset pages) into the groups, in band order. */
async function tallyFiles(catalog: CatalogDb, thresholds: number[], nowMs: number): Promise<Map<string, GroupTally>> {
  const tallies = new Map<string, GroupTally>();
  for (const size of SIZE_BANDS) {
    for (const access of ACCESS_BANDS) tallies.set(groupName(size.name, access.name), new GroupTally(thresholds));
  }
  let after = 0;
  for (;;) {
    const rows = await catalog.db
      .selectFrom("files")
      .select(["id", "size", "atime_us", "mtime_us"])
      .where("kind", "=", "file")
      .where("state", "in", ["present", "released"])
      .where("id", ">", after)
      .orderBy("id")
      .limit(PAGE)
      .execute();
    for (const row of rows) {
      const size = Number(row.size);
      const rate = accessRateEstimate({ atimeUs: Number(row.atime_us), mtimeUs: Number(row.mtime_us) }, nowMs);
      // The last band of each takes what the others do not (sizes below infinity, rates from 0).
      const sizeBand = SIZE_BANDS.find((band) => size < band.below) as (typeof SIZE_BANDS)[number];
      const accessBand = ACCESS_BANDS.find((band) => rate >= band.atLeast) as (typeof ACCESS_BANDS)[number];
      (tallies.get(groupName(sizeBand.name, accessBand.name)) as GroupTally).addFile(size, rate);
    }
    if (rows.length < PAGE) return tallies;
    after = Number(rows[rows.length - 1]?.id);
  }
}

function groupName(size: string, access: string): string {
  return `${size}, ${access}`;
}

/**
 * One group in one placement, a month: storage as model.ts bills it; GETs at the access rates;
 * retrieval of the recall's monthly share and of the reads (per-GB fees, the recall's GETs,
 * and for archive classes the restore at the scenario's tier or the class's cheapest); egress
 * of every byte read back; once, the PUTs that upload the files.
 */
function priceGroup(
  placement: Placement,
  group: GroupTally,
  recall: RecallScenario,
  basis: Set<string>,
): PlacementCost {
  const { profile, storageClass } = placement;
  const price = classPrice(profile, storageClass);
  const recalledObjects = (group.objects * recall.sharePerYear) / 12;
  const recalledBytes = (group.bytes * recall.sharePerYear) / 12;
  const readObjects = recalledObjects + group.accessesPerMonth;
  const readBytes = recalledBytes + group.bytesReadPerMonth;
  const restore = restoreTierFor(profile, storageClass, readObjects, readBytes, recall.tier);
  if (restore?.lacking) {
    basis.add(`${label(placement)} offers no ${restore.lacking} restore: priced at its cheapest, ${restore.tier}`);
  }
  const storage = cohortMonthlyStorage(profile, storageClass, group);
  const requests = (group.accessesPerMonth * price.getPer1000) / 1000;
  const retrieval =
    (readBytes / GIB) * price.retrievalPerGB + (recalledObjects * price.getPer1000) / 1000 + (restore?.cost ?? 0);
  const egress = (readBytes / GIB) * profile.egressPerGB;
  return {
    provider: placement.provider,
    class: storageClass,
    storage,
    requests,
    retrieval,
    egress,
    monthly: storage + requests + retrieval + egress,
    upload: (group.objects * price.putPer1000) / 1000,
    source: priceSource(profile),
  };
}

function totalOf(placement: Placement, groups: readonly CompareGroup[]): PlacementCost {
  const total: PlacementCost = {
    provider: placement.provider,
    class: placement.storageClass,
    storage: 0,
    requests: 0,
    retrieval: 0,
    egress: 0,
    monthly: 0,
    upload: 0,
    source: priceSource(placement.profile),
  };
  for (const group of groups) {
    const cost = group.placements.find((p) => p.provider === total.provider && p.class === total.class);
    if (!cost) continue;
    for (const key of ["storage", "requests", "retrieval", "egress", "monthly", "upload"] as const)
      total[key] += cost[key];
  }
  return total;
}

function cheapestOf(costs: readonly PlacementCost[]): PlacementCost {
  return costs.reduce((best, cost) => (cost.monthly < best.monthly ? cost : best));
}

function cheapestMixOf(groups: readonly CompareGroup[]): Comparison["cheapestMix"] {
  let monthly = 0;
  const byGroup: Record<string, string> = {};
  for (const group of groups) {
    monthly += cheapestOf(group.placements).monthly;
    byGroup[group.name] = group.cheapest;
  }
  return { monthly, byGroup };
}

/** "aws/GLACIER", "onprem/tape". */
export function label(placement: { provider: string; class?: string; storageClass?: string }): string {
  return `${placement.provider}/${placement.class ?? placement.storageClass}`;
}

export function priceSource(profile: PriceProfile): PriceSource {
  return { profile: profile.name, region: profile.region, source: profile.source, asOf: profile.asOf };
}
