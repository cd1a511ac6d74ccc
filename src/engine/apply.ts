import type { BackendKind } from "../backends/all.js";
import type { CatalogDb } from "../catalog/db.js";
import { fileById, setFileHashes } from "../catalog/files.js";
import { closeDeadRuns, finishRun, journalActions, type PlannedAction, startRun } from "../catalog/journal.js";
import { recordReplicas, removeReplicas, replicasOfFile, setReplicaClass } from "../catalog/replicas.js";
import type { FileRow, FileState } from "../catalog/schema.js";
import { codecSettingOf } from "../codec/choose.js";
import { profileFor } from "../cost/override.js";
import type {
  CopyPolicyAction,
  DeletePolicyAction,
  PolicyAction,
  PolicyActionKind,
  TransitionPolicyAction,
} from "../policy/actions.js";
import type { Config } from "../policy/config-schema.js";
import { ACTION_KINDS, guardPrunes, planPolicies, selectPolicies } from "../policy/planner.js";
import { MONTH_MS, type PackGcSettings, type Policy } from "../policy/schema.js";
import { hashObject } from "../transfer/copy.js";
import { chunks, runPool } from "../transfer/pool.js";
import { attemptsOf, type RetryPolicy, withRetry } from "../transfer/retry.js";
import { copyFile } from "./copy-file.js";
import { unsharedKeys } from "./dedup.js";
import type { EngineEvent } from "./events.js";
import { changedSince } from "./on-disk.js";
import { failed, type Outcome, stale } from "./outcome.js";
import { gcPacks, type PackGcReport } from "./pack-gc.js";
import { memberRecordOf } from "./pack-store.js";
import { type PackingRun, PolicyPackers } from "./policy-pack.js";
import type { ApplyLocation, Journaled, PolicyRun } from "./policy-run.js";
import { NoticeBatcher, notifyFile, purgeFile } from "./purge.js";
import { reconcileInterruptedTargets } from "./reconcile.js";
import { BATCH, Recorder } from "./recorder.js";
import { releaseFile } from "./release.js";
import { watchStopRequests } from "./stop-requests.js";
import type { ProgressListener } from "./sync.js";
import { Toolkit, type TransferSettings } from "./toolkit.js";

export interface ApplyDeps {
  catalog: CatalogDb;
  /** A location by its configured name; throws for a name it does not know. */
  location(name: string): Promise<ApplyLocation>;
  retryPolicy: RetryPolicy;
}

export interface ApplyOptions extends TransferSettings {
  /** Once aborted: nothing new starts, what is in flight finishes, the journal is settled. */
  signal?: AbortSignal;
  progress?: ProgressListener;
  /** The run's name in the journal. */
  command?: string;
  /** Told the run's id once it is journaled: the server answers with it while the run goes on. */
  started?(runId: number): void;
  /**
   * When the plan was made (epoch ms). Notices then keep their whole grace period counted from
   * when they go out, however long after planning that is; without it, the planned dates hold.
   */
  plannedAt?: number;
}

export interface KindTotals {
  /** Actions carried out, and the bytes they moved, changed or freed. */
  files: number;
  bytes: number;
  /** Skipped: the file or replica is no longer what the plan was made for. */
  stale: number;
  failed: number;
}

export interface ApplyIssue {
  kind: PolicyActionKind;
  policy: string;
  location: string;
  path: string;
  reason: string;
}

export interface ApplyReport {
  runId: number;
  kinds: Record<PolicyActionKind, KindTotals>;
  failures: ApplyIssue[];
  /** Why actions were skipped as stale: the first MAX_LISTED_STALE of them (the counts are exact). */
  stale: ApplyIssue[];
  /** The signal stopped the run before every action was taken; `notStarted` were journaled but not begun. */
  stopped: boolean;
  notStarted: number;
  bufferPeak: number;
  elapsedMs: number;
  /** The placements' `pack.gc`, per location, when any asks for it. */
  packGc?: PackGcLocation[];
}

export type PackGcLocation = PackGcReport & { location: string };

const MAX_LISTED_STALE = 1000;

/** The states a file may be in for each kind of action to still make sense. */
const LIVE_STATES: Record<PolicyActionKind, readonly FileState[]> = {
  copy: ["present"],
  transition: ["present", "released"],
  restore: ["released", "present"],
  release: ["present"],
  notify: ["present"],
  purge: ["present"],
  delete: ["present", "released", "deleted"],
};

/**
 * Carries out a plan's actions: each journaled as pending before it starts and settled after,
 * at most `transfers` at once, copies under one buffered-bytes budget, each retried on transient
 * errors. Every action first checks that the catalog still holds the version of the file it
 * was planned for; one that no longer applies is skipped and counted as stale, never applied
 * to other content.
 */
export async function applyPlan(
  deps: ApplyDeps,
  actions: AsyncIterable<PolicyAction>,
  options: ApplyOptions,
): Promise<ApplyReport> {
  return execute(deps, options, (round) =>
    round === 0 ? { actions, ...(options.plannedAt === undefined ? {} : { plannedAt: options.plannedAt }) } : undefined,
  );
}

/** What `applyPolicies` needs: what apply needs, plus the config's policies and defaults. */
export interface PolicyContext extends ApplyDeps {
  loaded: { config: Config };
  defaults: Pick<TransferSettings, "transfers" | "maxBuffer" | "streams">;
}

export interface PolicyApplyOptions extends Partial<TransferSettings> {
  /** Only these policies (disabled ones too); default: every enabled policy. */
  policies?: readonly string[];
  signal?: AbortSignal;
  progress?: ProgressListener;
  /** Prune past the maxDeleteShare guard. */
  force?: boolean;
  /** Told the run's id once it is journaled. */
  started?(runId: number): void;
}

/** Rounds of plan-then-apply in one run at most; a third finds nothing left in practice. */
const MAX_ROUNDS = 3;

/**
 * Plans the policies against the catalog and applies the plan, as one journaled run. Copies
 * made in one round are what lets the next release or purge-announce their source, so while
 * a round got things done without failures the policies are planned again (up to MAX_ROUNDS):
 * one run reaches the state the policies ask for, and a plan right after it has nothing to do.
 */
export async function applyPolicies(ctx: PolicyContext, options: PolicyApplyOptions = {}): Promise<ApplyReport> {
  const { config } = ctx.loaded;
  const names = selectPolicies(config, options.policies).map((p) => p.name);
  const applyOptions: ApplyOptions = {
    transfers: options.transfers ?? ctx.defaults.transfers,
    maxBuffer: options.maxBuffer ?? ctx.defaults.maxBuffer,
    streams: options.streams ?? ctx.defaults.streams ?? "auto",
    ...(options.bwlimit ? { bwlimit: options.bwlimit } : {}),
    command: `apply ${names.join(" ")}`,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.progress ? { progress: options.progress } : {}),
    ...(options.started ? { started: options.started } : {}),
  };
  // Refused before the run starts, so a refused prune leaves no run behind in the journal.
  if (!options.force) await guardPrunes(ctx.catalog, config, { policies: options.policies, now: Date.now() });
  const report = await execute(ctx, applyOptions, (round, last) => {
    if (round > 0 && (round >= MAX_ROUNDS || last.done === 0 || last.failed > 0)) return undefined;
    const now = Date.now();
    const planOptions = { policies: options.policies, now, force: options.force ?? false };
    return { actions: planPolicies(ctx.catalog, config, planOptions), plannedAt: now };
  });
  if (!report.stopped) {
    const gc = await gcPolicyPacks(ctx, selectPolicies(config, options.policies));
    if (gc.length > 0) report.packGc = gc;
  }
  return report;
}

/**
 * The policies' own `pack.gc`: after their actions, the packs at each placement that asks for it
 * are weighed and repacked as `strata pack gc` does (its own journaled run), once per location
 * (the first placement's settings win), under the leases the policies' run already holds.
 */
async function gcPolicyPacks(ctx: PolicyContext, policies: readonly Policy[]): Promise<PackGcLocation[]> {
  const wanted = new Map<string, PackGcSettings>();
  for (const place of policies.flatMap((policy) => policy.place)) {
    if (place.pack?.gc && !wanted.has(place.to)) wanted.set(place.to, place.pack.gc);
  }
  const reports: PackGcLocation[] = [];
  for (const [name, gc] of wanted) {
    const location = await ctx.location(name);
    const configured = ctx.loaded.config.locations[name];
    const kind = location.row.kind as BackendKind;
    const report = await gcPacks(ctx.catalog, {
      liveBelow: gc.liveBelow,
      horizonMonths: gc.horizon / MONTH_MS,
      dryRun: false,
      profile: profileFor({ kind, url: location.row.url, price: configured?.price }),
      retry: ctx.retryPolicy,
      target: {
        name,
        backend: location.backend,
        locationId: location.row.id,
        ...(configured?.class ? { storageClass: configured.class } : {}),
        tags: location.settings.tags,
      },
      heard: () => undefined,
    });
    reports.push({ location: name, ...report });
  }
  return reports;
}

interface RoundResult {
  done: number;
  failed: number;
}

/** The next round's actions and when they were planned, given how the last went; undefined: stop. */
type NextRound = (
  round: number,
  last: RoundResult,
) => { actions: AsyncIterable<PolicyAction>; plannedAt?: number } | undefined;

async function execute(deps: ApplyDeps, options: ApplyOptions, next: NextRound): Promise<ApplyReport> {
  const started = Date.now();
  await closeDeadRuns(deps.catalog);
  const runId = await startRun(deps.catalog, options.command ?? "apply");
  options.started?.(runId);
  // Another process (a server's cancel) may ask this run to stop through the catalog.
  const stopRequests = watchStopRequests(deps.catalog, runId, options.signal);
  try {
    return await executeRounds(deps, { ...options, signal: stopRequests.signal }, next, { runId, started });
  } finally {
    stopRequests.close();
  }
}

/** The rounds of one journaled apply run, until nothing is left or the signal says stop. */
async function executeRounds(
  deps: ApplyDeps,
  options: ApplyOptions,
  next: NextRound,
  { runId, started }: { runId: number; started: number },
): Promise<ApplyReport> {
  const run = new ApplyRun(deps, options, runId);
  // What a killed run copied but never recorded is found before anything is planned.
  await reconcileInterruptedTargets(deps.catalog, async (name) => {
    const location = await run.resolve(name);
    return { backend: location.backend, locationId: location.row.id };
  });
  try {
    let last: RoundResult = { done: 0, failed: 0 };
    for (let round = 0; !options.signal?.aborted; round++) {
      const planned = next(round, last);
      if (!planned) break;
      run.plannedAt = planned.plannedAt;
      const before = run.counts();
      // Copies into a placement with `pack:` are gathered into packs before they are journaled.
      const unpacked = new PolicyPackers(run).diverted(planned.actions);
      await runPool(run.journaled(unpacked), run.toolkit.lanes(), async (item) => {
        await run.settle(item, await carryOut(run, item));
      });
      await run.notices.flushAll();
      // The next round is planned from what this one recorded.
      await run.flush();
      const after = run.counts();
      last = { done: after.done - before.done, failed: after.failed - before.failed };
    }
  } finally {
    await run.flush();
  }
  const report = run.report;
  report.stopped = options.signal?.aborted ?? false;
  report.bufferPeak = run.toolkit.budget.peak;
  report.elapsedMs = Date.now() - started;
  const failedAny = report.failures.length > 0;
  await finishRun(deps.catalog, runId, failedAny || report.stopped ? "partial" : "done", summaryOf(report));
  return report;
}

/** The state of one apply run: locations, the toolkit, the tally, what is not yet recorded. */
export class ApplyRun implements PolicyRun, PackingRun {
  readonly report: ApplyReport;
  readonly toolkit: Toolkit;
  readonly notices: NoticeBatcher;
  /** When the actions now running were planned; notices count their grace from their own sending. */
  plannedAt: number | undefined;
  readonly recorder: Recorder;
  private readonly locations = new Map<string, Promise<ApplyLocation>>();

  constructor(
    readonly deps: ApplyDeps,
    readonly options: ApplyOptions,
    runId: number,
  ) {
    this.toolkit = new Toolkit(options, deps.retryPolicy);
    this.recorder = new Recorder(deps.catalog, runId);
    this.notices = new NoticeBatcher(this);
    const kinds = Object.fromEntries(ACTION_KINDS.map((k) => [k, { files: 0, bytes: 0, stale: 0, failed: 0 }]));
    this.report = {
      runId,
      kinds: kinds as Record<PolicyActionKind, KindTotals>,
      failures: [],
      stale: [],
      stopped: false,
      notStarted: 0,
      bufferPeak: 0,
      elapsedMs: 0,
    };
  }

  get catalog(): CatalogDb {
    return this.deps.catalog;
  }

  get retry(): RetryPolicy {
    return this.deps.retryPolicy;
  }

  get runId(): number {
    return this.report.runId;
  }

  resolve(name: string): Promise<ApplyLocation> {
    let location = this.locations.get(name);
    if (!location) {
      location = this.deps.location(name);
      this.locations.set(name, location);
    }
    return location;
  }

  counts(): RoundResult {
    const kinds = Object.values(this.report.kinds);
    return { done: kinds.reduce((n, k) => n + k.files, 0), failed: kinds.reduce((n, k) => n + k.failed, 0) };
  }

  /** Journals actions as pending, a chunk at a time, and hands them out until the signal says stop. */
  async *journaled(actions: AsyncIterable<PolicyAction>): AsyncGenerator<Journaled> {
    for await (const chunk of chunks(actions, BATCH)) {
      yield* this.journalChunk(chunk);
      if (this.options.signal?.aborted) return;
    }
  }

  /** Journaled before any starts; those the signal overtakes are settled as skipped. */
  private async *journalChunk(chunk: PolicyAction[]): AsyncGenerator<Journaled> {
    const described = await Promise.all(chunk.map((a) => this.describe(a)));
    const ids = await journalActions(this.catalog, this.report.runId, described);
    for (let i = 0; i < chunk.length; i++) {
      const item = { action: chunk[i] as PolicyAction, actionId: ids[i] as number };
      if (this.options.signal?.aborted) await this.skipUnstarted(item);
      else yield item;
    }
  }

  async current(action: PolicyAction): Promise<FileRow | undefined> {
    const file = await fileById(this.catalog, action.file.fileId);
    const from = await this.resolve(action.file.location);
    return staleness(action, file, from.row.id) === undefined ? file : undefined;
  }

  onBytes(count: number): void {
    this.options.progress?.bytes(count);
  }

  /** A packed copy's outcome: the packer journals, records and writes its event; this counts it. */
  heard(
    action: CopyPolicyAction,
    outcome: "copied" | "shared" | "stale" | "failed",
    detail: { bytes?: number; error?: string },
  ): void {
    const totals = this.report.kinds.copy;
    this.options.progress?.fileDone();
    // A copy that shares bytes already there (dedup) is a copy done, as apply's whole copies count it.
    if (outcome === "copied" || outcome === "shared") {
      totals.files += 1;
      totals.bytes += detail.bytes ?? 0;
    } else if (outcome === "stale") {
      totals.stale += 1;
      const why = "the file changed since the plan";
      if (this.report.stale.length < MAX_LISTED_STALE) this.report.stale.push(issueOf(action, why));
    } else {
      totals.failed += 1;
      this.report.failures.push(issueOf(action, detail.error ?? "failed"));
    }
  }

  /** Counts an outcome and hands its journal entry, replica and event to the Recorder's batches. */
  async settle(item: Journaled, outcome: Outcome): Promise<void> {
    if (outcome.state === "deferred") return;
    const { action, actionId: id } = item;
    const totals = this.report.kinds[action.kind];
    const issue = (reason: string) => issueOf(action, reason);
    this.options.progress?.fileDone();
    if (outcome.state === "done") {
      totals.files += 1;
      totals.bytes += outcome.bytes;
      await this.recorder.add({
        outcome: { id, state: "done", attempts: outcome.attempts, error: null },
        ...(outcome.replica ? { replica: outcome.replica } : {}),
        ...(outcome.fileHash ? { fileHash: { fileId: action.file.fileId, hash: outcome.fileHash } } : {}),
        event: await this.eventOf(action, "done", outcome.bytes, outcome.detail),
      });
    } else if (outcome.state === "stale") {
      totals.stale += 1;
      if (this.report.stale.length < MAX_LISTED_STALE) this.report.stale.push(issue(outcome.reason));
      await this.recorder.add({ outcome: { id, state: "skipped", attempts: 0, error: outcome.reason } });
    } else {
      totals.failed += 1;
      this.report.failures.push(issue(outcome.error));
      await this.recorder.add({
        outcome: { id, state: "failed", attempts: outcome.attempts, error: outcome.error },
        event: await this.eventOf(action, "failed", 0, { error: outcome.error }),
      });
    }
  }

  private async skipUnstarted(item: Journaled): Promise<void> {
    this.report.notStarted += 1;
    await this.recorder.add({
      outcome: { id: item.actionId, state: "skipped", attempts: 0, error: "the run stopped before this began" },
    });
  }

  flush(): Promise<void> {
    return this.recorder.flush();
  }

  /** A location's id by its configured name; null for a name the config no longer has. */
  private locationId(name: string): Promise<number | null> {
    return this.resolve(name).then(
      (l) => l.row.id,
      () => null,
    );
  }

  /** The one event an action carried out leaves: where it happened, and where bytes went. */
  private async eventOf(
    action: PolicyAction,
    outcome: "done" | "failed",
    bytes: number,
    detail: Record<string, unknown> = {},
  ): Promise<EngineEvent> {
    const base = { kind: action.kind, fileId: action.file.fileId, policy: action.policy, outcome, bytes };
    switch (action.kind) {
      case "copy":
        return {
          ...base,
          locationId: await this.locationId(action.file.location),
          targetLocationId: await this.locationId(action.to),
          detail: { key: action.key, class: action.storageClass, ...detail },
        };
      case "transition":
        return {
          ...base,
          locationId: await this.locationId(action.at),
          detail: { key: action.key, from: action.fromClass, to: action.toClass, ...detail },
        };
      case "restore":
      case "delete":
        return { ...base, locationId: await this.locationId(action.at), detail: { key: action.key, ...detail } };
      default:
        return { ...base, locationId: await this.locationId(action.file.location), detail };
    }
  }

  /** The journal's view of an action; a location the config no longer names is journaled as unknown. */
  private async describe(action: PolicyAction): Promise<PlannedAction> {
    const id = (name: string) => this.locationId(name);
    const source = await id(action.file.location);
    const base = { kind: action.kind, fileId: action.file.fileId, bytes: action.bytes };
    switch (action.kind) {
      case "copy":
        return { ...base, sourceLocationId: source, targetLocationId: await id(action.to), key: action.key };
      case "transition":
      case "restore":
      case "delete":
        return { ...base, sourceLocationId: null, targetLocationId: await id(action.at), key: action.key };
      default:
        return { ...base, sourceLocationId: source, targetLocationId: null, key: action.file.path };
    }
  }
}

function issueOf(action: PolicyAction, reason: string): ApplyIssue {
  return { kind: action.kind, policy: action.policy, location: action.file.location, path: action.file.path, reason };
}

/** One action: checked against the catalog as it is now, then carried out. Never throws. */
async function carryOut(run: ApplyRun, { action, actionId }: Journaled): Promise<Outcome> {
  try {
    const file = await fileById(run.catalog, action.file.fileId);
    const from = await run.resolve(action.file.location);
    const why = staleness(action, file, from.row.id);
    if (why || !file) return stale(why ?? "not in the catalog");
    switch (action.kind) {
      case "copy":
        return await copy(run, action, file);
      case "transition":
        return await transition(run, action, file);
      case "release":
        return await releaseFile(run, action, file);
      case "notify":
        return await notifyFile(run, run.notices, { action, actionId }, file);
      case "purge":
        return await purgeFile(run, action, file);
      case "delete":
        return await deleteReplica(run, action, file);
      case "restore":
        return failed("restore actions are carried out by `strata restore`, not by apply");
    }
  } catch (err) {
    return failed((err as Error).message, attemptsOf(err));
  }
}

/** Why the catalog's file is no longer the one the action was planned for, if it is not. */
function staleness(action: PolicyAction, file: FileRow | undefined, locationId: number): string | undefined {
  const planned = action.file;
  if (!file) return "the file is no longer in the catalog";
  if (file.location_id !== locationId || file.path !== planned.path) {
    return "the plan names another file under this id: it was made with another catalog";
  }
  if (file.size !== planned.size || file.mtime_us !== planned.mtimeUs) return "the file changed since the plan";
  if (planned.hash !== null && file.hash !== null && planned.hash !== file.hash) {
    return "the file's content changed since the plan";
  }
  if (!LIVE_STATES[action.kind].includes(file.state)) return `the file is ${file.state} now`;
  return undefined;
}

async function copy(run: ApplyRun, action: CopyPolicyAction, file: FileRow): Promise<Outcome> {
  const source = await run.resolve(action.file.location);
  const target = await run.resolve(action.to);
  // The catalog still holds the planned version; the file itself must too, as it is read now.
  const changed = await changedSince(source.backend, file);
  if (changed) return stale(changed);
  if (file.hash === null) {
    const confirmed = await confirmUnchanged(run, file, source, target);
    if (confirmed) return confirmed;
  }
  const ends = { source, target };
  return copyWith(run, action, file, ends);
}

/** The copy itself, through the engine's one copy step. */
async function copyWith(
  run: ApplyRun,
  action: CopyPolicyAction,
  file: FileRow,
  { source, target }: { source: ApplyLocation; target: ApplyLocation },
): Promise<Outcome> {
  const { attempts, replica } = await copyFile({
    catalog: run.catalog,
    toolkit: run.toolkit,
    file,
    source: { backend: source.backend, locationId: source.row.id },
    target: {
      backend: target.backend,
      locationId: target.row.id,
      key: action.key,
      storageClass: action.storageClass,
      tags: target.settings.tags,
      codec: codecSettingOf(action.codec ?? target.settings.codec),
      dedup: target.settings.dedup,
    },
    expectedHash: file.hash,
    onBytes: (n) => run.options.progress?.bytes(n),
    // Whether the key holds a replica of this file is the catalog's to say, in markReplacing.
    replaces: true,
  });
  // Recorded in the run's batch, before the action is settled: a replica on record is a checked one.
  return {
    state: "done",
    attempts,
    bytes: replica.size,
    replica,
    ...(file.hash === null ? { fileHash: replica.hash } : {}),
    detail: { key: action.key, class: replica.storageClass },
  };
}

/**
 * A file the scan saw touched (its mtime or ctime moved, so its hash was cleared) whose replica
 * at the target is of the same size: read and hashed first, and sent again only if its content
 * differs. One that matches has its hash and the replica's source version recorded, and is done.
 */
async function confirmUnchanged(
  run: ApplyRun,
  file: FileRow,
  source: ApplyLocation,
  target: ApplyLocation,
): Promise<Outcome | undefined> {
  const replica = (await replicasOfFile(run.catalog, file.id)).find((r) => r.location_id === target.row.id);
  if (replica?.state !== "present" || replica.size !== file.size) return undefined;
  const { value: sha256, attempts } = await withRetry(run.retry, () => hashObject(source.backend, file.path));
  if (sha256 !== replica.hash) return undefined;
  await recordReplicas(run.catalog, [
    {
      fileId: file.id,
      locationId: target.row.id,
      key: replica.key,
      size: replica.size,
      hash: replica.hash,
      storageClass: replica.storage_class,
      state: replica.state,
      sourceSize: file.size,
      sourceMtimeUs: file.mtime_us,
      etag: replica.etag,
      verifiedAt: replica.verified_at,
      // A pack member stays where it is in its pack.
      ...memberRecordOf(replica),
    },
  ]);
  await setFileHashes(run.catalog, [{ fileId: file.id, hash: sha256 }]);
  return {
    state: "done",
    attempts,
    bytes: 0,
    detail: { key: replica.key, class: replica.storage_class, confirmed: true },
  };
}

async function transition(run: ApplyRun, action: TransitionPolicyAction, file: FileRow): Promise<Outcome> {
  const replica = (await replicasOfFile(run.catalog, file.id)).find((r) => r.id === action.replicaId);
  if (!replica || replica.location_name !== action.at || replica.key !== action.key) {
    return stale(`the replica at ${action.at} is no longer on record`);
  }
  if (replica.state !== "present") return stale(`the replica at ${action.at} is ${replica.state}`);
  if (replica.storage_class === action.toClass)
    return stale(`the replica at ${action.at} is ${action.toClass} already`);
  // Changing the class of a member's key would move its whole pack, other files' copies included.
  if (replica.pack_id !== null) return stale(`the replica at ${action.at} is in a pack; the pack changes class whole`);
  const at = await run.resolve(action.at);
  const { value: info, attempts } = await withRetry(run.retry, () =>
    at.backend.copy(replica.key, replica.key, { storageClass: action.toClass }),
  );
  await setReplicaClass(run.catalog, replica.id, info.storageClass ?? action.toClass, info.etag ?? null);
  return { state: "done", attempts, bytes: replica.size };
}

async function deleteReplica(run: ApplyRun, action: DeletePolicyAction, file: FileRow): Promise<Outcome> {
  const replicas = await replicasOfFile(run.catalog, file.id);
  const replica = replicas.find((r) => r.id === action.replicaId);
  if (!replica || replica.location_name !== action.at || replica.key !== action.key) {
    return stale(`the replica at ${action.at} is gone already`);
  }
  // A released file lives in its replicas alone: never remove the last good one.
  const others = replicas.filter((r) => r.id !== replica.id && r.state === "present" && r.hash === file.hash);
  if (file.state === "released" && others.length === 0) {
    return failed(`the replica at ${action.at} is the last verified copy of a released file; not deleted`);
  }
  const at = await run.resolve(action.at);
  // A pack member's key is its pack's, which holds other files: only its row goes. A whole
  // object another file still shares stays too.
  const doomed =
    replica.pack_id === null
      ? await unsharedKeys(run.catalog, at.row.id, [{ key: replica.key, replicaId: replica.id }])
      : [];
  const { attempts } = await withRetry(run.retry, () => at.backend.delete(doomed));
  await removeReplicas(run.catalog, [replica.id]);
  return { state: "done", attempts, bytes: replica.size };
}

function summaryOf(report: ApplyReport) {
  return {
    kinds: report.kinds,
    failures: report.failures.length,
    stale: Object.values(report.kinds).reduce((n, k) => n + k.stale, 0),
    stopped: report.stopped,
  };
}
