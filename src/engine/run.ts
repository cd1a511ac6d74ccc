import type { CatalogDb } from "../catalog/db.js";
import { closeDeadRuns, finishRun, journalActions, type PlannedAction, startRun } from "../catalog/journal.js";
import { chunks } from "../transfer/pool.js";
import type { EngineEvent } from "./events.js";
import { BATCH, type Finished, Recorder } from "./recorder.js";
import type { Toolkit } from "./toolkit.js";

/** Journals items of a run as pending, a batch at a time, before handing them out with their ids. */
export async function* journalInBatches<A>(
  catalog: CatalogDb,
  runId: number,
  items: AsyncIterable<A>,
  describe: (item: A) => PlannedAction,
): AsyncGenerator<{ item: A; actionId: number }> {
  for await (const chunk of chunks(items, BATCH)) {
    const ids = await journalActions(catalog, runId, chunk.map(describe));
    for (let i = 0; i < chunk.length; i++) yield { item: chunk[i] as A, actionId: ids[i] as number };
  }
}

/**
 * One journaled run of restores or verifications: its actions are journaled as pending before
 * they start and settled, with their events, through the one Recorder; the run ends "partial"
 * when any failed. The run is entered in the journal with its first action, so a round of the
 * daemon that finds nothing to do leaves no run behind.
 */
export class JournaledRun {
  private failures = 0;
  private started: Promise<{ runId: number; recorder: Recorder }> | undefined;

  private constructor(
    readonly catalog: CatalogDb,
    private readonly command: string,
    readonly toolkit: Toolkit,
  ) {}

  /** A run about to start, once the journal of runs on this host that died is closed. */
  static async start(catalog: CatalogDb, command: string, toolkit: Toolkit): Promise<JournaledRun> {
    await closeDeadRuns(catalog);
    return new JournaledRun(catalog, command, toolkit);
  }

  /** Journals one action as pending; returns its id. */
  async begin(action: PlannedAction): Promise<number> {
    const { runId } = await this.entered();
    const [id] = await journalActions(this.catalog, runId, [action]);
    return id as number;
  }

  /** Journals items as pending, a batch at a time, before handing them out (the run entered first). */
  async *journaled<A>(items: AsyncIterable<A>, describe: (item: A) => PlannedAction) {
    const { runId } = await this.entered();
    yield* journalInBatches(this.catalog, runId, items, describe);
  }

  done(actionId: number, attempts: number, event?: EngineEvent): Promise<void> {
    return this.settle({
      outcome: { id: actionId, state: "done", attempts, error: null },
      ...(event ? { event } : {}),
    });
  }

  failed(actionId: number, error: string, attempts: number, event?: EngineEvent): Promise<void> {
    this.failures += 1;
    return this.settle({ outcome: { id: actionId, state: "failed", attempts, error }, ...(event ? { event } : {}) });
  }

  /** Not carried out, and why: no event. */
  skipped(actionId: number, reason: string): Promise<void> {
    return this.settle({ outcome: { id: actionId, state: "skipped", attempts: 0, error: reason } });
  }

  /** Writes what is buffered and closes the run in the journal, if it was entered there. */
  async finish(summary: unknown): Promise<void> {
    if (!this.started) return;
    const { runId, recorder } = await this.started;
    await recorder.flush();
    await finishRun(this.catalog, runId, this.failures > 0 ? "partial" : "done", summary);
  }

  private entered(): Promise<{ runId: number; recorder: Recorder }> {
    this.started ??= startRun(this.catalog, this.command).then((runId) => ({
      runId,
      recorder: new Recorder(this.catalog, runId),
    }));
    return this.started;
  }

  private async settle(finished: Finished): Promise<void> {
    const { recorder } = await this.entered();
    await recorder.add(finished);
  }
}
