import type { CatalogDb } from "../catalog/db.js";
import type { Growth, GrowthPoint } from "./model.js";

const DAY_MS = 86_400_000;

/**
 * Each location's size over time, from its finished scans (a scan records the files and bytes
 * it saw), and the daily growth fitted through them by least squares. A location scanned once,
 * or only within one day, has no rate: growth is unknown, not zero.
 */
export async function scanGrowth(catalog: CatalogDb): Promise<Growth[]> {
  const rows = await catalog.db
    .selectFrom("scans")
    .innerJoin("locations", "locations.id", "scans.location_id")
    .select(["locations.name as location", "scans.finished_at", "scans.files", "scans.bytes"])
    .where("scans.status", "=", "done")
    .where("scans.finished_at", "is not", null)
    .orderBy("locations.name")
    .orderBy("scans.finished_at")
    .execute();
  const byLocation = new Map<string, { at: number; files: number; bytes: number }[]>();
  for (const row of rows) {
    const points = byLocation.get(row.location) ?? [];
    points.push({ at: row.finished_at as number, files: row.files, bytes: row.bytes });
    byLocation.set(row.location, points);
  }
  return [...byLocation].map(([location, points]) => growthOf(location, points));
}

function growthOf(location: string, points: { at: number; files: number; bytes: number }[]): Growth {
  const listed: GrowthPoint[] = points.map((p) => ({
    at: new Date(p.at).toISOString(),
    files: p.files,
    bytes: p.bytes,
  }));
  const first = points[0]?.at ?? 0;
  const last = points.at(-1)?.at ?? 0;
  const spanDays = (last - first) / DAY_MS;
  const scans = `${points.length} ${points.length === 1 ? "scan" : "scans"}`;
  if (points.length < 2 || spanDays < 1) {
    return { location, points: listed, basis: `${scans} within one day: no growth rate yet` };
  }
  const days = points.map((p) => (p.at - first) / DAY_MS);
  return {
    location,
    points: listed,
    bytesPerDay: slope(
      days,
      points.map((p) => p.bytes),
    ),
    filesPerDay: slope(
      days,
      points.map((p) => p.files),
    ),
    basis: `${scans} over ${Math.round(spanDays)} days`,
  };
}

/** The least-squares slope of y over x (x not all equal). */
export function slope(x: number[], y: number[]): number {
  const n = x.length;
  const meanX = x.reduce((a, b) => a + b, 0) / n;
  const meanY = y.reduce((a, b) => a + b, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (let i = 0; i < n; i++) {
    covariance += ((x[i] as number) - meanX) * ((y[i] as number) - meanY);
    variance += ((x[i] as number) - meanX) ** 2;
  }
  return covariance / variance;
}
