import { Cron } from "croner";
import {
  acquireLease,
  currentLease,
  heartbeat,
  type Lease,
  type LeaseOptions,
  releaseLease,
} from "../catalog/locks.js";

/** Something the daemon runs: a policy, or housekeeping such as finishing restores. */
export interface Job {
  /** The lease name: one run of it at a time among all daemons sharing the catalog. */
  name: string;
  /** A cron pattern (croner syntax); without one the job runs only when asked (`--once`). */
  schedule?: string;
  /** Does the work; on `signal` it takes nothing new, finishes or journals what is in flight. */
  run(signal: AbortSignal): Promise<JobResult>;
}

export interface JobResult {
  /** One line for the log. */
  summary: string;
  /** Some items failed, though the run itself ended. */
  failed: boolean;
}

export type JobOutcome = "done" | "failed" | "skipped";

export type SchedulerEvent =
  | { kind: "scheduled"; job: string; schedule: string; next: Date | null }
  | { kind: "started"; job: string }
  | { kind: "finished"; job: string; ms: number; result: JobResult }
  | { kind: "error"; job: string; message: string }
  | { kind: "skipped"; job: string; reason: string }
  | { kind: "lease-lost"; job: string; reason: string };

export interface SchedulerOptions extends LeaseOptions {
  onEvent(event: SchedulerEvent): void;
}

export interface LeaseTrouble {
  lost(reason: string): void;
  unreleased(reason: string): void;
}

export type Leased<T> = { held: true; value: T } | { held: false; by: Lease | undefined };

/**
 * Runs `work` while holding the lease `name`, or returns who holds it. The lease is renewed every
 * third of its length; one that another daemon has taken over, or that could not be renewed for
 * a whole lease length, is lost: `work`'s signal is aborted and `trouble.lost` says why. The
 * lease is released when `work` ends, however it ends (if the catalog cannot be reached then,
 * `trouble.unreleased` says so, and the lease expires by itself).
 */
export async function withLease<T>(
  options: LeaseOptions,
  name: string,
  work: (lost: AbortSignal) => Promise<T>,
  trouble: LeaseTrouble,
): Promise<Leased<T>> {
  const { catalog, holder } = options;
  if (!(await acquireLease(catalog, name, holder, options.leaseMs))) {
    return { held: false, by: await currentLease(catalog, name) };
  }
  const lost = new AbortController();
  const stopHeartbeat = heartbeat(options, [name], (reason) => {
    trouble.lost(reason);
    lost.abort();
  });
  try {
    return { held: true, value: await work(lost.signal) };
  } finally {
    await stopHeartbeat();
    await releaseLease(catalog, name, holder).catch((err: Error) => trouble.unreleased(err.message));
  }
}

/**
 * Runs jobs on their cron schedules, at most one run of each job at a time across every daemon
 * on the catalog: a run holds the job's lease (withLease) while it works. A run whose lease is
 * held elsewhere is skipped.
 */
export class Scheduler {
  private readonly crons: Cron[] = [];
  private readonly inFlight = new Map<string, Promise<JobOutcome>>();
  private readonly stopping = new AbortController();

  constructor(private readonly options: SchedulerOptions) {}

  /** Starts the clock for every job that has a schedule. Bad patterns throw before any starts. */
  start(jobs: readonly Job[]): void {
    const scheduled = jobs.flatMap((job) =>
      job.schedule === undefined ? [] : [{ job, cron: new Cron(job.schedule, { paused: true }) }],
    );
    for (const { job, cron } of scheduled) {
      cron.schedule(async () => {
        await this.runOnce(job);
      });
      cron.resume();
      this.crons.push(cron);
      this.options.onEvent({
        kind: "scheduled",
        job: job.name,
        schedule: cron.getPattern() ?? "",
        next: cron.nextRun(),
      });
    }
  }

  /** One run of `job` now, if its lease is free; never throws (failures are events). */
  async runOnce(job: Job): Promise<JobOutcome> {
    if (this.stopping.signal.aborted) return "skipped";
    if (this.inFlight.has(job.name)) {
      this.options.onEvent({ kind: "skipped", job: job.name, reason: "its previous run is still going" });
      return "skipped";
    }
    const run = this.leased(job);
    this.inFlight.set(job.name, run);
    try {
      return await run;
    } finally {
      this.inFlight.delete(job.name);
    }
  }

  /** Stops scheduling, tells runs in flight to wind down, and waits for them and their leases. */
  async stop(): Promise<void> {
    for (const cron of this.crons) cron.stop();
    this.stopping.abort();
    await Promise.all(this.inFlight.values());
  }

  private async leased(job: Job): Promise<JobOutcome> {
    const { onEvent } = this.options;
    try {
      const leased = await withLease(
        this.options,
        job.name,
        async (lost) => {
          if (this.stopping.signal.aborted) return "skipped";
          onEvent({ kind: "started", job: job.name });
          const started = Date.now();
          const result = await job.run(AbortSignal.any([this.stopping.signal, lost]));
          onEvent({ kind: "finished", job: job.name, ms: Date.now() - started, result });
          return result.failed ? "failed" : "done";
        },
        {
          lost: (reason) => onEvent({ kind: "lease-lost", job: job.name, reason }),
          unreleased: (reason) =>
            onEvent({ kind: "error", job: job.name, message: `cannot release its lease (it expires): ${reason}` }),
        },
      );
      if (leased.held) return leased.value;
      const by = leased.by
        ? `${leased.by.holder} until ${new Date(leased.by.expiresAt).toISOString()}`
        : "another daemon";
      onEvent({ kind: "skipped", job: job.name, reason: `its lease is held by ${by}` });
      return "skipped";
    } catch (err) {
      onEvent({ kind: "error", job: job.name, message: (err as Error).message });
      return "failed";
    }
  }
}
