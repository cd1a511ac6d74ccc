import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseDuration, parseSize } from "../../src/config/units.js";

export const WORKLOADS = ["upload", "noop", "changed", "download", "big", "scan"] as const;
export type Workload = (typeof WORKLOADS)[number];

export interface BenchOptions {
  files: number;
  runs: number;
  bigBytes: number;
  scanFiles: number;
  only: ReadonlySet<Workload>;
  out: string;
  quick: boolean;
  /** Parent of the temp dir (trees, copies, downloads, logs): it needs room for about 6 trees. */
  tmpParent?: string;
  /** No single command may run longer than this (then it is killed and the bench fails). */
  commandTimeoutMs: number;
  /** A git revision whose build runs beside the current one, as tool `strata-<commit>`. */
  baseline?: string;
}

export const USAGE = `usage: node --import tsx bench/run.ts [--quick] [--files 50000] [--runs 3] [--big 2GiB]
       [--scan-files 1000000] [--only upload,noop,changed,download,big,scan] [--out bench/RESULTS.md]
       [--tmp DIR] [--timeout 2h] [--baseline GIT-REV]`;

// The configuration, and a small one that smoke-tests every path in a few minutes.
const FULL = { files: "50000", runs: "3", big: "2GiB", scanFiles: "1000000", out: "bench/RESULTS.md" };
const QUICK = { files: "1000", runs: "1", big: "64MiB", scanFiles: "20000", out: "bench/RESULTS-quick.md" };

export function parseOptions(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: "boolean", default: false },
      files: { type: "string" },
      runs: { type: "string" },
      big: { type: "string" },
      "scan-files": { type: "string" },
      only: { type: "string" },
      out: { type: "string" },
      tmp: { type: "string" },
      timeout: { type: "string", default: "2h" },
      baseline: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return undefined;
  const base = values.quick ? QUICK : FULL;
  return {
    files: wholeNumber("--files", values.files ?? base.files, 1),
    runs: wholeNumber("--runs", values.runs ?? base.runs, 1),
    bigBytes: bytes("--big", values.big ?? base.big),
    scanFiles: wholeNumber("--scan-files", values["scan-files"] ?? base.scanFiles, 1),
    only: workloads(values.only),
    out: resolve(values.out ?? base.out),
    quick: values.quick,
    ...(values.tmp ? { tmpParent: resolve(values.tmp) } : {}),
    commandTimeoutMs: duration("--timeout", values.timeout),
    ...(values.baseline ? { baseline: values.baseline } : {}),
  };
}

export function wholeNumber(flag: string, text: string, min: number): number {
  const n = Number(text.replaceAll("_", ""));
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag}: expected a whole number ≥ ${min}, got ${text}`);
  return n;
}

export function bytes(flag: string, text: string): number {
  const n = parseSize(text);
  if (n === undefined || n < 1) throw new Error(`${flag}: expected a size such as 2GiB, got ${text}`);
  return n;
}

export function duration(flag: string, text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1000) throw new Error(`${flag}: expected a duration such as 90m, got ${text}`);
  return ms;
}

function workloads(text: string | undefined): ReadonlySet<Workload> {
  if (!text) return new Set(WORKLOADS);
  const names = text.split(",").map((s) => s.trim());
  const known = new Set<string>(WORKLOADS);
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) throw new Error(`--only: unknown workload ${unknown.join(", ")} (known: ${WORKLOADS})`);
  return new Set(names as Workload[]);
}
