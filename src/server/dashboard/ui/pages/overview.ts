import {
  type CapacityPoint,
  costNowSchema,
  duSchema,
  type Forecast,
  forecastSchema,
  get,
  seriesSchema,
} from "../api.js";
import { barChart, stepChart, timeChart } from "../charts.js";
import { el, figure, stats, table } from "../dom.js";
import { bytes, count, usd, when } from "../format.js";
import { panel } from "../panel.js";

/** Capacity by location and tier over time, growth, cost now and ahead, and how old the data is. */

/** The series the chart shows: a year back. */
const SERIES_DAYS = 365;

export function overviewPage(main: HTMLElement): void {
  // The forecast feeds two panels (growth and cost ahead): asked for once.
  let forecast: Promise<Forecast> | undefined;
  const theForecast = () => {
    forecast ??= get("/api/v1/cost/forecast", forecastSchema);
    return forecast;
  };
  main.append(
    el(
      "div",
      { class: "grid" },
      panel("Capacity by location and tier", capacity),
      panel("Growth", async (body) => growth(body, await theForecast())),
      panel("Monthly cost", cost),
      panel("Cost forecast", async (body) => costAhead(body, await theForecast())),
      panel("Files and bytes by age", age),
    ),
  );
}

/** "location" for a tree's own files, "location/class" for a store's class. */
function tier(point: CapacityPoint): string {
  return point.class ? `${point.location}/${point.class}` : point.location;
}

/** Stored bytes per tier at each snapshot time, summed over states (lost replicas excluded: they hold nothing). */
function capacityLines(points: CapacityPoint[]): {
  x: number[];
  lines: { label: string; values: (number | null)[] }[];
} {
  const times = [...new Set(points.map((p) => p.at))].sort();
  const column = new Map(times.map((at, index) => [at, index]));
  const byTier = new Map<string, (number | null)[]>();
  for (const point of points) {
    if (point.state === "lost" || point.state === "deleted") continue;
    const values = byTier.get(tier(point)) ?? times.map(() => null);
    const index = column.get(point.at) as number;
    values[index] = (values[index] ?? 0) + point.storedBytes;
    byTier.set(tier(point), values);
  }
  const lines = [...byTier].sort(([a], [b]) => a.localeCompare(b)).map(([label, values]) => ({ label, values }));
  return { x: times.map((at) => Date.parse(at) / 1000), lines };
}

async function capacity(body: HTMLElement): Promise<void> {
  // Milliseconds since the epoch, as the API reads `since`.
  const since = Date.now() - SERIES_DAYS * 86_400_000;
  const points = await get(`/api/v1/series?since=${since}`, seriesSchema);
  if (points.length === 0) {
    body.append(el("p", { class: "empty" }, "No snapshots yet: they are taken after each scan and run."));
    return;
  }
  const { x, lines } = capacityLines(points);
  const chart = figure("capacity", "Stored bytes per location and storage class, at each scan and run");
  body.append(chart.figure);
  timeChart(chart.plot, x, lines, bytes);
  const first = lines.reduce((sum, line) => sum + (line.values.find((v) => v !== null) ?? 0), 0);
  const last = lines.reduce((sum, line) => sum + (line.values.findLast((v) => v !== null) ?? 0), 0);
  body.append(
    stats([
      ["Stored now", bytes(last)],
      ["Change since first snapshot", `${last >= first ? "+" : ""}${bytes(last - first)}`],
      ["Snapshots", count(x.length)],
      ["Since", when(new Date((x[0] as number) * 1000).toISOString())],
    ]),
  );
}

function growth(body: HTMLElement, forecast: Forecast): void {
  body.append(
    table(
      ["Location", "Bytes per day", "Files per day", "Basis"],
      forecast.growth.map((g) => [
        g.location,
        g.bytesPerDay === undefined ? "–" : bytes(g.bytesPerDay),
        g.filesPerDay === undefined ? "–" : count(Math.round(g.filesPerDay)),
        g.basis,
      ]),
    ),
  );
}

async function cost(body: HTMLElement): Promise<void> {
  const now = await get("/api/v1/cost", costNowSchema);
  body.append(
    stats([
      ["Per month", usd(now.total.monthly)],
      ["Stored", bytes(now.total.storedBytes)],
      ["Objects", count(now.total.objects)],
    ]),
    table(
      ["Where", "Objects", "Stored", "Per month"],
      [...now.lines]
        .sort((a, b) => b.monthly - a.monthly)
        .map((line) => [
          Object.values(line.group).join(" / "),
          count(line.objects),
          bytes(line.storedBytes),
          usd(line.monthly),
        ]),
    ),
    ...now.unknown.map((note) => el("p", { class: "note" }, note)),
  );
}

function costAhead(body: HTMLElement, forecast: Forecast): void {
  const chart = figure("forecast", "Monthly cost ahead, as-is and with the policies applied");
  body.append(chart.figure);
  stepChart(
    chart.plot,
    forecast.months.map((m) => m.month),
    [
      { label: "as-is", values: forecast.months.map((m) => m.asIs) },
      { label: "with policies", values: forecast.months.map((m) => m.withPolicies) },
    ],
    usd,
    "month",
  );
  const { oneTime, monthlySaving, breakEvenMonth } = forecast.migration;
  body.append(
    stats([
      ["One-time cost of the policies", usd(oneTime)],
      ["Saving per month", usd(monthlySaving)],
      ["Break-even", breakEvenMonth === undefined ? "–" : `month ${breakEvenMonth}`],
    ]),
    ...forecast.unknown.map((note) => el("p", { class: "note" }, note)),
  );
}

async function age(body: HTMLElement): Promise<void> {
  const rows = await get("/api/v1/du?by=age", duSchema);
  const categories = rows.map((row) => row.name);
  const files = figure("age-files", "Files by last access");
  const stored = figure("age-bytes", "Bytes by last access");
  body.append(files.figure, stored.figure);
  barChart(files.plot, categories, { label: "files", values: rows.map((row) => row.files) }, count, "last access");
  barChart(stored.plot, categories, { label: "bytes", values: rows.map((row) => row.bytes) }, bytes, "last access");
}
