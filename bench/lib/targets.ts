import type { Sample } from "./bench.js";
import type { Workload } from "./options.js";
import { compareBuilds, fmt, type Row, ratio, summarize } from "./report.js";
import type { BaselineTool, Tool } from "./tools.js";

/** One of the targets next to what this run measured. */
export interface TargetResult {
  workload: Workload;
  target: string;
  measured: string;
  met: boolean;
}

type Check = (samples: Sample[], files: number) => TargetResult[];

const RCLONES: Tool[] = ["rclone", "rclone-tuned"];

/** The fastest (lowest median wall) row among the tools. */
function fastest(rows: Row[], tools: Tool[]): Row | undefined {
  return rows.filter((r) => tools.includes(r.tool)).sort((a, b) => a.wallS - b.wallS)[0];
}

function row(rows: Row[], tool: Tool): Row | undefined {
  return rows.find((r) => r.tool === tool);
}

const uploadTargets: Check = (samples, files) => {
  const rows = summarize(samples, "upload");
  const strata = row(rows, "strata");
  const best = fastest(rows, RCLONES);
  if (!strata || !best) return [];
  const speed = best.wallS / strata.wallS;
  const perFile = (r: Row) => (r.cpuS * 1000) / files;
  return [
    {
      workload: "upload",
      target: "≥ 1.3× faster than rclone's best",
      measured: `${best.tool}/strata = ${fmt(speed, 2)}×`,
      met: speed >= 1.3,
    },
    {
      workload: "upload",
      target: "less client CPU per file than that rclone",
      measured: `strata ${fmt(perFile(strata), 3)} ms/file, ${best.tool} ${fmt(perFile(best), 3)} ms/file`,
      met: strata.cpuS < best.cpuS,
    },
  ];
};

const bigTargets: Check = (samples) => {
  const rows = summarize(samples, "big");
  const strata = row(rows, "strata");
  const best = fastest(rows, [...RCLONES, "aws"]);
  if (!strata || !best) return [];
  const speed = best.wallS / strata.wallS;
  const measured = `${best.tool}/strata = ${fmt(speed, 2)}×`;
  return [{ workload: "big", target: "at least as fast as the best of rclone and aws", measured, met: speed >= 1 }];
};

const noopTargets: Check = (samples) => {
  const rows = summarize(samples, "noop");
  const results: TargetResult[] = [];
  for (const [tool, factor] of [
    ["rclone", 10],
    ["aws", 3],
  ] as const) {
    const speed = ratio(rows, tool);
    if (speed === undefined) continue;
    const measured = `${tool}/strata = ${fmt(speed, 2)}×`;
    results.push({
      workload: "noop",
      target: `≥ ${factor}× faster than ${tool} (default)`,
      measured,
      met: speed >= factor,
    });
  }
  return results;
};

const changedTargets: Check = (samples) => {
  const rows = summarize(samples, "changed");
  const strata = row(rows, "strata");
  const best = fastest(rows, RCLONES);
  const results: TargetResult[] = [];
  if (strata && best) {
    const speed = best.wallS / strata.wallS;
    const measured = `${best.tool}/strata = ${fmt(speed, 2)}×`;
    results.push({ workload: "changed", target: "≥ 5× faster than rclone's best", measured, met: speed >= 5 });
  }
  const runs = samples.filter((s) => s.workload === "changed" && s.tool === "strata");
  if (runs.length > 0) {
    const exact = runs.filter((s) => s.copied?.files === s.expected?.files && s.copied?.bytes === s.expected?.bytes);
    const amount = (x?: { files: number; bytes: number }) =>
      x ? `${x.files} files/${x.bytes.toLocaleString("en-US")} B` : "?";
    const shown = runs.map((s) => `${amount(s.copied)} (rewritten: ${amount(s.expected)})`);
    results.push({
      workload: "changed",
      target: "only the changed content re-uploaded",
      measured: `copied ${shown.join("; ")}`,
      met: exact.length === runs.length,
    });
  }
  return results;
};

const downloadTargets: Check = (samples) => {
  const rows = summarize(samples, "download");
  const strata = row(rows, "strata");
  const best = fastest(rows, RCLONES);
  if (!strata || !best) return [];
  const speed = best.wallS / strata.wallS;
  const measured = `${best.tool}/strata = ${fmt(speed, 2)}×`;
  return [{ workload: "download", target: "at least as fast as rclone's best", measured, met: speed >= 1 }];
};

const scanTargets: Check = (samples) => {
  const rows = summarize(samples, "scan");
  const strata = row(rows, "strata");
  const find = row(rows, "find");
  if (!strata || !find) return [];
  const share = find.wallS / strata.wallS;
  const measured = `strata at ${fmt(share, 2)} of find's rate`;
  return [{ workload: "scan", target: "≥ half the rate of find", measured, met: share >= 0.5 }];
};

const rssTargets: Check = (samples) => {
  const peak = (workloads: Workload[]) => {
    const runs = samples.filter((s) => s.tool === "strata" && workloads.includes(s.workload));
    return runs.length > 0 ? Math.max(...runs.map((s) => s.m.maxRssMB)) : undefined;
  };
  const results: TargetResult[] = [];
  const sync = peak(["upload", "noop", "changed", "download"]);
  if (sync !== undefined) {
    const measured = `${fmt(sync, 0)} MB (peak of upload, no-op, changed, download)`;
    results.push({
      workload: "upload",
      target: "peak RSS ≤ 150 MB on the main-tree syncs",
      measured,
      met: sync <= 150,
    });
  }
  const scanned = peak(["scan"]);
  if (scanned !== undefined) {
    const measured = `${fmt(scanned, 0)} MB (strata scan)`;
    results.push({ workload: "scan", target: "peak RSS ≤ 300 MB on the scan tree", measured, met: scanned <= 300 });
  }
  return results;
};

/**
 * How much slower than the old build still counts as "within noise": a tenth. It is a reading of
 * the words, not a measured spread; the log shows every run, so a reader can judge.
 */
const WITHIN_NOISE = 1.1;

/** The "no slower": the no-op re-sync and the small-file upload against the old build. */
function baselineTargets(samples: Sample[], baseline: BaselineTool): TargetResult[] {
  return compareBuilds(samples, baseline, ["noop", "upload"]).map((c) => ({
    workload: c.workload,
    target: `within noise of ${baseline}: new/old median wall ≤ ${fmt(WITHIN_NOISE, 2)}`,
    measured: `strata/${baseline} = ${fmt(c.wallRatio, 2)}× wall, ${fmt(c.cpuRatio, 2)}× CPU`,
    met: c.wallRatio <= WITHIN_NOISE,
  }));
}

export function evaluateTargets(samples: Sample[], files: number, baseline?: BaselineTool): TargetResult[] {
  const checks = [uploadTargets, bigTargets, noopTargets, changedTargets, downloadTargets, scanTargets, rssTargets];
  const againstOld = baseline ? baselineTargets(samples, baseline) : [];
  return [...checks.flatMap((check) => check(samples, files)), ...againstOld];
}
