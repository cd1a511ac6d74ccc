import type { CatalogDb } from "../catalog/db.js";
import type { PolicyAction } from "../policy/actions.js";
import type { Config } from "../policy/config-schema.js";
import { planPolicies } from "../policy/planner.js";
import type { MigrationWave, PairRate } from "./model.js";
import { measuredRate, rateWords } from "./pair-rate.js";

/**
 * The implementation plan's migration waves: the enabled policies' current plan (what
 * `strata plan` prints today), grouped by how long ago each file was last read, oldest first
 * (data nobody reads is the safest to move first, and the first waves prove the pipeline on
 * it), then by size band, largest first. The plan is streamed and folded into a fixed set of
 * waves, so memory does not grow with the number of files.
 */

const DAY_MS = 86_400_000;

/** Idle days above `over` fall in the band; the last band takes the rest. */
const AGE_BANDS = [
  { over: 365, name: "not read for over a year" },
  { over: 180, name: "not read for 180 days to a year" },
  { over: 30, name: "not read for 30 to 180 days" },
  { over: Number.NEGATIVE_INFINITY, name: "read within 30 days" },
] as const;

/** Sizes above `over` bytes; 1e9 is the seed rule's own threshold for the archive class. */
const SIZE_BANDS = [
  { over: 1e9, name: "files over 1 GB" },
  { over: 1e6, name: "files of 1 MB to 1 GB" },
  { over: Number.NEGATIVE_INFINITY, name: "files of 1 MB or less" },
] as const;

/** Actions whose file's access time is looked up in one catalog query. */
const BATCH = 1000;

interface WaveTotals {
  files: number;
  bytes: number;
  oneTime: number;
  monthlyDelta: number;
  /** Bytes copied per source→target pair: what takes transfer time. */
  copied: Map<string, { from: string; to: string; bytes: number }>;
}

export async function migrationWaves(
  catalog: CatalogDb,
  config: Config,
  options: { now: number; rates: PairRate[] },
): Promise<MigrationWave[]> {
  const waves: WaveTotals[] = Array.from({ length: AGE_BANDS.length * SIZE_BANDS.length }, () => ({
    files: 0,
    bytes: 0,
    oneTime: 0,
    monthlyDelta: 0,
    copied: new Map(),
  }));
  let lastFile = "";
  const fold = async (batch: PolicyAction[]) => {
    const atimes = await accessTimes(
      catalog,
      batch.map((action) => action.file.fileId),
    );
    for (const action of batch) {
      const atimeUs = atimes.get(action.file.fileId);
      if (atimeUs === undefined) continue;
      const wave = waves[waveIndex(action.file.size, atimeUs, options.now)] as WaveTotals;
      // A file's actions within one policy come together: count each file once per policy.
      const fileKey = `${action.policy}\u0000${action.file.fileId}`;
      if (fileKey !== lastFile) {
        wave.files += 1;
        wave.bytes += action.file.size;
        lastFile = fileKey;
      }
      wave.oneTime += action.oneTimeCost;
      wave.monthlyDelta += action.monthlyCostDelta;
      if (action.kind === "copy") addCopied(wave, action.file.location, action.to, action.bytes);
    }
  };
  let batch: PolicyAction[] = [];
  for await (const action of planPolicies(catalog, config, { now: options.now })) {
    // A notice to an owner moves and frees nothing: it is no part of a migration.
    if (action.kind === "notify") continue;
    batch.push(action);
    if (batch.length >= BATCH) {
      await fold(batch);
      batch = [];
    }
  }
  await fold(batch);
  return waves.flatMap((wave, i) => (wave.files === 0 ? [] : [described(wave, i, options.rates)]));
}

/** The wave of a file: its age band (oldest first), then its size band (largest first). */
function waveIndex(size: number, atimeUs: number, now: number): number {
  const idleDays = (now * 1000 - atimeUs) / (DAY_MS * 1000);
  const age = AGE_BANDS.findIndex((band) => idleDays > band.over);
  const bySize = SIZE_BANDS.findIndex((band) => size > band.over);
  return age * SIZE_BANDS.length + bySize;
}

function addCopied(wave: WaveTotals, from: string, to: string, bytes: number): void {
  const key = `${from}\u0000${to}`;
  const pair = wave.copied.get(key) ?? { from, to, bytes: 0 };
  pair.bytes += bytes;
  wave.copied.set(key, pair);
}

async function accessTimes(catalog: CatalogDb, fileIds: number[]): Promise<Map<number, number>> {
  if (fileIds.length === 0) return new Map();
  const rows = await catalog.db
    .selectFrom("files")
    .select(["id", "atime_us"])
    .where("id", "in", [...new Set(fileIds)])
    .execute();
  return new Map(rows.map((row) => [row.id, Number(row.atime_us)]));
}

function described(wave: WaveTotals, index: number, rates: PairRate[]): MigrationWave {
  const age = AGE_BANDS[Math.floor(index / SIZE_BANDS.length)] as (typeof AGE_BANDS)[number];
  const size = SIZE_BANDS[index % SIZE_BANDS.length] as (typeof SIZE_BANDS)[number];
  const { seconds, basis } = transferTime([...wave.copied.values()], rates);
  return {
    name: `${age.name}, ${size.name}`,
    files: wave.files,
    bytes: wave.bytes,
    oneTime: wave.oneTime,
    monthlyDelta: wave.monthlyDelta,
    ...(seconds === undefined ? {} : { seconds }),
    basis,
  };
}

/**
 * The time the wave's copies take, pair by pair at the rate Strata's runs measured between
 * those two locations, one pair after another. Class changes and releases happen in place and
 * are not timed by transfer rates; a pair never measured leaves the time unknown.
 */
function transferTime(
  copied: { from: string; to: string; bytes: number }[],
  rates: PairRate[],
): { seconds?: number; basis: string } {
  if (copied.length === 0) return { basis: "no copies: class changes and releases only, not timed by transfer rates" };
  let seconds = 0;
  const used: string[] = [];
  for (const pair of copied) {
    const rate = measuredRate(rates, pair.from, pair.to);
    if (!rate) return { basis: `no run has copied from ${pair.from} to ${pair.to} yet: no measured rate` };
    seconds += pair.bytes / rate.bytesPerSecond;
    used.push(rateWords(rate));
  }
  return { seconds, basis: `copies at measured rates: ${used.join("; ")}` };
}
