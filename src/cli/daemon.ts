import { hostname } from "node:os";
import type { Command } from "commander";
import { printablePath } from "../backends/keys.js";
import type { LeaseOptions } from "../catalog/locks.js";
import { locationsRestoredInPlace } from "../catalog/restores.js";
import { UsageError } from "../config/errors.js";
import { formatBytes, formatDuration } from "../config/units.js";
import { ALERTS_JOB } from "../engine/alerts/check.js";
import { type ApplyReport, applyPolicies } from "../engine/apply.js";
import { finishPendingRestores, withRestoreRun } from "../engine/restore.js";
import { type Job, type JobOutcome, Scheduler, type SchedulerEvent } from "../engine/scheduler.js";
import type { TransferSettings } from "../engine/toolkit.js";
import { ACTION_KINDS, selectPolicies } from "../policy/planner.js";
import type { Policy } from "../policy/schema.js";
import { monthlyCostByLocation } from "../report/cost-now.js";
import { scanLocation } from "../scan/scanner.js";
import { alertsJobs } from "./alerts.js";
import type { Context } from "./context.js";
import { type ListenAddress, listenMetrics, type MetricsListener, parseListenAddress } from "./metrics-listener.js";
import { collect, duration, type TransferFlags, transferOptions, transferSettings } from "./options.js";
import { count, filesAndBytes, type OutputOptions } from "./output.js";
import { EXIT, type Runner } from "./runner.js";

interface DaemonOptions extends TransferFlags {
  once: boolean;
  policy: string[];
  lease?: number;
  scan: boolean;
  force: boolean;
  metricsListen?: ListenAddress;
}

const DEFAULT_LEASE_MS = 60_000;
const STOP_SIGNALS = ["SIGTERM", "SIGINT"] as const;
/** Housekeeping's lease name; policy names start with a letter, so it cannot clash with one. */
const RESTORES = "@restores";
/** How often the daemon looks for archive restores whose thaw is done. */
const RESTORES_SCHEDULE = "*/5 * * * *";
/** Failures listed per run in the log; the journal has them all. */
const LISTED_FAILURES = 10;

export function registerDaemon(program: Command, run: Runner): void {
  const command = program
    .command("daemon")
    .description("run each enabled policy on its schedule, one run per policy at a time across every daemon")
    .option("--once", "run each enabled policy once now, then exit (for cron, Slurm and systemd timers)", false)
    .option("--policy <name>", "only this policy (repeatable; a disabled policy runs when named)", collect, [])
    .option("--no-scan", "plan on the catalog as it is, without scanning each policy's from locations first")
    .option("--force", "prune past the maxDeleteShare guard", false)
    .option(
      "--lease <duration>",
      "how long a run's lock outlives a daemon that died holding it; renewed every third of it (default: 1m)",
      duration,
    )
    .option(
      "--metrics-listen <addr>",
      "serve Prometheus metrics at http://ADDR/metrics while the daemon runs (HOST:PORT; no token: no paths or users in them)",
      parseListenAddress,
    );
  transferOptions(command, "actions in flight per run").action(
    run(async (ctx, opts: DaemonOptions) => daemon(ctx, opts)),
  );
}

async function daemon(ctx: Context, opts: DaemonOptions): Promise<number> {
  const leaseMs = opts.lease ?? DEFAULT_LEASE_MS;
  if (leaseMs < 3000) throw new UsageError("--lease must be at least 3s");
  // Before any location is opened: --tps applies to each cloud location as it is opened.
  const settings = transferSettings(ctx, opts);
  const policies = selectPolicies(ctx.loaded.config, opts.policy);
  if (policies.length === 0) throw new UsageError(`no enabled policies in ${ctx.loaded.file ?? "the config"}`);
  const scheduled = policies.filter((p) => p.schedule !== undefined);
  if (!opts.once && scheduled.length === 0) {
    throw new UsageError(
      `no schedule on ${policies.map((p) => p.name).join(", ")}: add schedule: "0 2 * * *" to a policy, or use --once`,
    );
  }
  await checkLocations(ctx, policies);
  const leases: LeaseOptions = { catalog: ctx.catalog, holder: `${hostname()}:${process.pid}`, leaseMs };
  const log = new DaemonLog(ctx.out.options, new Set([RESTORES, ALERTS_JOB]));
  const scheduler = new Scheduler({ ...leases, onEvent: (event) => log.event(event) });
  const jobs = [
    restoresJob(ctx, log, settings),
    ...policies.map((policy) => policyJob(ctx, policy, log, opts, settings)),
    // Last, so that --once tells of the runs it just made.
    ...alertsJobs(ctx),
  ];
  const metrics = opts.metricsListen ? await serveMetrics(ctx, opts.metricsListen, log) : undefined;
  const stopper = stopOnSignal(() => scheduler.stop(), log);
  try {
    if (opts.once) {
      const outcomes: JobOutcome[] = [];
      for (const job of jobs) outcomes.push(await scheduler.runOnce(job));
      return outcomes.includes("failed") ? EXIT.itemsFailed : EXIT.ok;
    }
    log.note(`daemon ${leases.holder} started on catalog ${ctx.catalog.displayUrl}`);
    for (const p of policies) {
      if (p.schedule === undefined) log.note(`${p.name}: no schedule; it runs with --once or strata apply only`);
    }
    scheduler.start(jobs);
    await stopper.stopped;
    return EXIT.ok;
  } finally {
    stopper.dispose();
    await metrics?.close();
  }
}

async function serveMetrics(ctx: Context, address: ListenAddress, log: DaemonLog): Promise<MetricsListener> {
  const { config } = ctx.loaded;
  // prom-client loads only where metrics are served.
  const { createMetrics } = await import("../query/metrics.js");
  const metrics = createMetrics(ctx.catalog, config, {
    monthlyCost: () => monthlyCostByLocation(ctx.catalog, config),
  });
  const listener = await listenMetrics(metrics, address, (message) => log.note(message, "warn"));
  log.note(`metrics at ${listener.url}`);
  return listener;
}

/** A wrong bucket, key or endpoint is one line and exit 2 at start, not a failure every night. */
async function checkLocations(ctx: Context, policies: readonly Policy[]): Promise<void> {
  const names = new Set(policies.flatMap((p) => [...p.from, ...p.place.map((place) => place.to)]));
  await Promise.all([...names].map(async (name) => (await ctx.location(name)).backend.check()));
}

/**
 * A policy run: its sources scanned (unless --no-scan), then the policy planned and applied, all
 * holding the leases of the locations it reads and places into, as every command that changes
 * them does: a scan beside another run's release or scan would take entries for deleted ones.
 */
function policyJob(ctx: Context, policy: Policy, log: DaemonLog, opts: DaemonOptions, settings: TransferSettings): Job {
  const locations = [...new Set([...policy.from, ...policy.place.map((p) => p.to)])];
  return {
    name: policy.name,
    ...(policy.schedule === undefined ? {} : { schedule: policy.schedule }),
    run: (signal) =>
      ctx.holding(locations, `daemon ${policy.name}`, async (lost) => {
        const stop = AbortSignal.any([signal, lost]);
        // A scan under way is not cut short by a stop: a partial walk must never be taken for the whole tree.
        if (opts.scan) for (const name of policy.from) if (!stop.aborted) await freshen(ctx, name, log);
        if (stop.aborted) return { summary: "stopped before applying", failed: false };
        const report = await applyPolicies(ctx, {
          ...settings,
          policies: [policy.name],
          signal: stop,
          force: opts.force,
        });
        for (const f of report.failures.slice(0, LISTED_FAILURES)) {
          log.note(`${policy.name}: ${f.kind} ${f.location}:${printablePath(f.path)} failed: ${f.reason}`, "warn");
        }
        return { summary: summarize(report), failed: report.failures.length > 0 };
      }),
  };
}

/** Scans a source location; the caller holds its lease. */
async function freshen(ctx: Context, name: string, log: DaemonLog) {
  const location = await ctx.location(name);
  await ctx.registerConfigured();
  const r = await scanLocation(ctx.catalog, location.row.id, location.backend, { threads: ctx.defaults.scanThreads });
  log.note(
    `${name}: scanned ${count(r.files)} entries (${formatBytes(r.bytes)}): ${count(r.newFiles)} new, ` +
      `${count(r.changedFiles)} changed, ${count(r.deletedFiles)} deleted in ${formatDuration(r.elapsedMs)}`,
  );
  if (r.problems.length > 0) log.note(`${name}: ${count(r.problems.length)} entries could not be read`, "warn");
}

function summarize(report: ApplyReport): string {
  const parts = ACTION_KINDS.flatMap((kind) => {
    const k = report.kinds[kind];
    if (k.files + k.stale + k.failed === 0) return [];
    const stale = k.stale > 0 ? `, ${count(k.stale)} stale` : "";
    const failed = k.failed > 0 ? `, ${count(k.failed)} failed` : "";
    return [`${kind} ${filesAndBytes(k.files, k.bytes)}${stale}${failed}`];
  });
  if (report.stopped) parts.push(`stopped with ${count(report.notStarted)} actions not begun`);
  return `run ${report.runId}: ${parts.join("; ") || "nothing to do"}`;
}

/** Archive restores whose thaw is done are copied home; quiet unless something happened. */
function restoresJob(ctx: Context, log: DaemonLog, settings: TransferSettings): Job {
  return {
    name: RESTORES,
    schedule: RESTORES_SCHEDULE,
    run: async () => {
      const { restored, failed } = await ctx.holding(await locationsRestoredInPlace(ctx.catalog), RESTORES, () =>
        withRestoreRun(ctx, RESTORES, settings, (deps) =>
          finishPendingRestores(deps, { transfers: settings.transfers }),
        ),
      );
      for (const f of failed.slice(0, LISTED_FAILURES)) {
        log.note(`${RESTORES}: ${f.location}:${printablePath(f.path)}: ${f.error}`, "warn");
      }
      const bytes = restored.reduce((n, r) => n + r.bytes, 0);
      const summary =
        restored.length + failed.length === 0
          ? ""
          : `${filesAndBytes(restored.length, bytes)} restored, ${count(failed.length)} failed`;
      return { summary, failed: failed.length > 0 };
    },
  };
}

/**
 * The first SIGTERM or SIGINT stops scheduling and tells runs in flight to wind down; `stopped`
 * resolves once they have and their leases are released. A second signal exits at once (the
 * leases then expire by themselves and the next run closes the journal).
 */
function stopOnSignal(stop: () => Promise<void>, log: DaemonLog): { stopped: Promise<void>; dispose(): void } {
  let signalled = false;
  let resolveStopped: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    resolveStopped = resolve;
  });
  const handler = (signal: NodeJS.Signals) => {
    if (signalled) {
      log.note(`${signal} again: exiting now; held leases expire by themselves`, "warn");
      process.exit(EXIT.itemsFailed);
    }
    signalled = true;
    log.note(`${signal}: no new runs; letting runs in flight finish or journal their work`);
    void stop().then(() => {
      log.note("stopped; leases released");
      resolveStopped();
    });
  };
  for (const signal of STOP_SIGNALS) process.on(signal, handler);
  return {
    stopped,
    dispose: () => {
      for (const signal of STOP_SIGNALS) process.off(signal, handler);
    },
  };
}

/**
 * Timestamped lines (problems on stderr), or one JSON object per line with --json. Routine jobs
 * (housekeeping every few minutes) are logged only when they did something, or with --verbose.
 */
class DaemonLog {
  constructor(
    private readonly options: OutputOptions,
    private readonly routine: ReadonlySet<string>,
  ) {}

  event(event: SchedulerEvent): void {
    const idle = event.kind === "started" || (event.kind === "finished" && event.result.summary === "");
    if (idle && this.routine.has(event.job) && !this.options.verbose) return;
    const { fields, line, level } = describe(event);
    this.write({ event: event.kind, job: event.job, ...fields }, line, level);
  }

  note(message: string, level: Level = "info"): void {
    this.write({ event: "note", message }, message, level);
  }

  private write(fields: Record<string, unknown>, line: string, level: Level = "info"): void {
    const at = new Date().toISOString();
    if (this.options.json) process.stdout.write(`${JSON.stringify({ at, level, ...fields })}\n`);
    else if (level === "warn") process.stderr.write(`${at} ${line}\n`);
    else if (!this.options.quiet) process.stdout.write(`${at} ${line}\n`);
  }
}

type Level = "info" | "warn";

/** An event as JSON fields and as a line for people. */
function describe(event: SchedulerEvent): { fields: Record<string, unknown>; line: string; level: Level } {
  const { job } = event;
  switch (event.kind) {
    case "scheduled": {
      const next = event.next?.toISOString() ?? null;
      return {
        fields: { schedule: event.schedule, next },
        line: `${job}: scheduled "${event.schedule}", next run ${next ?? "never"}`,
        level: "info",
      };
    }
    case "started":
      return { fields: {}, line: `${job}: started`, level: "info" };
    case "finished": {
      const { summary, failed } = event.result;
      return {
        fields: { ms: event.ms, failed, summary },
        line: `${job}: finished${failed ? " with failures" : ""} in ${formatDuration(event.ms)}: ${summary}`,
        level: failed ? "warn" : "info",
      };
    }
    case "skipped":
      return { fields: { reason: event.reason }, line: `${job}: skipped: ${event.reason}`, level: "info" };
    case "lease-lost":
      return {
        fields: { reason: event.reason },
        line: `${job}: lost its lease (${event.reason}); stopping the run`,
        level: "warn",
      };
    case "error":
      return { fields: { message: event.message }, line: `${job}: ${event.message}`, level: "warn" };
  }
}
