import { formatDuration } from "../../config/units.js";
import type { Block } from "../render/document.js";
import { unknown } from "../render/document.js";

/** A tier's name on a chart and in a table: "archive / GLACIER", or the location alone. */
export function tierName(location: string, cls: string | undefined): string {
  return cls ? `${location} / ${cls}` : location;
}

const DAY_MS = 86_400_000;

/** A span of time people plan with: days from a day up ("400 days", not "9600 h 0 min"). */
export function span(ms: number): string {
  if (ms < DAY_MS) return formatDuration(ms);
  const days = ms / DAY_MS;
  return `${days.toLocaleString("en", { maximumFractionDigits: 1 })} ${days === 1 ? "day" : "days"}`;
}

export function seconds(value: number): string {
  return span(value * 1000);
}

export function count(value: number): string {
  return value.toLocaleString("en");
}

export function percent(share: number): string {
  return `${(share * 100).toLocaleString("en", { maximumFractionDigits: 1 })}%`;
}

/** The reasons a figure is missing, once each, as one "cannot be known yet" block; none when there are none. */
export function unknowns(...lists: (readonly string[] | undefined)[]): Block[] {
  const items = [...new Set(lists.flatMap((l) => l ?? []))];
  return items.length > 0 ? [unknown(items)] : [];
}

/** "the least-squares slope over 4 scans" unless it is missing; a missing figure is a dash, never 0. */
export function orDash<T>(value: T | undefined, format: (v: T) => string): string {
  return value === undefined ? "—" : format(value);
}

/** How many times over: "2.4×", "1,896×" (digits past the point say nothing once it is large). */
export function times(ratio: number): string {
  return `${ratio.toLocaleString("en", { maximumFractionDigits: ratio >= 10 ? 0 : 1 })}×`;
}
