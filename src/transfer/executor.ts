import type { Backend, FileAttributes } from "../backends/backend.js";
import type { AttributeTrust } from "../backends/metadata.js";
import type { CatalogDb } from "../catalog/db.js";
import { setFileHashes } from "../catalog/files.js";
import { type ActionOutcome, journalActions, type PlannedAction, settleActions } from "../catalog/journal.js";
import {
  markReplacing,
  type ReplicaRecord,
  recordReplicas,
  removeReplicas,
  settleReplacing,
} from "../catalog/replicas.js";
import { forgetUploads, staleUploads, uploadJournal } from "../catalog/uploads.js";
import type { CopyAction, DeleteAction, PlannedFile } from "../policy/sync-plan.js";
import type { ByteBudget } from "./byte-budget.js";
import { copyVerified, hashObject } from "./copy.js";
import { claimKey } from "./key-claim.js";
import { chunks, runPool } from "./pool.js";
import type { TokenBucket } from "./rate-limit.js";
import { attemptsOf, type RetryPolicy, withRetry } from "./retry.js";
import { StreamPlanner, type StreamSetting } from "./streams.js";

export interface Endpoint {
  backend: Backend;
  locationId: number;
}

export interface ExecuteOptions {
  runId: number;
  source: Endpoint;
  target: Endpoint & { storageClass?: string; tags: Record<string, string> };
  transfers: number;
  /** The one cap on bytes buffered by all transfers in flight together. */
  budget: ByteBudget;
  /** Parts or ranges in flight per large file (default "auto": see StreamPlanner). */
  streams?: StreamSetting;
  /** The bandwidth cap shared by all transfers, if any. */
  bandwidth?: TokenBucket;
  retry: RetryPolicy;
  progress?: ProgressListener;
  /** What a target that writes files may take of the attributes beyond permission bits. */
  trust?: AttributeTrust;
}

export interface ProgressListener {
  bytes(count: number): void;
  fileDone(): void;
  /** Each item acted on, for --verbose: the key and what became of it. */
  acted?(outcome: ItemOutcome, key: string): void;
}

export type ItemOutcome = "copied" | "unchanged" | "deleted" | "failed";

export interface Failure {
  path: string;
  error: string;
}

export interface ExecutionReport {
  copied: { files: number; bytes: number };
  /** Checksum mode: files read and found identical, so not copied. */
  confirmed: number;
  deleted: { files: number; bytes: number };
  failures: Failure[];
  /** The most bytes transfers held in memory at once, under the budget's cap. */
  bufferPeak: number;
  /** Unfinished uploads of earlier runs that are no longer needed, aborted at the target. */
  abortedUploads: number;
  /** Bytes the copies read from the source: a resumed copy reads only the ranges it lacked. */
  readBytes: number;
}

const JOURNAL_CHUNK = 256;
/** The longest a finished action waits in the Recorder before it is in the catalog. */
const RECORD_WITHIN_MS = 1000;

/**
 * Carries out a plan: copies with bounded concurrency and retries, then deletes. Every action
 * is journaled as pending before it starts and settled after; a replica is recorded only once
 * its copy passed the integrity check, so a run killed at any point leaves a catalog that the
 * next plan finishes from.
 */
export async function executePlan(
  catalog: CatalogDb,
  copies: AsyncIterable<CopyAction>,
  deletes: AsyncIterable<DeleteAction>,
  options: ExecuteOptions,
): Promise<ExecutionReport> {
  const report: ExecutionReport = {
    copied: { files: 0, bytes: 0 },
    confirmed: 0,
    deleted: { files: 0, bytes: 0 },
    failures: [],
    bufferPeak: 0,
    abortedUploads: 0,
    readBytes: 0,
  };
  const recorder = new Recorder(catalog);
  const planner = new StreamPlanner(options.streams ?? "auto", options.budget);
  report.abortedUploads = await abortStaleUploads(catalog, options.target);
  const journaledCopies = journaled(catalog, options, copies, (a) => ({
    kind: "copy",
    fileId: a.file.id,
    sourceLocationId: options.source.locationId,
    targetLocationId: options.target.locationId,
    key: a.file.path,
    bytes: a.file.size,
  }));
  await runPool(journaledCopies, options.transfers, async ({ action, actionId }) => {
    await planner.hold(action.file.size, options.target.backend, (streams) =>
      runCopy(catalog, action, actionId, options, recorder, report, streams),
    );
  });
  for await (const chunk of chunks(journaled(catalog, options, deletes, deletePlanned(options)), 1000)) {
    await runDeletes(chunk, options, recorder, report);
  }
  await recorder.flush();
  report.bufferPeak = options.budget.peak;
  return report;
}

async function runCopy(
  catalog: CatalogDb,
  action: CopyAction,
  actionId: number,
  options: ExecuteOptions,
  recorder: Recorder,
  report: ExecutionReport,
  streams: number,
): Promise<void> {
  const { file } = action;
  const { source, target } = options;
  // Before its object is overwritten, the replica stops saying present: a run killed between the
  // write and its record must not leave the catalog vouching for the old hash.
  const replacing = action.replicaHash !== null && (await markReplacing(catalog, file.id, target.locationId));
  try {
    // Whose copy the key holds is asked once, with retries of its own, not again on every
    // attempt of the copy: under throttling each extra request is one more chance to fail.
    await withRetry(options.retry, () =>
      claimKey(catalog, {
        fileId: file.id,
        sourceLocationId: source.locationId,
        origin: source.backend.url,
        path: file.path,
        target: target.backend,
        targetLocationId: target.locationId,
        key: file.path,
      }),
    );
    const { value: outcome, attempts } = await withRetry(options.retry, async () => {
      // The hash just read is what the copy must carry; the catalog's may be older than the edit.
      let expectedHash = file.hash;
      if (action.onlyIfContentDiffers) {
        const sha256 = await hashObject(source.backend, file.path);
        if (sha256 === action.replicaHash)
          return { copied: false as const, sha256, size: file.size, stored: undefined };
        expectedHash = sha256;
      }
      const result = await copyVerified({
        source: source.backend,
        sourceKey: file.path,
        target: target.backend,
        targetKey: file.path,
        size: file.size,
        attributes: { ...attributesOf(file), origin: source.backend.url },
        ...(target.storageClass ? { storageClass: target.storageClass } : {}),
        tags: target.tags,
        ...(expectedHash ? { expectedHash } : {}),
        onBytes: (n) => {
          report.readBytes += n;
          options.progress?.bytes(n);
        },
        ...(options.bandwidth ? { bandwidth: options.bandwidth } : {}),
        streams,
        ...(options.trust ? { trust: options.trust } : {}),
        journal: uploadJournal(catalog, {
          locationId: target.locationId,
          key: file.path,
          fileId: file.id,
          sourceSize: file.size,
          sourceMtimeUs: file.mtime_us,
        }),
      });
      return { copied: true as const, ...result };
    });
    if (outcome.copied) {
      report.copied.files += 1;
      report.copied.bytes += outcome.size;
    } else {
      report.confirmed += 1;
    }
    options.progress?.fileDone();
    options.progress?.acted?.(outcome.copied ? "copied" : "unchanged", file.path);
    await recorder.add({
      outcome: { id: actionId, state: "done", attempts, error: null },
      replica: {
        fileId: file.id,
        locationId: target.locationId,
        key: file.path,
        size: outcome.size,
        hash: outcome.sha256,
        storageClass: outcome.stored?.storageClass ?? target.storageClass ?? null,
        state: "present",
        sourceSize: file.size,
        sourceMtimeUs: file.mtime_us,
        etag: outcome.stored?.etag ?? null,
        verifiedAt: Date.now(),
      },
      fileHash: { fileId: file.id, hash: outcome.sha256 },
    });
  } catch (err) {
    const message = (err as Error).message;
    report.failures.push({ path: file.path, error: message });
    options.progress?.fileDone();
    options.progress?.acted?.("failed", file.path);
    // A write that failed leaves the previous object in place.
    if (replacing) await settleReplacing(catalog, file.id, target.locationId, "present");
    await recorder.add({ outcome: { id: actionId, state: "failed", attempts: attemptsOf(err), error: message } });
  }
}

async function runDeletes(
  chunk: { action: DeleteAction; actionId: number }[],
  options: ExecuteOptions,
  recorder: Recorder,
  report: ExecutionReport,
): Promise<void> {
  try {
    const { attempts } = await withRetry(options.retry, () =>
      options.target.backend.delete(chunk.map(({ action }) => action.key)),
    );
    await recorder.removeReplicas(chunk.map(({ action }) => action.replicaId));
    for (const { action, actionId } of chunk) {
      report.deleted.files += 1;
      report.deleted.bytes += action.bytes;
      options.progress?.acted?.("deleted", action.key);
      await recorder.add({ outcome: { id: actionId, state: "done", attempts, error: null } });
    }
  } catch (err) {
    const message = (err as Error).message;
    for (const { action, actionId } of chunk) {
      report.failures.push({ path: action.key, error: message });
      await recorder.add({ outcome: { id: actionId, state: "failed", attempts: attemptsOf(err), error: message } });
    }
  }
}

/**
 * Aborts the unfinished uploads of earlier runs that nothing will resume (their file changed or
 * is gone, or a copy of it is recorded), so the store stops keeping their parts. One that cannot
 * be aborted now stays journaled for the next run.
 */
export async function abortStaleUploads(catalog: CatalogDb, target: Endpoint): Promise<number> {
  const stale = await staleUploads(catalog, target.locationId);
  const abort = target.backend.abortUpload?.bind(target.backend);
  if (!abort || stale.length === 0) return 0;
  const aborted: number[] = [];
  for (const upload of stale) {
    const done = await abort(upload.key, upload.uploadId).then(
      () => true,
      () => false,
    );
    if (done) aborted.push(upload.id);
  }
  await forgetUploads(catalog, aborted);
  return aborted.length;
}

function deletePlanned(options: ExecuteOptions) {
  return (a: DeleteAction): PlannedAction => ({
    kind: "delete",
    fileId: a.fileId,
    sourceLocationId: null,
    targetLocationId: options.target.locationId,
    key: a.key,
    bytes: a.bytes,
  });
}

/** Journals actions as pending, a chunk at a time, before handing them out. */
async function* journaled<A>(
  catalog: CatalogDb,
  options: ExecuteOptions,
  actions: AsyncIterable<A>,
  describe: (action: A) => PlannedAction,
): AsyncGenerator<{ action: A; actionId: number }> {
  for await (const chunk of chunks(actions, JOURNAL_CHUNK)) {
    const ids = await journalActions(catalog, options.runId, chunk.map(describe));
    for (let i = 0; i < chunk.length; i++) yield { action: chunk[i] as A, actionId: ids[i] as number };
  }
}

function attributesOf(file: PlannedFile): FileAttributes {
  return { mtimeUs: file.mtime_us, mode: file.mode & 0o7777, uid: file.uid, gid: file.gid, path: file.path };
}

/**
 * Buffers catalog writes of finished actions and applies them in batches, in order: when a
 * batch is full, and at the latest RECORD_WITHIN_MS after an action finished, so a run killed
 * at any moment has recorded all but its last second of work.
 */
class Recorder {
  private outcomes: ActionOutcome[] = [];
  private replicas: ReplicaRecord[] = [];
  private hashes: { fileId: number; hash: string }[] = [];
  private writing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  /** A write started by the timer that failed, thrown to the next caller. */
  private failure: unknown;

  constructor(private readonly catalog: CatalogDb) {}

  async add(entry: {
    outcome: ActionOutcome;
    replica?: ReplicaRecord;
    fileHash?: { fileId: number; hash: string };
  }): Promise<void> {
    this.outcomes.push(entry.outcome);
    if (entry.replica) this.replicas.push(entry.replica);
    if (entry.fileHash) this.hashes.push(entry.fileHash);
    if (this.outcomes.length >= JOURNAL_CHUNK) await this.flush();
    else this.timer ??= setTimeout(() => this.flushInBackground(), RECORD_WITHIN_MS);
  }

  async removeReplicas(ids: number[]): Promise<void> {
    await this.flush();
    await removeReplicas(this.catalog, ids);
  }

  /** Writes what is buffered and stops the timer; throws what a background write met. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const outcomes = this.outcomes;
    const replicas = this.replicas;
    const hashes = this.hashes;
    this.outcomes = [];
    this.replicas = [];
    this.hashes = [];
    // Replicas before outcomes: an action is settled "done" only once its replica is recorded.
    this.writing = this.writing.then(async () => {
      await recordReplicas(this.catalog, replicas);
      await setFileHashes(this.catalog, hashes);
      await settleActions(this.catalog, outcomes);
    });
    return this.writing;
  }

  private flushInBackground(): void {
    this.flush().catch((err: unknown) => {
      this.failure ??= err;
    });
  }
}
