import { existsSync, readFileSync } from "node:fs";
import { type Command, type Measurement, measure } from "./measure.js";
import type { BenchOptions, Workload } from "./options.js";
import { type BenchRgw, rssBytes } from "./setup.js";
import type { Store } from "./store.js";
import { type BaselineTool, isStrata, type SyncTool, type Tool, type Tools } from "./tools.js";

export interface Sample {
  workload: Workload;
  tool: Tool;
  run: number;
  m: Measurement;
  /** Strata's own report of what it copied (from --json). */
  copied?: { files: number; bytes: number };
  /** What a sync had to upload at least (the rewritten files of the changed workload). */
  expected?: { files: number; bytes: number };
}

/** Everything a workload needs, and what the runs found. */
export class Bench {
  readonly samples: Sample[] = [];
  /** The command line of each workload and tool, as its first run ran it. */
  readonly commands = new Map<string, string>();
  /** Anything a reader of the results must know: failed commands, incomplete copies. */
  readonly notes: string[] = [];

  constructor(
    readonly options: BenchOptions,
    readonly repo: string,
    readonly work: string,
    readonly tools: Tools,
    /** The tools of the sync workloads, in the order each run goes through them. */
    readonly syncTools: readonly SyncTool[],
    readonly store: Store,
    /** The RGW the tools reach, restarted empty between tools when they take turns. */
    private readonly rgw: BenchRgw,
    readonly log: (line: string) => void,
  ) {}

  /** The builds of Strata timed: the current one, and the `--baseline` one if any. */
  get strataBuilds(): ("strata" | BaselineTool)[] {
    return this.syncTools.filter(isStrata);
  }

  /** Every bucket a workload writes to: each tool's own per workload. */
  async makeBuckets(): Promise<void> {
    for (const tool of this.syncTools) {
      for (const workload of ["upload", "resync", "big"]) await this.store.createBucket(`${workload}-${tool}`);
    }
  }

  /**
   * An empty RGW for what comes next, its buckets made again: when each tool in turn fills the
   * store with its copy of the tree, the next one starts where the first did, not on a store
   * that held and dropped the copies before it (deleting 50,000 objects from the in-RAM OSD is
   * itself a workload, and a full OSD stops taking writes).
   */
  async freshStore(): Promise<void> {
    await this.rgw.restart();
    await this.makeBuckets();
  }

  /** The OSD's resident memory now, which holds every object stored. */
  osdRss(): number | undefined {
    const osd = this.rgw.pids.find((pid) => readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("ceph-osd"));
    return osd === undefined ? undefined : rssBytes(osd);
  }

  /** Runs one timed command and records it as a sample of the workload. */
  async time(workload: Workload, tool: Tool, run: number, cmd: Command, extra: Partial<Sample> = {}) {
    const key = `${workload} ${tool}`;
    if (!this.commands.has(key)) this.commands.set(key, cmd.display);
    const m = await measure(cmd, this.options.commandTimeoutMs, this.rgw.pids);
    const sample: Sample = { workload, tool, run, m, ...extra };
    if (isStrata(tool) && cmd.stdoutFile) {
      const copied = strataCopied(cmd.stdoutFile);
      if (copied) sample.copied = copied;
    }
    if (m.exitCode !== 0) {
      this.note(`${workload}: ${tool} run ${run} exited ${m.exitCode}: ${lastLine(cmd.stderrFile)}`);
    }
    this.samples.push(sample);
    this.log(
      `  ${workload.padEnd(8)} run ${run} ${tool.padEnd(14)} ${m.wallS.toFixed(2).padStart(8)} s wall ` +
        `${m.cpuS.toFixed(2).padStart(7)} s CPU ${m.maxRssMB.toFixed(0).padStart(5)} MB` +
        (sample.copied ? `  (copied ${sample.copied.files} files, ${sample.copied.bytes} B)` : ""),
    );
    return sample;
  }

  /** Checks that a bucket/prefix holds what a tool was asked to put there. */
  async checkObjects(what: string, bucket: string, prefix: string, files: number, bytes: number) {
    const found = await this.store.count(bucket, prefix);
    if (found.objects !== files || found.bytes !== bytes) {
      this.note(`${what}: expected ${files} objects (${bytes} B), found ${found.objects} (${found.bytes} B)`);
    }
  }

  note(text: string): void {
    this.notes.push(text);
    this.log(`  NOTE ${text}`);
  }
}

/** files and bytes copied, from the JSON document `strata --json sync` prints. */
function strataCopied(file: string): { files: number; bytes: number } | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const doc: unknown = JSON.parse(readFileSync(file, "utf8"));
    const copied = pick(pick(doc, "result"), "copied");
    const files = pick(copied, "files");
    const bytes = pick(copied, "bytes");
    return typeof files === "number" && typeof bytes === "number" ? { files, bytes } : undefined;
  } catch {
    return undefined;
  }
}

function pick(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

function lastLine(file: string): string {
  try {
    const lines = readFileSync(file, "utf8").trim().split("\n");
    return (lines[lines.length - 1] ?? "").slice(0, 300);
  } catch {
    return "";
  }
}
