import { HOUR_MS, type OnpremMedium, type PriceProfile } from "../profile.js";
import { FREE, GB_PER_TB } from "./local.js";

/**
 * On-premises media as research-computing centres charge for them, per TB-year: what `strata
 * cost compare` sets beside the clouds' classes. A recharge rate is what a lab pays, so it
 * already spreads hardware, power, space and staff over the capacity sold; it is billed by
 * allocation (in 10 TB or whole-tape steps), which is not modelled: the data is priced by the
 * byte, like the clouds. "TB" is 2^40 bytes (FASRC bills TiB; Northeastern writes TB).
 */
export interface MediumPrice {
  perTBYear: number;
  source: string;
  /** The date the rate was read (YYYY-MM-DD). */
  asOf: string;
}

/** Harvard FAS Research Computing, Storage Service Center, Tier 2 (NFS storage): $100 per TB-year. */
export const DISK_PRICE: MediumPrice = {
  perTBYear: 100,
  source:
    "Harvard FAS Research Computing, Storage Service Center, Tier 2 (NFS): $8.33 per TB-month ($100/yr), " +
    "https://rc.fas.harvard.edu/kb/storage/",
  asOf: "2026-12-05",
};

/** Northeastern University Research Computing, archival storage on tape: $15 per TB-year. */
export const TAPE_PRICE: MediumPrice = {
  perTBYear: 15,
  source:
    "Northeastern University Research Computing, Research Projects Storage Space Policy, archival tape: " +
    "$15/TB/year, https://rc.northeastern.edu/research-projects-storage-space-policy",
  asOf: "2026-12-05",
};

/**
 * How long a tape recall takes: Queen Mary University of London's tape archive says recalled
 * files are "typically available within a few minutes to an hour"
 * (https://learn.hpc.qmul.ac.uk/globus_archive/01_overview, read 2026-12-05). None of the
 * sources charges per recall, so a recall costs nothing here: not priced, rather than guessed.
 */
export const TAPE_RECALL_LATENCY_MS = HOUR_MS;

export const DEFAULT_MEDIUM_PRICES: Record<OnpremMedium, MediumPrice> = { disk: DISK_PRICE, tape: TAPE_PRICE };

/**
 * A medium as a price profile of one class named after it. Tape is an archive class: its
 * files are recalled before a read, at no charge, within TAPE_RECALL_LATENCY_MS; disk is read
 * directly. Nothing leaves a provider on premises: no egress, no request fees.
 */
export function mediumProfile(medium: OnpremMedium, price: MediumPrice = DEFAULT_MEDIUM_PRICES[medium]): PriceProfile {
  const storagePerGBMonth = price.perTBYear / 12 / GB_PER_TB;
  const recall = { perGB: 0, per1000: 0, latencyMs: TAPE_RECALL_LATENCY_MS };
  return {
    name: medium,
    region: "on premises",
    source: price.source,
    asOf: price.asOf,
    defaultClass: medium,
    flat: true,
    egressPerGB: 0,
    classes: {
      [medium]:
        medium === "tape"
          ? { ...FREE, storagePerGBMonth, archive: { tiers: { standard: recall } } }
          : { ...FREE, storagePerGBMonth },
    },
  };
}
