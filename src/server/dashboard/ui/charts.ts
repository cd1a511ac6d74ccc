import uPlot from "uplot";

/** Charts drawn with uPlot (canvas): time series, and bars for categories such as age buckets. */

const PALETTE = ["#2f6fab", "#d9822b", "#3a9d5d", "#b53f51", "#7a5ea8", "#8c6d3f", "#c2569b", "#5f7f8c"];

export interface Line {
  label: string;
  values: (number | null)[];
}

function colour(index: number): string {
  return PALETTE[index % PALETTE.length] as string;
}

function size(container: HTMLElement): { width: number; height: number } {
  return { width: Math.max(320, container.clientWidth || 560), height: 240 };
}

/** Lines over time: x in seconds since the epoch, one series per line. */
export function timeChart(container: HTMLElement, x: number[], lines: Line[], format: (v: number) => string): uPlot {
  const options: uPlot.Options = {
    ...size(container),
    scales: { x: { time: true } },
    series: [
      {},
      ...lines.map((line, index) => ({
        label: line.label,
        stroke: colour(index),
        width: 2,
        points: { show: true, size: 6 },
        value: (_u: uPlot, v: number | null) => (v === null ? "–" : format(v)),
      })),
    ],
    axes: [{}, { size: 80, values: (_u, ticks) => ticks.map(format) }],
  };
  return new uPlot(options, [x, ...lines.map((line) => line.values)], container);
}

/** Lines over a numbered axis (months ahead). */
export function stepChart(
  container: HTMLElement,
  x: number[],
  lines: Line[],
  format: (v: number) => string,
  xLabel: string,
): uPlot {
  const options: uPlot.Options = {
    ...size(container),
    scales: { x: { time: false } },
    series: [
      { label: xLabel },
      ...lines.map((line, index) => ({
        label: line.label,
        stroke: colour(index),
        width: 2,
        value: (_u: uPlot, v: number | null) => (v === null ? "–" : format(v)),
      })),
    ],
    axes: [{ label: xLabel }, { size: 80, values: (_u, ticks) => ticks.map(format) }],
  };
  return new uPlot(options, [x, ...lines.map((line) => line.values)], container);
}

/** One bar per category, categories named on the x axis. */
export function barChart(
  container: HTMLElement,
  categories: string[],
  bar: Line,
  format: (v: number) => string,
  categoryLabel: string,
): uPlot {
  const x = categories.map((_, index) => index);
  const options: uPlot.Options = {
    ...size(container),
    // Bars grow from zero: a range fitted to the data would make small buckets look empty.
    scales: {
      x: { time: false, range: [-0.5, categories.length - 0.5] },
      y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.05 : 1] },
    },
    series: [
      { label: categoryLabel, value: (_u, v) => categories[v] ?? "" },
      {
        label: bar.label,
        fill: colour(0),
        stroke: colour(0),
        paths: uPlot.paths.bars?.({ size: [0.7, 80] }),
        points: { show: false },
        value: (_u: uPlot, v: number | null) => (v === null ? "–" : format(v)),
      },
    ],
    axes: [
      { values: (_u, ticks) => ticks.map((tick) => categories[tick] ?? ""), splits: () => x },
      { size: 80, values: (_u, ticks) => ticks.map(format) },
    ],
  };
  return new uPlot(options, [x, bar.values], container);
}
