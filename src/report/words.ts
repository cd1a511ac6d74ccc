/** Durations and sizes written as a person reads them in a report: exact where the config was. */

import { MONTH_MS } from "../policy/schema.js";

const DAY_MS = 86_400_000;
const YEAR_MS = 365 * DAY_MS;

/** A cost tiering's horizon, written in months (`12mo`) or as a duration. */
export function horizonWords(ms: number): string {
  return ms % MONTH_MS === 0 ? plural(ms / MONTH_MS, "month") : durationWords(ms);
}

/** A duration as a config would write it: "30 days", "1 year", "6 hours". */
export function durationWords(ms: number): string {
  const units: [number, string][] = [
    [YEAR_MS, "year"],
    [DAY_MS, "day"],
    [3_600_000, "hour"],
    [60_000, "minute"],
    [1000, "second"],
  ];
  for (const [unit, name] of units) {
    if (ms >= unit && ms % unit === 0) return plural(ms / unit, name);
  }
  // Not a whole number of any unit: days (or hours, below a day) to one decimal.
  return ms >= DAY_MS
    ? plural(Number((ms / DAY_MS).toFixed(1)), "day")
    : plural(Number((ms / 3_600_000).toFixed(1)), "hour");
}

export function plural(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? "" : "s"}`;
}

/** A size exactly as a person would write it: "1 GiB", "1 GB", or bytes when neither fits. */
export function sizeWords(bytes: number): string {
  const units: [number, string][] = [
    [1024 ** 4, "TiB"],
    [1000 ** 4, "TB"],
    [1024 ** 3, "GiB"],
    [1000 ** 3, "GB"],
    [1024 ** 2, "MiB"],
    [1000 ** 2, "MB"],
    [1024, "KiB"],
    [1000, "kB"],
  ];
  for (const [unit, name] of units) {
    if (bytes >= unit && bytes % unit === 0) return `${bytes / unit} ${name}`;
  }
  return `${bytes} bytes`;
}
