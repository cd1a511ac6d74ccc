import { type ApplyReport, applyPolicies } from "./apply.js";
import type { Locations } from "./locations.js";

/**
 * Runs a long-lived process (the server) started and may still stop: each with the controller
 * its signal comes from. Stopping one is what SIGTERM is to a command: nothing new starts, what
 * is in flight finishes, the journal is settled. A run of another process is not reachable here.
 */
export class RunsInFlight {
  private readonly running = new Map<number, { stop: AbortController; done: Promise<unknown> }>();

  /**
   * Starts `work` and resolves with its run's id as soon as the run is journaled; rejects with
   * the error of a run refused before it started (a lease held elsewhere, an unknown policy).
   * What goes wrong after the start is the run's to journal; `failed` hears of it too.
   */
  start(
    work: (signal: AbortSignal, started: (runId: number) => void) => Promise<unknown>,
    failed: (err: unknown) => void,
  ): Promise<number> {
    const stop = new AbortController();
    return new Promise<number>((resolve, reject) => {
      let runId: number | undefined;
      const done = work(stop.signal, (id) => {
        runId = id;
        this.running.set(id, { stop, done });
        resolve(id);
      })
        .catch((err: unknown) => (runId === undefined ? reject(err) : failed(err)))
        .finally(() => {
          if (runId !== undefined) this.running.delete(runId);
          // Every apply journals a run, even one with nothing to do: ending without one is a bug.
          else reject(new Error("the work ended without journaling a run"));
        });
    });
  }

  /** Stops run `runId` if this process runs it; false when it does not. */
  cancel(runId: number): boolean {
    const run = this.running.get(runId);
    run?.stop.abort();
    return run !== undefined;
  }

  /** Stops every run and waits for each to settle its journal. */
  async stopAll(): Promise<void> {
    const runs = [...this.running.values()];
    for (const run of runs) run.stop.abort();
    await Promise.allSettled(runs.map((run) => run.done));
  }
}

/**
 * Plans and applies the named policy now, as `strata apply --policy NAME` does: under the
 * leases of the locations it reads and places into, its locations checked first, journaled.
 */
export function applyPolicyNow(
  locations: Locations,
  retryPolicy: Parameters<Locations["configuredOnly"]>[0],
  policy: string,
  options: { force: boolean; signal: AbortSignal; started: (runId: number) => void },
): Promise<ApplyReport> {
  const names = [policy];
  return locations.holding(locations.policyLocations(names), `apply ${policy}`, async (lost) => {
    await locations.checkPolicyLocations(names);
    return applyPolicies(locations.configuredOnly(retryPolicy), {
      policies: names,
      force: options.force,
      signal: AbortSignal.any([options.signal, lost]),
      started: options.started,
    });
  });
}
