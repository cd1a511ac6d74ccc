import type { CatalogDb } from "../catalog/db.js";
import { setFileHashes } from "../catalog/files.js";
import { type ActionOutcome, type EventRow, recordEvents, settleActions } from "../catalog/journal.js";
import { type ReplicaRecord, recordReplicas, removeReplicas } from "../catalog/replicas.js";
import { type EngineEvent, eventRow } from "./events.js";

/** Actions journaled or recorded per batch. */
export const BATCH = 256;
/** The longest a finished action waits in the Recorder before it is in the catalog. */
const RECORD_WITHIN_MS = 1000;

/** What one finished action leaves for the catalog. */
export interface Finished {
  outcome: ActionOutcome;
  replica?: ReplicaRecord;
  fileHash?: { fileId: number; hash: string };
  event?: EngineEvent;
}

/**
 * Buffers catalog writes of finished actions, of every kind, and applies them in batches, in
 * order: when a batch is full, and at the latest RECORD_WITHIN_MS after an action finished, so
 * a run killed at any moment has recorded all but its last second of work. Replicas (and file
 * hashes) are written before the outcomes that vouch for them, events with their outcomes.
 */
export class Recorder {
  private outcomes: ActionOutcome[] = [];
  private replicas: ReplicaRecord[] = [];
  private hashes: { fileId: number; hash: string }[] = [];
  private events: EventRow[] = [];
  private writing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  /** A write started by the timer that failed, thrown to the next caller. */
  private failure: unknown;

  constructor(
    private readonly catalog: CatalogDb,
    private readonly runId: number,
  ) {}

  async add(entry: Finished): Promise<void> {
    this.outcomes.push(entry.outcome);
    if (entry.replica) this.replicas.push(entry.replica);
    if (entry.fileHash) this.hashes.push(entry.fileHash);
    if (entry.event) this.events.push(eventRow(this.runId, entry.event));
    if (this.outcomes.length >= BATCH) await this.flush();
    else this.timer ??= setTimeout(() => this.flushInBackground(), RECORD_WITHIN_MS);
  }

  /** Removes replica rows, after what is buffered: a replica recorded in this batch may be among them. */
  async removeReplicas(ids: number[]): Promise<void> {
    await this.flush();
    await removeReplicas(this.catalog, ids);
  }

  /** Writes what is buffered and stops the timer; throws what a background write met. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const { outcomes, replicas, hashes, events } = this;
    this.outcomes = [];
    this.replicas = [];
    this.hashes = [];
    this.events = [];
    // Replicas before outcomes: an action is settled "done" only once its replica is recorded.
    this.writing = this.writing.then(async () => {
      await recordReplicas(this.catalog, replicas);
      await setFileHashes(this.catalog, hashes);
      await settleActions(this.catalog, outcomes);
      await recordEvents(this.catalog, events);
    });
    return this.writing;
  }

  private flushInBackground(): void {
    this.flush().catch((err: unknown) => {
      this.failure ??= err;
    });
  }
}
