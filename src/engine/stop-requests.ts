import type { CatalogDb } from "../catalog/db.js";
import { requestRunStop, runStopRequested } from "../catalog/journal.js";

/** How often a run looks for a stop request: a cancel takes effect within about this long. */
export const STOP_POLL_MS = 1000;

/**
 * A signal that aborts when `outer` does or when another process asks run `runId` to stop
 * through the catalog (the server's cancel of a run it did not start). Polled, because the
 * catalog (SQLite) has no notifications; `close` ends the polling once the run has ended.
 */
export function watchStopRequests(
  catalog: CatalogDb,
  runId: number,
  outer: AbortSignal | undefined,
): { signal: AbortSignal; close: () => void } {
  const requested = new AbortController();
  let polling = false;
  const timer = setInterval(() => {
    if (polling || requested.signal.aborted) return;
    polling = true;
    runStopRequested(catalog, runId)
      .then((asked) => {
        if (asked) requested.abort(new Error(`run ${runId} was asked to stop`));
      })
      // A catalog that cannot be read now is the run's own problem to meet; polling goes on.
      .catch(() => undefined)
      .finally(() => {
        polling = false;
      });
  }, STOP_POLL_MS);
  timer.unref();
  const signal = outer ? AbortSignal.any([outer, requested.signal]) : requested.signal;
  return { signal, close: () => clearInterval(timer) };
}

/**
 * Asks run `runId`, running `command` in another process, to stop; false when that kind of run
 * does not watch for requests (only policy runs do: syncs and restores stop on SIGTERM) or it
 * has ended.
 */
export function requestStop(catalog: CatalogDb, run: { id: number; command: string }): Promise<boolean> {
  const watches = run.command === "apply" || run.command.startsWith("apply ");
  return watches ? requestRunStop(catalog, run.id) : Promise.resolve(false);
}
