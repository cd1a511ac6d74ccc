import { parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

/*
 * The report's charts: Vega-Lite specs compiled to Vega and drawn by Vega's SVG string renderer
 * with no canvas and no browser (renderer "none"), so a report is drawn by Node alone, offline.
 * Each chart takes the figures it shows, already computed; it draws, it never computes money.
 */

const WIDTH = 560;
const HEIGHT = 240;
const FONT = "system-ui, -apple-system, Segoe UI, sans-serif";

/** A chart's SVG, standalone (it is written as a file and inlined in the HTML). */
export async function renderChart(spec: TopLevelSpec): Promise<string> {
  const vega = compile(spec).spec;
  const view = new View(parse(vega), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function base(title: string) {
  return {
    title,
    width: WIDTH,
    height: HEIGHT,
    config: {
      font: FONT,
      background: "white",
      view: { stroke: null },
      axis: { labelFontSize: 11, titleFontSize: 12, labelLimit: 220 },
      legend: { labelFontSize: 11, titleFontSize: 12, orient: "bottom", labelLimit: 260 },
      title: { fontSize: 14, anchor: "start" },
    },
  };
}

/** The binary unit the largest value reads best in, so an axis says "GiB" rather than "1e9". */
export function byteUnit(max: number): { unit: string; divisor: number } {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (max >= 1024 ** (i + 1) && i < units.length - 1) i++;
  return { unit: units[i] as string, divisor: 1024 ** i };
}

export interface TierBand {
  tier: string;
  band: string;
  bytes: number;
}

/** Bytes per tier, stacked by how long since the files were last read. */
export function tierBytesSpec(rows: TierBand[], bandOrder: readonly string[]): TopLevelSpec {
  const { unit, divisor } = byteUnit(
    Math.max(
      0,
      ...totalsBy(
        rows,
        (r) => r.tier,
        (r) => r.bytes,
      ),
    ),
  );
  return {
    ...base("Bytes per tier, by time since last access"),
    data: { values: rows.map((r) => ({ ...r, amount: r.bytes / divisor })) },
    mark: { type: "bar", tooltip: false },
    encoding: {
      x: { field: "tier", type: "nominal", title: "tier (location / class)", axis: { labelAngle: 0 } },
      y: { field: "amount", type: "quantitative", title: unit, stack: "zero" },
      color: { field: "band", type: "ordinal", title: "last access", sort: [...bandOrder], scale: { scheme: "blues" } },
      order: { field: "bandIndex", type: "quantitative" },
    },
    transform: [{ calculate: `indexof(${JSON.stringify(bandOrder)}, datum.band)`, as: "bandIndex" }],
  } as TopLevelSpec;
}

export interface TierCost {
  tier: string;
  part: "storage" | "overheads";
  usd: number;
}

/** Monthly cost per tier, storage and per-object overheads stacked. */
export function tierCostSpec(rows: TierCost[]): TopLevelSpec {
  return {
    ...base("Monthly cost per tier (USD)"),
    data: { values: rows },
    mark: "bar",
    encoding: {
      x: { field: "tier", type: "nominal", title: "tier (location / class)", axis: { labelAngle: 0 } },
      y: { field: "usd", type: "quantitative", title: "USD per month", stack: "zero" },
      color: {
        field: "part",
        type: "nominal",
        title: null,
        scale: { domain: ["storage", "overheads"], range: ["#2b6cb0", "#ed8936"] },
      },
    },
  } as TopLevelSpec;
}

export interface ForecastPoint {
  month: number;
  series: "as-is" | "with policies";
  usd: number;
}

/** Monthly cost over the horizon, as-is against with the policies, the break-even month marked. */
export function forecastSpec(points: ForecastPoint[], breakEvenMonth?: number): TopLevelSpec {
  const lines = {
    mark: { type: "line", point: points.length <= 40, strokeWidth: 2 },
    encoding: {
      x: { field: "month", type: "quantitative", title: "month", axis: { tickMinStep: 1 }, scale: { nice: false } },
      y: { field: "usd", type: "quantitative", title: "USD per month", scale: { zero: true } },
      color: { field: "series", type: "nominal", title: null, scale: { range: ["#c53030", "#2f855a"] } },
    },
  };
  const layers: unknown[] = [{ data: { values: points }, ...lines }];
  if (breakEvenMonth !== undefined) {
    const marker = { data: { values: [{ month: breakEvenMonth, label: `break-even: month ${breakEvenMonth}` }] } };
    layers.push(
      {
        ...marker,
        mark: { type: "rule", strokeDash: [6, 4], color: "#4a5568" },
        encoding: { x: { field: "month", type: "quantitative" } },
      },
      {
        ...marker,
        mark: { type: "text", align: "left", dx: 4, dy: -6, baseline: "top", color: "#4a5568" },
        encoding: { x: { field: "month", type: "quantitative" }, y: { value: 0 }, text: { field: "label" } },
      },
    );
  }
  return { ...base("Monthly cost: as-is against with the policies applied"), layer: layers } as TopLevelSpec;
}

export interface TierMonth {
  month: number;
  tier: string;
  series: "as-is" | "with policies";
  usd: number;
}

/** Each tier's monthly cost over the horizon: solid as-is, dashed with the policies. */
export function tierForecastSpec(points: TierMonth[]): TopLevelSpec {
  return {
    ...base("Monthly cost per tier: as-is (solid) and with the policies (dashed)"),
    data: { values: points },
    mark: { type: "line", strokeWidth: 2 },
    encoding: {
      x: { field: "month", type: "quantitative", title: "month", axis: { tickMinStep: 1 }, scale: { nice: false } },
      y: { field: "usd", type: "quantitative", title: "USD per month", scale: { zero: true } },
      color: { field: "tier", type: "nominal", title: "tier" },
      strokeDash: {
        field: "series",
        type: "nominal",
        title: null,
        scale: {
          domain: ["as-is", "with policies"],
          range: [
            [1, 0],
            [6, 4],
          ],
        },
      },
      detail: { field: "series" },
    },
  } as TopLevelSpec;
}

export interface GrowthSample {
  location: string;
  at: string;
  bytes: number;
}

/** Each location's size at each finished scan. */
export function growthSpec(samples: GrowthSample[]): TopLevelSpec {
  const { unit, divisor } = byteUnit(Math.max(0, ...samples.map((s) => s.bytes)));
  return {
    ...base("Size per location at each scan"),
    data: { values: samples.map((s) => ({ ...s, amount: s.bytes / divisor })) },
    mark: { type: "line", point: true, strokeWidth: 2 },
    encoding: {
      x: { field: "at", type: "temporal", title: "scan (UTC)", scale: { type: "utc" }, axis: { format: "%Y-%m-%d" } },
      y: { field: "amount", type: "quantitative", title: unit },
      color: { field: "location", type: "nominal", title: "location" },
    },
  } as TopLevelSpec;
}

export interface PairThroughput {
  pair: string;
  bytesPerSecond: number;
}

/** What Strata's own runs achieved per pair of locations. */
export function throughputSpec(pairs: PairThroughput[]): TopLevelSpec {
  const { unit, divisor } = byteUnit(Math.max(0, ...pairs.map((p) => p.bytesPerSecond)));
  return {
    ...base("Measured throughput per pair of locations"),
    height: Math.max(60, pairs.length * 28),
    data: { values: pairs.map((p) => ({ ...p, rate: p.bytesPerSecond / divisor })) },
    mark: { type: "bar", color: "#2b6cb0" },
    encoding: {
      y: { field: "pair", type: "nominal", title: null, axis: { labelLimit: 360 } },
      x: { field: "rate", type: "quantitative", title: `${unit}/s` },
    },
  } as TopLevelSpec;
}

export interface WaveBar {
  wave: string;
  bytes: number;
}

/** Bytes each migration wave moves, in plan order. */
export function wavesSpec(waves: WaveBar[]): TopLevelSpec {
  const { unit, divisor } = byteUnit(Math.max(0, ...waves.map((w) => w.bytes)));
  return {
    ...base("Migration waves: bytes moved per wave"),
    height: Math.max(60, waves.length * 28),
    data: { values: waves.map((w, i) => ({ ...w, order: i, amount: w.bytes / divisor })) },
    mark: { type: "bar", color: "#6b46c1" },
    encoding: {
      y: { field: "wave", type: "nominal", title: null, sort: { field: "order" }, axis: { labelLimit: 360 } },
      x: { field: "amount", type: "quantitative", title: unit },
    },
  } as TopLevelSpec;
}

function totalsBy<T>(rows: T[], key: (row: T) => string, value: (row: T) => number): number[] {
  const totals = new Map<string, number>();
  for (const row of rows) totals.set(key(row), (totals.get(key(row)) ?? 0) + value(row));
  return [...totals.values()];
}
