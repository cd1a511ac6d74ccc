/** Human units in, human units out: sizes like `1GiB` or `1.5G`, durations like `30d` or `2h`. */

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
  p: 1024 ** 5,
  pb: 1000 ** 5,
  pib: 1024 ** 5,
};

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};

/** Bytes from `1GiB`, `1.5G` (binary, as rclone reads it), `100MB` (decimal) or `512`. */
export function parseSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const factor = match ? SIZE_UNITS[(match[2] as string).toLowerCase()] : undefined;
  if (!match || factor === undefined) return undefined;
  return Math.round(Number(match[1]) * factor);
}

/** Milliseconds from `30d`, `2h`, `90s`, `500ms` or a combination such as `1h30m`. */
export function parseDuration(text: string): number | undefined {
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)\s*([a-z]+)/gi)];
  if (
    parts.length === 0 ||
    parts
      .map((p) => p[0])
      .join("")
      .replace(/\s/g, "") !== text.replace(/\s/g, "")
  ) {
    return undefined;
  }
  let total = 0;
  for (const part of parts) {
    const factor = DURATION_UNITS[(part[2] as string).toLowerCase()];
    if (factor === undefined) return undefined;
    total += Number(part[1]) * factor;
  }
  return Math.round(total);
}

export function formatBytes(bytes: number): string {
  const { value, unit } = binaryUnit(bytes);
  return unit === "B" ? `${Math.round(value)} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${unit}`;
}

/** "709 B/s", "1.2 MiB/s": a rate needs no more digits than the eye can use. */
export function formatRate(bytesPerSecond: number): string {
  const { value, unit } = binaryUnit(bytesPerSecond);
  return unit === "B" ? `${Math.round(value)} B/s` : `${value.toFixed(1)} ${unit}/s`;
}

function binaryUnit(bytes: number): { value: number; unit: string } {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return { value, unit: units[unit] as string };
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const totalMinutes = Math.floor(ms / 60_000);
  const hours = Math.floor(totalMinutes / 60);
  const minutes = totalMinutes % 60;
  const seconds = Math.floor((ms % 60_000) / 1000);
  return hours > 0 ? `${hours} h ${minutes} min` : `${minutes} min ${seconds} s`;
}

/** Per-second rate of `amount` over `ms`, as a number (0 when no time passed). */
export function perSecond(amount: number, ms: number): number {
  return ms > 0 ? (amount * 1000) / ms : 0;
}

/** Dollars for people: cents when there are some, two significant digits below a cent. */
export function formatUsd(amount: number): string {
  const abs = Math.abs(amount);
  const text =
    abs === 0
      ? "0"
      : abs < 0.01
        ? abs.toPrecision(2)
        : abs.toLocaleString("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return `${amount < 0 ? "-" : ""}$${text}`;
}
