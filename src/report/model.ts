import type { RestoreTier } from "../backends/backend.js";

/*
 * The figures of the cost analysis, as the cost commands print them and the report draws them.
 * One shape per question, so `strata cost … --json`, the CSV and the report's charts read the
 * same numbers. Money is USD; "monthly" figures are per 30-day month; bytes are exact integers.
 * A figure the catalog cannot support yet (no scan history, no run between two places) is
 * absent and its reason is listed in `unknown`, never guessed.
 */

/** Where a price came from: every figure traces to one of these. */
export interface PriceSource {
  /** The profile's name: aws, azure, gcs, local, onprem, or an on-premises medium (disk, tape). */
  profile: string;
  region: string;
  source: string;
  /** The date the price was read (YYYY-MM-DD). */
  asOf: string;
}

// ---- strata cost: what the data costs now ---------------------------------------------------

export const COST_DIMENSIONS = ["location", "class", "owner", "project"] as const;
export type CostDimension = (typeof COST_DIMENSIONS)[number];

/** One group of objects as they are billed today (a file on a POSIX tree, or a replica). */
export interface CostLine {
  /** The value of each dimension asked for (`--by`); owner is the uid as text, project the tag. */
  group: Partial<Record<CostDimension, string>>;
  objects: number;
  /** The files' own sizes. */
  logicalBytes: number;
  /** What the store holds (after compression or packing: replicas.size); a shared object once. */
  storedBytes: number;
  /** Logical bytes of replicas that share an object another replica there holds (`dedup: true`): not stored again. */
  deduplicatedBytes: number;
  /** What is billed: stored bytes raised to each class's minimum billable size, plus per-object index bytes. */
  billableBytes: number;
  /** Monthly storage of the stored bytes at the class's rate. */
  storage: number;
  /** Monthly cost of the billable bytes beyond the stored bytes, and of per-object metadata and monitoring fees. */
  overheads: number;
  /** storage + overheads. */
  monthly: number;
  /** What deleting or moving these objects today would be billed for the minimum duration not yet served. */
  minimumDurationExposure: number;
}

export interface CostNow {
  /** ISO time the figures are for. */
  at: string;
  by: CostDimension[];
  lines: CostLine[];
  total: Omit<CostLine, "group">;
  prices: PriceSource[];
  unknown: string[];
}

// ---- strata cost compare: the same files priced everywhere ----------------------------------

/** How much of the data is read back in a year, and how fast it must come back. */
export interface RecallScenario {
  /** Share of the bytes read back per year (0.05 for `--recall 5%/year`). */
  sharePerYear: number;
  /** Restore tier for archive classes; absent: the cheapest each class offers. */
  tier?: RestoreTier;
}

/** One placement (provider and class) priced for one group of files, per month unless named. */
export interface PlacementCost {
  provider: string;
  class: string;
  storage: number;
  /** Reads (GET) at the files' estimated access rates. */
  requests: number;
  /** Retrieval and restore fees of the recall scenario and the access rates. */
  retrieval: number;
  /** Data transfer out for the bytes read back. */
  egress: number;
  monthly: number;
  /** One-time: putting the files there (PUT requests), not counting egress from where they are now. */
  upload: number;
  source: PriceSource;
}

/** Files alike enough to be placed together: grouped by size band and access band. */
export interface CompareGroup {
  name: string;
  objects: number;
  bytes: number;
  accessesPerMonth: number;
  /** Bytes read back a month: the recall's share and the reads at the access rates. */
  bytesReadPerMonth?: number;
  placements: PlacementCost[];
  /** The placement with the lowest monthly cost (provider/class). */
  cheapest: string;
}

export interface Comparison {
  at: string;
  recall: RecallScenario;
  /**
   * What the data costs where it is now (CostNow's total monthly). Optional: compareCosts does
   * not compute it (costNow does); a caller holding a CostNow sets it.
   */
  currentMonthly?: number;
  groups: CompareGroup[];
  /** The whole data set in each placement, and the mix of each group's cheapest. */
  totals: PlacementCost[];
  cheapestMix: { monthly: number; byGroup: Record<string, string> };
  prices: PriceSource[];
  /** How figures were found where a rule chose (a restore tier a class lacks, the access bands). */
  basis?: string[];
  unknown: string[];
}

// ---- Scan history and measured rates ---------------------------------------------------------

export interface GrowthPoint {
  /** ISO time of the scan's end. */
  at: string;
  files: number;
  bytes: number;
}

export interface Growth {
  location: string;
  points: GrowthPoint[];
  /** Least-squares slope over the points; absent with fewer than two scans a day apart. */
  bytesPerDay?: number;
  filesPerDay?: number;
  /** "4 scans over 38 days", or why there is no rate. */
  basis: string;
}

/** What Strata's own runs achieved between two locations. */
export interface PairRate {
  from: string;
  to: string;
  runs: number;
  files: number;
  bytes: number;
  /** Wall time of the runs' transfers. */
  seconds: number;
  bytesPerSecond: number;
  filesPerSecond: number;
}

// ---- strata cost forecast ----------------------------------------------------------------------

export interface ForecastMonth {
  /** 1 is the month starting now. */
  month: number;
  asIs: number;
  withPolicies: number;
  /** Monthly cost per tier ("location/class"), as-is and with the policies applied. */
  asIsByTier: Record<string, number>;
  withPoliciesByTier: Record<string, number>;
}

export interface Forecast {
  at: string;
  months: ForecastMonth[];
  growth: Growth[];
  /** Applying the enabled policies' current plan once. */
  migration: {
    /** Transfer, requests, early deletion, retrieval, egress: paid once. */
    oneTime: number;
    monthlySaving: number;
    /** First month whose cumulative saving covers the one-time cost; absent when never inside the horizon. */
    breakEvenMonth?: number;
  };
  /** Cumulative cost over 36 and 60 months, as-is and with policies. */
  totals: { months: number; asIs: number; withPolicies: number }[];
  /** (as-is − with policies − one-time) / one-time over the horizon; absent without a one-time cost. */
  roi?: number;
  prices: PriceSource[];
  unknown: string[];
}

// ---- strata cost migrate SRC DST --------------------------------------------------------------

export interface MigrationEstimate {
  from: string;
  to: string;
  /** The class the objects land in at DST. */
  toClass: string;
  objects: number;
  bytes: number;
  /** One-time. */
  egress: number;
  requests: number;
  retrieval: number;
  earlyDeletion: number;
  oneTime: number;
  /** Monthly, before and after (objects at SRC, then at DST), with per-object overheads. */
  monthlyBefore: number;
  monthlyAfter: number;
  /** Measured between these places (or the closest pair measured); absent when never measured. */
  rate?: PairRate;
  /** Time the move takes at that rate. */
  seconds?: number;
  prices: PriceSource[];
  /** How figures were found: the egress rule applied, the restore tier, the pair whose rate was used. */
  basis?: string[];
  unknown: string[];
}

// ---- The architecture and the implementation plan ----------------------------------------------

/** A location as the data-flow diagram draws it. */
export interface FlowNode {
  location: string;
  /** The backend kind (posix, s3, azure, gcs, local). */
  kind: string;
  url: string;
  defaultClass?: string;
}

/** One placement of one policy (or a configured sync), as an arrow from source to target. */
export interface FlowEdge {
  policy: string;
  from: string;
  to: string;
  /** Cron expression; absent for a policy run by hand. */
  schedule?: string;
  /** "seed tiering", "cost tiering", or the class written. */
  placement: string;
  /** What happens to the source once its copies are verified: keep, release, purge. */
  then: string;
  /** Selector and filters in words ("*.tmp excluded", "older than 30 days"). */
  selects: string[];
  /** Verified copies the policy requires before it releases or purges the source. */
  copies?: number;
  /** Replicas of files deleted at the source are removed (`prune: true`). */
  prune?: boolean;
  /** The purge rule in words, for `then: purge`. */
  purge?: string;
}

export interface DataFlow {
  nodes: FlowNode[];
  edges: FlowEdge[];
}

/** A group of the current plan's actions moved together: by age band, then size band. */
export interface MigrationWave {
  name: string;
  files: number;
  bytes: number;
  /** One-time cost (requests, retrieval, early deletion, egress) and the monthly change it brings. */
  oneTime: number;
  monthlyDelta: number;
  /** At the measured rate between its locations; absent when never measured. */
  seconds?: number;
  /** How `seconds` was found (the pairs and rates), or why it is absent. */
  basis?: string;
}

/** What one scheduled policy needs inside the time between two of its runs. */
export interface ScheduleNeed {
  policy: string;
  schedule: string;
  /** Time between two runs of the schedule. */
  windowSeconds: number;
  /** Bytes a run is expected to move: the daily growth of its sources over one window. */
  bytesPerRun?: number;
  /** At the measured rate between its locations. */
  secondsNeeded?: number;
  /** windowSeconds / secondsNeeded: above 1 the schedule keeps up. */
  headroom?: number;
  /** How the figures were found, or why one is missing. */
  basis: string;
}
