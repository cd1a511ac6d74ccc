import type { Sample } from "./bench.js";
import type { Workload } from "./options.js";
import type { BaselineTool, Tool } from "./tools.js";

/** The medians (and the peak RSS) of one tool's runs of one workload. */
export interface Row {
  tool: Tool;
  runs: number;
  failed: number;
  wallS: number;
  cpuS: number;
  maxRssMB: number;
  serverCpuS?: number;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function summarize(samples: Sample[], workload: Workload): Row[] {
  const rows: Row[] = [];
  const mine = samples.filter((s) => s.workload === workload);
  for (const tool of [...new Set(mine.map((s) => s.tool))]) {
    const runs = mine.filter((s) => s.tool === tool);
    const server = runs.flatMap((s) => (s.m.serverCpuS === undefined ? [] : [s.m.serverCpuS]));
    rows.push({
      tool,
      runs: runs.length,
      failed: runs.filter((s) => s.m.exitCode !== 0).length,
      wallS: median(runs.map((s) => s.m.wallS)),
      cpuS: median(runs.map((s) => s.m.cpuS)),
      maxRssMB: Math.max(...runs.map((s) => s.m.maxRssMB)),
      ...(server.length > 0 ? { serverCpuS: median(server) } : {}),
    });
  }
  return rows;
}

/** How many times faster Strata is than `other` (its median wall over Strata's). */
export function ratio(rows: Row[], other: Tool): number | undefined {
  const strata = rows.find((r) => r.tool === "strata");
  const them = rows.find((r) => r.tool === other);
  return strata && them ? them.wallS / strata.wallS : undefined;
}

/** The current build against the `--baseline` one in one workload: medians, and new over old. */
export interface BuildComparison {
  workload: Workload;
  current: Row;
  baseline: Row;
  /** Median wall time of the current build over the baseline's: above 1, the current is slower. */
  wallRatio: number;
  cpuRatio: number;
}

export function compareBuilds(samples: Sample[], baseline: BaselineTool, workloads: Workload[]): BuildComparison[] {
  return workloads.flatMap((workload) => {
    const rows = summarize(samples, workload);
    const current = rows.find((r) => r.tool === "strata");
    const old = rows.find((r) => r.tool === baseline);
    if (!current || !old) return [];
    return [
      {
        workload,
        current,
        baseline: old,
        wallRatio: current.wallS / old.wallS,
        cpuRatio: current.cpuS / old.cpuS,
      },
    ];
  });
}

/** A table (header first) of the current build against the baseline, one row per workload. */
export function comparisonTable(comparisons: BuildComparison[], baseline: BaselineTool): string[][] {
  const head = [
    "workload",
    "strata wall s",
    `${baseline} wall s`,
    "new/old wall",
    "strata CPU s",
    `${baseline} CPU s`,
    "new/old CPU",
    "strata max RSS MB",
    `${baseline} max RSS MB`,
  ];
  const body = comparisons.map((c) => [
    c.workload,
    fmt(c.current.wallS, 2),
    fmt(c.baseline.wallS, 2),
    `${fmt(c.wallRatio, 2)}×`,
    fmt(c.current.cpuS, 2),
    fmt(c.baseline.cpuS, 2),
    `${fmt(c.cpuRatio, 2)}×`,
    fmt(c.current.maxRssMB, 0),
    fmt(c.baseline.maxRssMB, 0),
  ]);
  return [head, ...body];
}

/** Per-workload facts the tables need: how many files a run handles. */
export interface Scale {
  files: number;
  bigBytes: number;
  scanFiles: number;
}

function filesIn(workload: Workload, scale: Scale): number {
  if (workload === "scan") return scale.scanFiles;
  return workload === "big" ? 1 : scale.files;
}

/** A table (header first) for one workload, as plain cells. */
export function workloadTable(workload: Workload, rows: Row[], scale: Scale): string[][] {
  const files = filesIn(workload, scale);
  const head = ["tool", "runs", "median wall s", "median CPU s", "CPU ms/file", "max RSS MB", "RGW CPU s", "vs strata"];
  if (workload === "scan") head.splice(4, 1, "files/s");
  const body = rows.map((r) => {
    const vs = r.tool === "strata" ? "—" : `${r.tool}/strata = ${fmt(ratio(rows, r.tool), 2)}×`;
    const perFile = workload === "scan" ? fmt(files / r.wallS, 0) : fmt((r.cpuS * 1000) / files, 3);
    return [
      r.failed ? `${r.tool} (${r.failed} failed)` : r.tool,
      String(r.runs),
      fmt(r.wallS, 2),
      fmt(r.cpuS, 2),
      perFile,
      fmt(r.maxRssMB, 0),
      r.serverCpuS === undefined ? "?" : fmt(r.serverCpuS, 1),
      vs,
    ];
  });
  return [head, ...body];
}

export function fmt(value: number | undefined, digits: number): string {
  if (value === undefined || !Number.isFinite(value)) return "?";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A table as aligned text (for the terminal). */
export function textTable(cells: string[][]): string {
  const widths = (cells[0] ?? []).map((_, i) => Math.max(...cells.map((row) => (row[i] ?? "").length)));
  return cells.map((row) => row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ")).join("\n");
}

/** A table as Markdown. */
export function markdownTable(cells: string[][]): string {
  const [head = [], ...body] = cells;
  const line = (row: string[]) => `| ${row.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...body.map(line)].join("\n");
}
