import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { formatBytes } from "../../src/config/units.js";
import type { Baseline } from "./baseline.js";
import type { Bench } from "./bench.js";
import { WORKLOADS, type Workload } from "./options.js";
import {
  compareBuilds,
  comparisonTable,
  markdownTable,
  type Scale,
  summarize,
  textTable,
  workloadTable,
} from "./report.js";
import { markedSection, sectionOf } from "./results-section.js";
import type { Machine, Versions } from "./setup.js";
import { evaluateTargets, type TargetResult } from "./targets.js";
import type { Tree } from "./trees.js";

export interface RunInfo {
  started: Date;
  elapsedS: number;
  commandLine: string;
  machine: Machine;
  versions: Versions;
  main?: Tree;
  big?: Tree;
  scan?: Tree;
  /** How the re-sync workloads were ordered (all tools interleaved, or one tool at a time). */
  order: string;
  memstoreBytes: number;
  /** Load averages at the start and at the end of the run. */
  load: { start: string; end: string };
  strataYaml: string;
  rcloneConf: string;
  /** The older build timed beside the current one (`--baseline`). */
  baseline?: Baseline;
}

const TITLES: Record<Workload, string> = {
  upload: "a) initial upload of the main tree (fresh prefix each run)",
  big: "b) one large file (fresh prefix each run)",
  noop: "c) re-sync, nothing changed",
  changed: "d) re-sync after 1% of the files changed (half touched, half rewritten)",
  download: "e) download of everything into an empty directory",
  scan: "f) scan rate: `strata scan` into a fresh catalog vs `find -printf`",
};

function scaleOf(info: RunInfo): Scale {
  return { files: info.main?.files ?? 0, bigBytes: info.big?.bytes ?? 0, scanFiles: info.scan?.files ?? 0 };
}

function ran(bench: Bench): Workload[] {
  return WORKLOADS.filter((w) => bench.samples.some((s) => s.workload === w));
}

/** The per-workload tables and the targets, for the terminal. */
export function printSummary(bench: Bench, info: RunInfo, log: (line: string) => void): void {
  const scale = scaleOf(info);
  for (const workload of ran(bench)) {
    log(`\n${TITLES[workload]}`);
    log(textTable(workloadTable(workload, summarize(bench.samples, workload), scale)));
  }
  const comparison = buildComparison(bench, info);
  if (comparison) {
    log(`\n${comparison.title}`);
    log(textTable(comparison.cells));
  }
  log("\nTargets (from the issue):");
  log(textTable(targetCells(evaluateTargets(bench.samples, scale.files, info.baseline?.tool))));
  for (const note of bench.notes) log(`NOTE ${note}`);
}

function targetCells(targets: TargetResult[]): string[][] {
  return [
    ["workload", "target", "measured", ""],
    ...targets.map((t) => [t.workload, t.target, t.measured, t.met ? "met" : "NOT met"]),
  ];
}

export function writeResults(path: string, bench: Bench, info: RunInfo): void {
  const sections = [
    header(info),
    targetsSection(bench, info),
    comparisonSection(bench, info),
    analysisSection(dirname(path)),
    catalogScaleSection(dirname(path)),
    ...carriedSections(path),
    ...ran(bench).map((w) => workloadSection(bench, info, w)),
    notesSection(bench),
    commandsSection(bench, info),
  ];
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${sections.filter(Boolean).join("\n\n")}\n`);
}

/**
 * What limits each target that is not met, and what was tried: written by hand from profiles in
 * bench/ANALYSIS.md, and carried into every RESULTS.md so a re-run keeps it beside its figures.
 */
function analysisSection(dir: string): string {
  const file = join(dir, "ANALYSIS.md");
  return existsSync(file) ? readFileSync(file, "utf8").trim() : "";
}

/** The catalog bench's figures (bench/catalog-scale.ts writes CATALOG-SCALE.md), carried over likewise. */
function catalogScaleSection(dir: string): string {
  const file = join(dir, "CATALOG-SCALE.md");
  return existsSync(file) ? markedSection("catalog-scale", readFileSync(file, "utf8")) : "";
}

/** Sections other scripts write into RESULTS.md (api-load.ts, packs.ts, floors.ts), kept when this one rewrites it. */
function carriedSections(path: string): string[] {
  if (!existsSync(path)) return [];
  const previous = readFileSync(path, "utf8");
  return ["api-load", "packs", "floors-transfers", "floors-scan"].flatMap((name) => sectionOf(previous, name) ?? []);
}

/** The current build against the `--baseline` one, every workload both ran. */
function buildComparison(bench: Bench, info: RunInfo): { title: string; cells: string[][] } | undefined {
  const baseline = info.baseline;
  if (!baseline) return undefined;
  const comparisons = compareBuilds(bench.samples, baseline.tool, ran(bench));
  return {
    title: `The current build against ${baseline.tool} (--baseline ${baseline.rev}); new/old above 1 is slower`,
    cells: comparisonTable(comparisons, baseline.tool),
  };
}

function comparisonSection(bench: Bench, info: RunInfo): string {
  const comparison = buildComparison(bench, info);
  return comparison ? `## ${comparison.title}\n\n${markdownTable(comparison.cells)}` : "";
}

function header(info: RunInfo): string {
  const tree = (t: Tree | undefined) =>
    t ? `${t.files.toLocaleString("en-US")} file${t.files === 1 ? "" : "s"}, ${formatBytes(t.bytes)}` : "—";
  return [
    "# Strata benchmark: Strata, rclone and aws s3 sync against one Ceph RGW",
    "",
    `Run ${info.started.toISOString()} for ${(info.elapsedS / 60).toFixed(1)} min with`,
    `\`${info.commandLine}\` (see [README.md](README.md)).`,
    "",
    `- main tree: ${tree(info.main)}; big file: ${tree(info.big)}; scan tree: ${tree(info.scan)}`,
    `- order: ${info.order}`,
    `- RGW: one memstore OSD of ${formatBytes(info.memstoreBytes)} (everything in RAM), radosgw on 127.0.0.1`,
    `- load average (1, 5, 15 min): ${info.load.start} at the start, ${info.load.end} at the end`,
    `- machine: ${info.machine.nproc} CPUs (${info.machine.cpu}), Linux ${info.machine.kernel}`,
    `- versions: node ${info.versions.node}; strata ${info.versions.strata}, dist/ built ${info.versions.built};`,
    `  ${info.versions.rclone};`,
    `  ${info.versions.aws}; ${info.versions.ceph}`,
    ...(info.baseline
      ? [
          `- baseline: ${info.baseline.tool} = \`${info.baseline.rev}\` (${info.baseline.commit}), ` +
            `node_modules ${info.baseline.modules}, dist/ built ${info.baseline.built}`,
        ]
      : []),
    "",
    "```",
    "$ free -g",
    info.machine.free,
    "```",
  ].join("\n");
}

function targetsSection(bench: Bench, info: RunInfo): string {
  const scale = scaleOf(info);
  const targets = evaluateTargets(bench.samples, scale.files, info.baseline?.tool);
  const sizes: [made: number | undefined, issue: number][] = [
    [info.main?.files, 50_000],
    [info.big?.bytes, 2 ** 31],
    [info.scan?.files, 1_000_000],
  ];
  // A tree the run did not make (none of its workloads ran) is not a smaller one.
  const stated = sizes.every(([made, issue]) => made === undefined || made === issue)
    ? ""
    : "\n\nThe issue states its targets for 50,000 files, a 2 GiB file and 1,000,000 scanned files; " +
      "this run was smaller, so read the verdicts as indications.";
  return `## Targets\n\n${markdownTable(targetCells(targets))}${stated}`;
}

function workloadSection(bench: Bench, info: RunInfo, workload: Workload): string {
  const rows = summarize(bench.samples, workload);
  const lines = [`## ${TITLES[workload]}`, "", markdownTable(workloadTable(workload, rows, scaleOf(info)))];
  const strataRuns = bench.samples.filter((s) => s.workload === workload && s.tool === "strata" && s.copied);
  if (strataRuns.length > 0 && workload !== "download") {
    const copied = strataRuns.map((s) => {
      const expected = s.expected ? ` (had to: ${s.expected.files} files, ${s.expected.bytes} B)` : "";
      return `run ${s.run}: ${s.copied?.files} files, ${s.copied?.bytes} B${expected}`;
    });
    lines.push("", `Strata copied (its --json report): ${copied.join("; ")}.`);
  }
  return lines.join("\n");
}

function notesSection(bench: Bench): string {
  if (bench.notes.length === 0) return "";
  return `## Problems seen\n\n${bench.notes.map((n) => `- ${n}`).join("\n")}`;
}

function commandsSection(bench: Bench, info: RunInfo): string {
  const lines = [
    "## Exact commands",
    "",
    "Each runs as `/usr/bin/time -v <command>` from the repository root, with AWS_ACCESS_KEY_ID,",
    "AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION=us-east-1 set and AWS_CONFIG_FILE and",
    "AWS_SHARED_CREDENTIALS_FILE pointing at an empty file. `$BENCH` is the temp dir.",
    "",
    "```sh",
    ...[...bench.commands.entries()].map(([key, cmd]) => `# ${key}\n${cmd}`),
    "```",
    "",
    "strata.yaml (one per destination, named so the URL picks up the RGW settings):",
    "",
    "```yaml",
    info.strataYaml.trimEnd(),
    "```",
    "",
    "rclone.conf:",
    "",
    "```ini",
    info.rcloneConf.trimEnd(),
    "```",
  ];
  return lines.join("\n");
}
