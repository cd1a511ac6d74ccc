import { formatRate } from "../config/units.js";
import type { PairRate } from "./model.js";

/** The rate Strata's runs measured from one location to another; undefined when never measured. */
export function measuredRate(rates: readonly PairRate[], from: string, to: string): PairRate | undefined {
  return rates.find((rate) => rate.from === from && rate.to === to && rate.bytesPerSecond > 0);
}

/** "scratch → archive at 95.4 MiB/s (3 runs)": where a time estimate's rate came from. */
export function rateWords(rate: PairRate): string {
  return `${rate.from} → ${rate.to} at ${formatRate(rate.bytesPerSecond)} (${rate.runs} ${rate.runs === 1 ? "run" : "runs"})`;
}
