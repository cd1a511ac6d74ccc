import type { CatalogDb } from "../catalog/db.js";
import { closeDeadRuns, finishRun, type PlannedAction, startRun } from "../catalog/journal.js";
import { confirmMemberVersion } from "../catalog/packs.js";
import type { ReplicaRecord } from "../catalog/replicas.js";
import { replicaAt } from "../catalog/replicas.js";
import { forgetUploads, staleUploads } from "../catalog/uploads.js";
import type { CodecSetting } from "../codec/choose.js";
import type { CopyAction, DeleteAction } from "../policy/sync-plan.js";
import { hashObject } from "../transfer/copy.js";
import { chunks, runPool } from "../transfer/pool.js";
import { attemptsOf, type RetryPolicy, withRetry } from "../transfer/retry.js";
import { copyFile } from "./copy-file.js";
import { unsharedKeys } from "./dedup.js";
import { ListedKeys } from "./listed-keys.js";
import { changedSince } from "./on-disk.js";
import { Packer, type PackRun, type PackSettings } from "./pack.js";
import { reconcileInterruptedPacks } from "./pack-store.js";
import { reconcileInterrupted } from "./reconcile.js";
import { Recorder } from "./recorder.js";
import { journalInBatches } from "./run.js";
import { type Endpoint, Toolkit, type TransferSettings } from "./toolkit.js";

export interface ExecuteOptions extends TransferSettings {
  runId: number;
  source: Endpoint;
  target: Endpoint & {
    storageClass?: string;
    tags: Record<string, string>;
    codec?: CodecSetting | undefined;
    dedup?: boolean;
  };
  retry: RetryPolicy;
  progress?: ProgressListener;
  /** Files below `pack.below` new at the target go into packs (docs/formats.md, "Packs"). */
  pack?: PackSettings;
}

export interface ProgressListener {
  bytes(count: number): void;
  fileDone(): void;
  /** Each item acted on, for --verbose: the key and what became of it. */
  acted?(outcome: ItemOutcome, key: string): void;
}

export type ItemOutcome = "copied" | "unchanged" | "deleted" | "stale" | "failed";

export interface Failure {
  path: string;
  error: string;
}

export interface ExecutionReport {
  copied: { files: number; bytes: number };
  /** Copies that moved no bytes: the target held their content already and shares it (`dedup: true`). */
  deduplicated: { files: number; bytes: number };
  /** Checksum mode: files read and found identical, so not copied. */
  confirmed: number;
  deleted: { files: number; bytes: number };
  /** Copies skipped because their source file changed since it was planned; the next run copies the new version. */
  stale: number;
  failures: Failure[];
  /** The most bytes transfers held in memory at once, under the budget's cap. */
  bufferPeak: number;
  /** Unfinished uploads of earlier runs that are no longer needed, aborted at the target. */
  abortedUploads: number;
  /** Bytes the copies read from the source: a resumed copy reads only the ranges it lacked. */
  readBytes: number;
}

interface SyncRun {
  catalog: CatalogDb;
  options: ExecuteOptions;
  toolkit: Toolkit;
  recorder: Recorder;
  report: ExecutionReport;
  /** An object-store target's listings, one per directory, so first copies need no stat each. */
  listed: ListedKeys | undefined;
}

/**
 * Before a sync plans: the journal of runs on this host that died is closed, and what they
 * wrote at the target but never recorded is found and recorded, so the plan does not redo it.
 */
export async function prepareSync(catalog: CatalogDb, target: Endpoint): Promise<void> {
  await closeDeadRuns(catalog);
  await reconcileInterrupted(catalog, target);
  await reconcileInterruptedPacks(catalog, target);
}

/** A sync plan carried out as one journaled run, "partial" when anything failed. */
export async function runSync(
  catalog: CatalogDb,
  command: string,
  copies: AsyncIterable<CopyAction>,
  deletes: AsyncIterable<DeleteAction>,
  options: Omit<ExecuteOptions, "runId">,
): Promise<ExecutionReport> {
  const runId = await startRun(catalog, command);
  const report = await executePlan(catalog, copies, deletes, { ...options, runId });
  await finishRun(catalog, runId, report.failures.length > 0 ? "partial" : "done", report);
  return report;
}

/** A report of nothing done yet. */
export function emptyReport(): ExecutionReport {
  return {
    copied: { files: 0, bytes: 0 },
    deduplicated: { files: 0, bytes: 0 },
    confirmed: 0,
    deleted: { files: 0, bytes: 0 },
    stale: 0,
    failures: [],
    bufferPeak: 0,
    abortedUploads: 0,
    readBytes: 0,
  };
}

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
  const report = emptyReport();
  const toolkit = new Toolkit(options, options.retry);
  const recorder = new Recorder(catalog, options.runId);
  const target = options.target.backend;
  const run: SyncRun = {
    catalog,
    options,
    toolkit,
    recorder,
    report,
    listed: target.tree ? undefined : new ListedKeys(target),
  };
  report.abortedUploads = await abortStaleUploads(catalog, options.target);
  const packer = options.pack && new Packer(packRun(run), options.pack);
  const journaledCopies = journalInBatches(catalog, options.runId, packer ? diverted(copies, packer) : copies, (a) => ({
    kind: "copy",
    fileId: a.file.id,
    sourceLocationId: options.source.locationId,
    targetLocationId: options.target.locationId,
    key: a.file.path,
    bytes: a.file.size,
  }));
  await runPool(journaledCopies, toolkit.lanes(options.source.backend), async ({ item: action, actionId }) => {
    // Checked as it starts: a file rewritten since the plan is not copied under the old version's
    // name. A file that cannot be looked at now is left to its copy, which fails saying why.
    const stale = await changedSince(options.source.backend, action.file).catch(() => undefined);
    if (stale) return skipStale(run, action, actionId, stale);
    await runCopy(run, action, actionId);
  });
  for await (const chunk of chunks(journalInBatches(catalog, options.runId, deletes, deletePlanned(options)), 1000)) {
    await runDeletes(chunk, run);
  }
  await run.recorder.flush();
  report.bufferPeak = toolkit.budget.peak;
  return report;
}

/** The copies not packed, as they come; small new files go to the packer, which writes a pack when one is full. */
async function* diverted(copies: AsyncIterable<CopyAction>, packer: Packer): AsyncGenerator<CopyAction> {
  for await (const action of copies) {
    if (!action.onlyIfContentDiffers && packer.accepts(action.file, action.replicaHash)) await packer.add(action.file);
    else yield action;
  }
  await packer.flush();
}

/** The packer reports into the same report, progress and recorder as the run's copies. */
function packRun({ catalog, options, recorder, report }: SyncRun): PackRun {
  return {
    catalog,
    runId: options.runId,
    source: options.source,
    target: options.target,
    retry: options.retry,
    recorder,
    onBytes: (n) => {
      report.readBytes += n;
      options.progress?.bytes(n);
    },
    heard: (outcome, path, detail) => {
      if (outcome === "copied" || outcome === "shared") {
        const counted = outcome === "shared" ? report.deduplicated : report.copied;
        counted.files += 1;
        counted.bytes += detail.bytes ?? 0;
      } else if (outcome === "stale") report.stale += 1;
      else report.failures.push({ path, error: detail.error ?? "failed" });
      options.progress?.fileDone();
      options.progress?.acted?.(outcome === "shared" ? "copied" : outcome, path);
    },
  };
}

async function skipStale(run: SyncRun, action: CopyAction, actionId: number, why: string): Promise<void> {
  run.report.stale += 1;
  run.options.progress?.fileDone();
  run.options.progress?.acted?.("stale", action.file.path);
  await run.recorder.add({ outcome: { id: actionId, state: "skipped", attempts: 0, error: why } });
}

async function runCopy(run: SyncRun, action: CopyAction, actionId: number): Promise<void> {
  const { options, report, recorder } = run;
  const { file } = action;
  const { source, target } = options;
  const event = {
    kind: "copy" as const,
    fileId: file.id,
    locationId: source.locationId,
    targetLocationId: target.locationId,
    bytes: file.size,
  };
  try {
    // Checksum mode: the hash just read is what the copy must carry; the catalog's may be older.
    const read = action.onlyIfContentDiffers
      ? await withRetry(options.retry, () => hashObject(source.backend, file.path))
      : undefined;
    const readHash = read?.value;
    if (read && readHash === action.replicaHash) {
      await confirmCopy(run, action, actionId, read);
      return;
    }
    const { attempts, replica, shared } = await copyFile({
      catalog: run.catalog,
      toolkit: run.toolkit,
      file,
      source,
      target: { ...target, key: file.path, listed: run.listed },
      expectedHash: readHash ?? file.hash,
      onBytes: (n) => {
        report.readBytes += n;
        options.progress?.bytes(n);
      },
      replaces: action.replicaHash !== null,
    });
    const counted = shared ? report.deduplicated : report.copied;
    counted.files += 1;
    counted.bytes += replica.size;
    options.progress?.fileDone();
    options.progress?.acted?.("copied", file.path);
    await recorder.add({
      outcome: { id: actionId, state: "done", attempts, error: null },
      replica,
      fileHash: { fileId: file.id, hash: replica.hash },
      event: { ...event, outcome: "done", detail: { key: file.path, class: replica.storageClass } },
    });
  } catch (err) {
    const message = (err as Error).message;
    report.failures.push({ path: file.path, error: message });
    options.progress?.fileDone();
    options.progress?.acted?.("failed", file.path);
    await recorder.add({
      outcome: { id: actionId, state: "failed", attempts: attemptsOf(err), error: message },
      event: { ...event, outcome: "failed", detail: { key: file.path, error: message } },
    });
  }
}

/**
 * A checksum compare that found the content at the target already: nothing moves, the replica is
 * recorded as made from the version just read, and the action's one event says so (0 bytes).
 */
async function confirmCopy(
  run: SyncRun,
  action: CopyAction,
  actionId: number,
  { value: sha256, attempts }: { value: string; attempts: number },
): Promise<void> {
  const { file } = action;
  const { target } = run.options;
  run.report.confirmed += 1;
  run.options.progress?.fileDone();
  run.options.progress?.acted?.("unchanged", file.path);
  // The replica stays what it is: a deduplicated one keeps another file's key, a compressed one
  // its codec, a pack member its place in its pack. Only the version it was made from is news.
  const held = await replicaAt(run.catalog, file.id, target.locationId);
  const key = held?.key ?? file.path;
  if (action.replicaInPack) {
    await confirmMemberVersion(run.catalog, file.id, target.locationId, {
      sourceSize: file.size,
      sourceMtimeUs: file.mtime_us,
      hash: sha256,
    });
  }
  const replica: ReplicaRecord | undefined = action.replicaInPack
    ? undefined
    : {
        fileId: file.id,
        locationId: target.locationId,
        key,
        size: file.size,
        hash: sha256,
        storageClass: target.storageClass ?? null,
        state: "present",
        sourceSize: file.size,
        sourceMtimeUs: file.mtime_us,
        etag: null,
        verifiedAt: Date.now(),
        codec: held?.codec ?? null,
        storedSize: held?.stored_size ?? null,
      };
  await run.recorder.add({
    outcome: { id: actionId, state: "done", attempts, error: null },
    ...(replica ? { replica } : {}),
    fileHash: { fileId: file.id, hash: sha256 },
    event: {
      kind: "copy",
      fileId: file.id,
      locationId: run.options.source.locationId,
      targetLocationId: target.locationId,
      bytes: 0,
      outcome: "done",
      detail: { key, confirmed: true },
    },
  });
}

async function runDeletes(chunk: { item: DeleteAction; actionId: number }[], run: SyncRun): Promise<void> {
  const { options, recorder, report } = run;
  const event = (action: DeleteAction) => ({
    kind: "delete" as const,
    fileId: action.fileId,
    locationId: options.target.locationId,
    bytes: action.bytes,
  });
  try {
    // A pack member's key is its pack's, and a shared object's is another file's too: only whole
    // objects that no other replica holds are deleted from the store.
    const doomed = await unsharedKeys(
      run.catalog,
      options.target.locationId,
      chunk.flatMap(({ item }) => (item.inPack ? [] : [item])),
    );
    const { attempts } =
      doomed.length > 0 ? await withRetry(options.retry, () => options.target.backend.delete(doomed)) : { attempts: 0 };
    await recorder.removeReplicas(chunk.map(({ item }) => item.replicaId));
    for (const { item: action, actionId } of chunk) {
      report.deleted.files += 1;
      report.deleted.bytes += action.bytes;
      options.progress?.acted?.("deleted", action.key);
      await recorder.add({
        outcome: { id: actionId, state: "done", attempts, error: null },
        event: { ...event(action), outcome: "done", detail: { key: action.key } },
      });
    }
  } catch (err) {
    const message = (err as Error).message;
    for (const { item: action, actionId } of chunk) {
      report.failures.push({ path: action.key, error: message });
      await recorder.add({
        outcome: { id: actionId, state: "failed", attempts: attemptsOf(err), error: message },
        event: { ...event(action), outcome: "failed", detail: { key: action.key, error: message } },
      });
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
