import type { RestoreTier } from "../backends/backend.js";
import type { SeedClasses } from "../backends/descriptor.js";
import { UsageError } from "../config/errors.js";
import { type ClassPrice, classPrice, DAYS_PER_MONTH, GIB, type PriceProfile, resolveClass } from "./profile.js";

/*
 * The cost model: pure functions of a price profile, money as numbers in USD. "GB" is 2^30
 * bytes and a month 30 days (see profile.ts). Every function prices ONE object; a planner
 * prices a cohort of like files by multiplying.
 */

/** What one object costs to keep for a month: its billable size, its per-object overhead and fees. */
export function monthlyStorageCost(profile: PriceProfile, storageClass: string | undefined, sizeBytes: number): number {
  const price = classPrice(profile, storageClass);
  let cost = classRatedGB(price, sizeBytes) * price.storagePerGBMonth;
  if (price.overhead) {
    cost += (price.overhead.defaultClassBytes / GIB) * classPrice(profile, undefined).storagePerGBMonth;
  }
  if (price.monitoring && sizeBytes >= price.monitoring.minBytes) cost += price.monitoring.per1000ObjectsMonth / 1000;
  return cost;
}

/** GB billed at the class's own rate: the size raised to the minimum billable size, plus its index. */
function classRatedGB(price: ClassPrice, sizeBytes: number): number {
  return (Math.max(sizeBytes, price.minBillableBytes) + (price.overhead?.classBytes ?? 0)) / GIB;
}

/** Uploading `objects` new objects into a class (PUT). */
export function putCost(profile: PriceProfile, storageClass: string | undefined, objects = 1): number {
  return (objects * classPrice(profile, storageClass).putPer1000) / 1000;
}

/** The one-time price of moving one object from one class to another at the same location. */
export interface MoveCost {
  /** Transition, or PUT of the rewritten object. */
  requests: number;
  /** Reading the object back first (a move up to a warmer class), restore included. */
  retrieval: number;
}

/**
 * Moving down (to a class that stores for less, or the same) is a lifecycle transition, billed
 * per request at the destination's transition price; no provider moves data up by lifecycle,
 * so moving up is a read of the object (restore first, for an archive class, at its cheapest
 * tier: a planned move has no deadline) and a PUT into the destination.
 */
export function transitionCost(
  profile: PriceProfile,
  fromClass: string | undefined,
  toClass: string | undefined,
  sizeBytes: number,
): MoveCost {
  const from = resolveClass(profile, fromClass);
  const to = resolveClass(profile, toClass);
  if (from === to) return { requests: 0, retrieval: 0 };
  const source = classPrice(profile, from);
  const target = classPrice(profile, to);
  if (target.storagePerGBMonth <= source.storagePerGBMonth) {
    return { requests: target.transitionPer1000 / 1000, retrieval: 0 };
  }
  return { requests: target.putPer1000 / 1000, retrieval: retrievalCost(profile, from, sizeBytes) };
}

/**
 * What deleting or moving an object out of its class costs when it has been there `ageDays`:
 * the storage of the days left to the class's minimum, prorated at its rate (S3, Azure and
 * GCS all bill it so).
 */
export function earlyDeletionCharge(
  profile: PriceProfile,
  storageClass: string | undefined,
  ageDays: number,
  sizeBytes: number,
): number {
  const price = classPrice(profile, storageClass);
  const daysLeft = Math.max(0, price.minStorageDays - ageDays);
  return (daysLeft / DAYS_PER_MONTH) * classRatedGB(price, sizeBytes) * price.storagePerGBMonth;
}

/** One GET of a readable object: per-GB retrieval fee and the request (of the restored copy, for archives). */
export function readCost(profile: PriceProfile, storageClass: string | undefined, sizeBytes: number): number {
  const price = classPrice(profile, storageClass);
  return (sizeBytes / GIB) * price.retrievalPerGB + price.getPer1000 / 1000;
}

/** Thawing one object of an archive class at a restore tier (the read after it is readCost). */
export function restoreCost(
  profile: PriceProfile,
  storageClass: string | undefined,
  sizeBytes: number,
  tier: RestoreTier,
): number {
  const name = resolveClass(profile, storageClass);
  const price = classPrice(profile, name);
  if (!price.archive) throw new UsageError(`${name} is read directly: it has no restore tiers`);
  const offered = price.archive.tiers[tier];
  if (!offered) {
    throw new UsageError(`${name} offers no ${tier} restore (${Object.keys(price.archive.tiers).join(", ")})`);
  }
  return (sizeBytes / GIB) * offered.perGB + offered.per1000 / 1000;
}

/** How long a restored copy is assumed to be kept when nothing says otherwise (S3's minimum). */
export const DEFAULT_RESTORE_DAYS = 1;

/**
 * A thawed object is readable as a temporary copy billed at the default class's rate while it
 * is kept (S3 bills it as STANDARD; Azure rehydrates to Hot), on top of the archived original.
 */
export function restoredCopyCost(profile: PriceProfile, sizeBytes: number, days = DEFAULT_RESTORE_DAYS): number {
  return (days / DAYS_PER_MONTH) * monthlyStorageCost(profile, undefined, sizeBytes);
}

/**
 * Getting one object's bytes back once: for an archive class, the restore at `tier` (default:
 * its cheapest) and the read; for any other class, the read. The restored copy's storage is
 * restoredCopyCost, apart.
 */
export function retrievalCost(
  profile: PriceProfile,
  storageClass: string | undefined,
  sizeBytes: number,
  tier?: RestoreTier,
): number {
  if (!classPrice(profile, storageClass).archive) return readCost(profile, storageClass, sizeBytes);
  if (tier) return restoreCost(profile, storageClass, sizeBytes, tier) + readCost(profile, storageClass, sizeBytes);
  const cheapest = cheapestRetrieval(profile, storageClass, sizeBytes);
  if (!cheapest) throw new UsageError(`${resolveClass(profile, storageClass)} offers no restore tier`);
  return cheapest.cost;
}

export interface Retrieval {
  cost: number;
  /** The restore tier, for an archive class. */
  tier?: RestoreTier;
  /** How long until the bytes can be read: 0 for classes read directly. */
  latencyMs: number;
}

/**
 * The cheapest way to get one object back within `maxLatencyMs` (default: no limit), or
 * undefined when none is fast enough (Deep Archive within an hour, say). What `restore
 * --deadline` and cost tiering both ask.
 */
export function cheapestRetrieval(
  profile: PriceProfile,
  storageClass: string | undefined,
  sizeBytes: number,
  maxLatencyMs = Number.POSITIVE_INFINITY,
): Retrieval | undefined {
  const price = classPrice(profile, storageClass);
  const read = readCost(profile, storageClass, sizeBytes);
  if (!price.archive) return { cost: read, latencyMs: 0 };
  let best: Retrieval | undefined;
  for (const [tier, offered] of Object.entries(price.archive.tiers) as [RestoreTier, { latencyMs: number }][]) {
    if (offered.latencyMs > maxLatencyMs) continue;
    const cost = restoreCost(profile, storageClass, sizeBytes, tier) + read;
    if (!best || cost < best.cost) best = { cost, tier, latencyMs: offered.latencyMs };
  }
  return best;
}

// ---- The seed's rule --------------------------------------------------------------------------

export const SEED_ARCHIVE_MIN_BYTES = 1e9;
export const SEED_ARCHIVE_IDLE_S = 86_400;
export const SEED_COOL_IDLE_S = 2_592_000;

/**
 * The seed's rule exactly: larger than 1e9 bytes and not accessed for more than 86400 s →
 * archive; else not accessed for more than 2592000 s (30 days) → infrequent access; else
 * standard, in the target backend's class names (its descriptor's seedClasses). Both
 * comparisons are strict, so exactly 1e9 bytes or exactly one day stays warmer.
 */
export function seedClass(file: { size: number; atimeUs: number }, nowMs: number, classes: SeedClasses): string {
  // Integer microseconds: exact at the boundaries, where seconds as floats would not be.
  const idleUs = nowMs * 1000 - file.atimeUs;
  if (file.size > SEED_ARCHIVE_MIN_BYTES && idleUs > SEED_ARCHIVE_IDLE_S * 1e6) return classes.archive;
  if (idleUs > SEED_COOL_IDLE_S * 1e6) return classes.cool;
  return classes.hot;
}

// ---- Access rate ------------------------------------------------------------------------------

/** At most one read a day is assumed: a single atime cannot tell more. */
export const MAX_ACCESSES_PER_MONTH = 30;
/** A file never read since written: about one read in eight years, so retrieval still has a price. */
export const NEVER_READ_ACCESSES_PER_MONTH = 0.01;

/**
 * Expected reads per month from the one access time the catalog keeps. A file last read d
 * days ago is taken to be read about once every d days (30/d a month, capped at one a day);
 * one whose atime is not after its mtime has not been read since written (Linux's relatime
 * updates atime on the first read after a write) and gets a near-zero rate. ctime is not
 * used: a rename or chmod moves it without any read or write of the data.
 */
export function accessRateEstimate(file: { atimeUs: number; mtimeUs: number }, nowMs: number): number {
  if (file.atimeUs <= file.mtimeUs) return NEVER_READ_ACCESSES_PER_MONTH;
  const idleDays = (nowMs * 1000 - file.atimeUs) / 86_400e6;
  if (idleDays <= DAYS_PER_MONTH / MAX_ACCESSES_PER_MONTH) return MAX_ACCESSES_PER_MONTH;
  return Math.max(NEVER_READ_ACCESSES_PER_MONTH, DAYS_PER_MONTH / idleDays);
}

// ---- Cost tiering -----------------------------------------------------------------------------

export interface ClassChoiceInput {
  size: number;
  /** Where the object is now; absent for a new copy (which is uploaded, not transitioned). */
  currentClass?: string | undefined;
  /** Days in the current class; unknown counts as 0, the largest early-deletion charge. */
  currentClassAgeDays?: number | undefined;
  accessesPerMonth: number;
  horizonMonths: number;
  /** Archive classes whose fastest fitting restore is slower are not candidates. */
  maxRestoreLatencyMs?: number | undefined;
  /** The classes allowed (default: every class of the profile). */
  candidates?: readonly string[] | undefined;
}

/** One candidate's expected cost over the horizon, by part (USD). */
export interface ClassCost {
  class: string;
  total: number;
  /** Monthly storage × horizon, at the billable size with per-object overhead. */
  storage: number;
  /** The minimum storage duration not yet served when the horizon ends, as if it ended there. */
  minimumDuration: number;
  /** Getting here: transition, or read + PUT up to a warmer class, or PUT of a new copy. */
  move: number;
  /** The current class's early-deletion charge, paid when leaving it. */
  earlyDeletion: number;
  /**
   * Expected reads: accesses per month × horizon × one retrieval (restore included), and for
   * an archive class the restored copies' storage (a day each, at most a whole month a month).
   */
  retrieval: number;
  restoreTier?: RestoreTier;
}

export interface ClassChoice {
  class: string;
  /** Whether the chosen class differs from the current one. */
  move: boolean;
  /** Every candidate that meets the latency limit, current class first. */
  costs: ClassCost[];
  excluded: { class: string; reason: string }[];
}

const TIE = 1e-9;

/**
 * The class that minimises expected cost over the horizon. Each candidate's total includes the
 * penalty of moving to it (transition and the current class's early-deletion charge), and a
 * candidate must be cheaper than staying by more than rounding, so a move is made only when
 * its saving exceeds its penalty; on a tie the object stays. A current class that cannot meet
 * maxRestoreLatency is not a candidate, so such an object moves whatever it costs.
 */
export function chooseClass(input: ClassChoiceInput, profile: PriceProfile): ClassChoice {
  const current = input.currentClass === undefined ? undefined : resolveClass(profile, input.currentClass);
  const names = candidateOrder(profile, input, current);
  const costs: ClassCost[] = [];
  const excluded: ClassChoice["excluded"] = [];
  for (const name of names) {
    const read = cheapestRetrieval(profile, name, input.size, input.maxRestoreLatencyMs);
    if (read) costs.push(costOver(profile, input, current, name, read));
    else
      excluded.push({ class: name, reason: `no restore within maxRestoreLatency (${input.maxRestoreLatencyMs} ms)` });
  }
  let best = costs[0];
  if (!best) {
    throw new UsageError(`no storage class of profile ${profile.name} can be restored within maxRestoreLatency`);
  }
  for (const cost of costs) if (cost.total < best.total - TIE * best.total) best = cost;
  return { class: best.class, move: best.class !== current, costs, excluded };
}

/** The current class first, then the default, then the rest: earlier ones win ties. */
function candidateOrder(profile: PriceProfile, input: ClassChoiceInput, current: string | undefined): string[] {
  const allowed = (input.candidates ?? Object.keys(profile.classes)).map((name) => resolveClass(profile, name));
  const first = [current, profile.defaultClass].filter((name): name is string => name !== undefined);
  return [...new Set([...first.filter((name) => allowed.includes(name)), ...allowed])];
}

function costOver(
  profile: PriceProfile,
  input: ClassChoiceInput,
  current: string | undefined,
  name: string,
  read: Retrieval,
): ClassCost {
  const { size, horizonMonths } = input;
  const staying = name === current;
  const ageDays = input.currentClassAgeDays ?? 0;
  const horizonDays = horizonMonths * DAYS_PER_MONTH;
  const storage = monthlyStorageCost(profile, name, size) * horizonMonths;
  const minimumDuration = earlyDeletionCharge(profile, name, (staying ? ageDays : 0) + horizonDays, size);
  let move = 0;
  let earlyDeletion = 0;
  if (current === undefined) move = putCost(profile, name);
  else if (!staying) {
    const cost = transitionCost(profile, current, name, size);
    move = cost.requests + cost.retrieval;
    earlyDeletion = earlyDeletionCharge(profile, current, ageDays, size);
  }
  const reads = input.accessesPerMonth * horizonMonths;
  // Restored copies kept a day each, at most one held all month however often it is read.
  const copyDaysPerMonth = Math.min(input.accessesPerMonth * DEFAULT_RESTORE_DAYS, DAYS_PER_MONTH);
  const restoredCopies = read.tier ? horizonMonths * restoredCopyCost(profile, size, copyDaysPerMonth) : 0;
  const retrieval = reads * read.cost + restoredCopies;
  const total = storage + minimumDuration + move + earlyDeletion + retrieval;
  return {
    class: name,
    total,
    storage,
    minimumDuration,
    move,
    earlyDeletion,
    retrieval,
    ...(read.tier ? { restoreTier: read.tier } : {}),
  };
}
