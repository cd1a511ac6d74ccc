import { lstat } from "node:fs/promises";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { openBackend, type ParsedLocation, parseLocationUrl } from "../backends/all.js";
import type { Backend, ObjectInfo, RestoreStatus, RestoreTier } from "../backends/backend.js";
import { InvalidRequestError, NeedsRestoreError } from "../backends/backend.js";
import { unsafeRelativeKey } from "../backends/keys.js";
import type { CatalogDb } from "../catalog/db.js";
import {
  markRestoredInPlace,
  type PendingRestore,
  packSize,
  pendingRestoreOf,
  pendingRestores,
  pendingThawOf,
  recordRestoreRequest,
  rescheduleRestore,
  settleRestore,
  stillPending,
} from "../catalog/restores.js";
import type { FileRow, ReplicaRow, ReplicaState } from "../catalog/schema.js";
import { parseStub, STUB_MAX_BYTES } from "../codec/stub.js";
import { formatDuration } from "../config/units.js";
import {
  cheapestRetrieval,
  copyDelta,
  oneTimeTotal,
  onpremProfile,
  type Placement,
  type PriceOverride,
  type PriceProfile,
  profileFor,
  restoreDelta,
} from "../cost/index.js";
import { classPrice } from "../cost/profile.js";
import { hashObject, readObject } from "../transfer/copy.js";
import { filesInFlight, type TransferSetting } from "../transfer/flight.js";
import { runPool } from "../transfer/pool.js";
import { attemptsOf, isRetryable, type RetryPolicy, withRetry } from "../transfer/retry.js";
import type { EngineEvent } from "./events.js";
import { usOf } from "./on-disk.js";
import { type MemberPlace, memberPlaceOf, readPackMember } from "./pack-store.js";
import { type PackSource, packGroupKey, restoreBatches } from "./restore-plan.js";
import { JournaledRun } from "./run.js";
import { Toolkit, type TransferSettings } from "./toolkit.js";

/**
 * Restore from replicas, archived ones included. A readable replica (present, not in an archive
 * class) is copied at once, the cheapest first by its location's price profile. When only
 * archived replicas exist, the cheapest is asked to thaw, and a `restore_requests` row keeps what
 * is owed: the replica reads 'restoring' until the copy is made, by `--wait`, by a later
 * `strata restore`, or by the daemon through `finishPendingRestores`. The replica then gets back
 * the state it had (a thaw is temporary: the object stays in its archive class).
 */

/** What restore needs of a location; the CLI's resolved locations are these. */
export interface RestoreLocation {
  name: string;
  row: { id: number };
  parsed: ParsedLocation;
  settings: { price?: PriceOverride | undefined };
  backend: Backend;
}

/** What restore needs of its caller: the catalog, retries, and locations by name. */
export interface RestoreDeps {
  catalog: CatalogDb;
  retryPolicy: RetryPolicy;
  location(name: string): Promise<RestoreLocation>;
  /** The journaled run copies belong to, with its transfer toolkit; a dry run has none. */
  run?: JournaledRun;
}

/**
 * Runs `work` as one journaled restore run: every copy it makes is an action journaled before
 * it starts, with the whole transfer toolkit, and leaves an event once the bytes are back.
 */
export async function withRestoreRun<T>(
  deps: RestoreDeps,
  command: string,
  settings: TransferSettings,
  work: (deps: RestoreDeps) => Promise<T>,
): Promise<T> {
  const run = await JournaledRun.start(deps.catalog, command, new Toolkit(settings, deps.retryPolicy));
  try {
    // Named, not spread: the caller's deps may be a class instance (the CLI's Context).
    return await work({
      catalog: deps.catalog,
      retryPolicy: deps.retryPolicy,
      location: (name) => deps.location(name),
      run,
    });
  } finally {
    await run.finish({ restore: command });
  }
}

/** Which thaw to ask for: a tier, or the cheapest tier done within a deadline; default standard. */
export interface ThawWish {
  tier?: RestoreTier;
  deadlineMs?: number;
  /** How long the thawed copy stays readable. */
  days: number;
}

export interface RestoreTarget {
  /** An absolute directory, or null for the file's own place (replacing a stub). */
  dir: string | null;
  backend: Backend;
  /** The catalog's location the bytes go to: the file's own; none for a directory given with --to. */
  locationId: number | null;
}

export type ReplicaCandidate = ReplicaRow & { location_name: string };

export type FileOutcome =
  | { kind: "restored"; from: string; fromId: number; bytes: number }
  /** The file's place already holds this version: left alone, owner, times and inode included. */
  | { kind: "in-place" }
  | {
      kind: "thawing";
      from: string;
      tier: RestoreTier;
      expectedAt: number | null;
      /** Asked by this call, rather than found pending. */
      requested: boolean;
      /**
       * This call asked the store to thaw; false when the request joined a thaw already under
       * way (another member of the same pack asked for it, or an earlier run).
       */
      asked: boolean;
      requestId: number;
    }
  /** `cost` is undefined for a pack member: its pack's plan carries the cost, once. */
  | { kind: "would-read"; from: string; cost: number | undefined; pack?: string }
  | { kind: "would-thaw"; from: string; tier: RestoreTier; cost: number | undefined; pack?: string }
  | { kind: "failed"; error: string };

export interface RestoreFileRequest {
  file: FileRow;
  replicas: ReplicaCandidate[];
  target: RestoreTarget;
  thaw: ThawWish;
  dryRun: boolean;
}

/** Restores one file: reads the cheapest readable replica, or asks the cheapest archived one to thaw. */
export async function restoreFile(deps: RestoreDeps, req: RestoreFileRequest): Promise<FileOutcome> {
  const { file, target } = req;
  // Remote keys are untrusted: refuse before paying for a thaw of something that cannot be written.
  const unsafe = unsafeRelativeKey(file.path);
  if (unsafe) return { kind: "failed", error: `${unsafe}: never written outside the target` };
  if (!req.dryRun && req.replicas.some((r) => r.state === "restoring")) {
    const pending = await pendingRestoreOf(deps.catalog, file.id, target.dir);
    if (pending) return advance(deps, pending, target);
  }
  const ranked = await rank(deps, req.replicas, req.thaw.days);
  const readable = ranked.filter((c) => !c.archived);
  if (readable.length > 0) return readOrPlan(deps, req, readable);

  // Only archived replicas: one that is thawed already (by an earlier request) is read as it is.
  const archived = await Promise.all(ranked.map(async (c) => ({ ...c, ...(await restoreStatus(deps, c)) })));
  const thawed = archived.filter((c) => c.status?.state === "restored" || c.status?.state === "not-archived");
  if (thawed.length > 0) return readOrPlan(deps, req, thawed);
  // One being thawed already (for another member of its pack, or by a run killed before it
  // recorded its request) is waited for, never asked again.
  const ongoing = archived.find((c) => c.status?.state === "restoring");
  if (ongoing) return joinThaw(deps, req, ongoing, ongoing.status as RestoreStatus);

  const reasons = archived.flatMap((c) => (c.problem ? [c.problem] : []));
  const viable = archived.flatMap((c) => {
    if (!c.status) return [];
    const tier = chooseTier(c.profile, c.replica.storage_class, c.replica.size, req.thaw);
    if ("error" in tier) reasons.push(`${c.location.name}: ${tier.error}`);
    if ("error" in tier) return [];
    return [{ ...c, tier, cost: c.profile && restoreEstimate(c.profile, c.replica, tier.tier, req.thaw.days) }];
  });
  const best = viable.sort(byCost)[0];
  if (!best) return { kind: "failed", error: reasons.join("; ") };
  if (req.dryRun) return { kind: "would-thaw", from: best.location.name, tier: best.tier.tier, cost: best.cost };
  return requestThaw(deps, req, best);
}

/** Files to restore, each with the replicas it may be read from. */
export interface RestoreCandidate {
  file: FileRow;
  replicas: ReplicaCandidate[];
}

/** What a restore did, or would do, with one pack: shown once per pack, with its cost. */
export interface PackPlan {
  location: string;
  pack: string;
  /** Files asked for that it holds, and their bytes. */
  files: number;
  bytes: number;
  /**
   * `thaw-asked`: this run asked the store to thaw it; `thawing`: the files joined a thaw under
   * way; `read`: it was readable (members read by range); `would-*`: a dry run's plan.
   */
  action: "thaw-asked" | "thawing" | "read" | "would-thaw" | "would-read";
  tier?: RestoreTier;
  /** The one-time cost of the thaw (on the whole pack) and the members' ranged reads, if priced. */
  cost?: number;
  /** When the thaw should be done (a thaw under way), or how long the tier takes (a plan). */
  expectedAt?: number | null;
  latencyMs?: number;
}

export interface RestoreFilesOptions {
  target: RestoreTarget;
  thaw: ThawWish;
  dryRun: boolean;
  transfers: TransferSetting;
  /** Hears each pack's plan once its files are dealt with. */
  onPack?: (plan: PackPlan) => void;
}

/**
 * Restores files, `transfers` batches at once, as the planner orders them: a file read from a
 * whole object on its own, the members of one pack together in offset order (one thaw for them
 * all). `heard` is told each file's outcome as it comes.
 */
export async function restoreFiles(
  deps: RestoreDeps,
  files: AsyncIterable<RestoreCandidate>,
  options: RestoreFilesOptions,
  heard: (file: FileRow, outcome: FileOutcome) => void,
): Promise<void> {
  const { target, thaw, dryRun } = options;
  // Batches of one pack run one after another: the first asks for the thaw, the next join it.
  const packChains = new Map<string, Promise<void>>();
  const batches = restoreBatches(files, (candidate) => packSourceOf(deps, candidate, thaw.days));
  // Restores read from object stores (a whole object, or a pack's members), so "auto" is theirs.
  await runPool(batches, filesInFlight(options.transfers, "store"), async (batch) => {
    if (batch.kind === "file") {
      const { file, replicas } = batch.candidate;
      heard(file, await restoreFile(deps, { file, replicas, target, thaw, dryRun }));
      return;
    }
    const key = packGroupKey(batch);
    const run = (packChains.get(key) ?? Promise.resolve()).then(() => restorePack(deps, batch.members, options, heard));
    const settled = run.catch(() => undefined);
    packChains.set(key, settled);
    try {
      await run;
    } finally {
      if (packChains.get(key) === settled) packChains.delete(key);
    }
  });
}

/** The pack member a candidate would be read (or thawed) from: its cheapest source, readable first. */
async function packSourceOf(
  deps: RestoreDeps,
  { replicas }: RestoreCandidate,
  days: number,
): Promise<PackSource | undefined> {
  const ranked = await rank(deps, replicas, days);
  const chosen = ranked.find((c) => !c.archived) ?? ranked[0];
  const place = chosen && memberPlaceOf(chosen.replica);
  if (!chosen || !place || chosen.replica.pack_id === null) return undefined;
  return {
    location: chosen.location.name,
    pack: place.pack,
    packId: chosen.replica.pack_id,
    offset: place.offset,
    length: place.length,
  };
}

/**
 * The members of one pack, in offset order: each restored by one ranged read once the pack is
 * readable; from an archive class the first asks for the pack's thaw and the others join it. A
 * dry run looks at the first member only: the others come from the same pack the same way.
 */
async function restorePack(
  deps: RestoreDeps,
  members: { candidate: RestoreCandidate; source: PackSource }[],
  options: RestoreFilesOptions,
  heard: (file: FileRow, outcome: FileOutcome) => void,
): Promise<void> {
  const { target, thaw, dryRun } = options;
  /** The first outcome that says what became of the pack (a file in place or failed says nothing). */
  let telling: FileOutcome | undefined;
  for (const { candidate, source } of members) {
    const { file, replicas } = candidate;
    const planned = telling?.kind === "would-read" || telling?.kind === "would-thaw";
    let outcome: FileOutcome;
    if (dryRun && planned && telling && !unsafeRelativeKey(file.path)) outcome = telling;
    else {
      outcome = await restoreFile(deps, { file, replicas, target, thaw, dryRun });
      if (outcome.kind === "would-read" || outcome.kind === "would-thaw") {
        outcome = { ...outcome, cost: undefined, pack: source.pack };
      }
    }
    if (!telling || telling.kind === "in-place" || telling.kind === "failed") telling = outcome;
    heard(file, outcome);
  }
  const plan = telling && (await packPlan(deps, members, telling, thaw));
  if (plan) options.onPack?.(plan);
}

/** The pack's line of the plan: what was (or would be) done with it, for how much, by when. */
async function packPlan(
  deps: RestoreDeps,
  members: { candidate: RestoreCandidate; source: PackSource }[],
  outcome: FileOutcome,
  thaw: ThawWish,
): Promise<PackPlan | undefined> {
  const head = members[0];
  if (!head) return undefined;
  const { source } = head;
  const files = members.length;
  const bytes = members.reduce((sum, m) => sum + m.candidate.file.size, 0);
  const base = { location: source.location, pack: source.pack, files, bytes };
  if (outcome.kind === "thawing" && !outcome.asked) {
    return { ...base, action: "thawing", tier: outcome.tier, expectedAt: outcome.expectedAt };
  }
  const location = await deps.location(source.location);
  const profile = priceProfile(location);
  const storageClass = head.candidate.replicas.find((r) => r.pack_id === source.packId)?.storage_class ?? null;
  const size = (await packSize(deps.catalog, source.packId)) ?? 0;
  const lengths = members.map((m) => m.source.length);
  const priced = (tier: RestoreTier | undefined) => {
    const cost = profile && packEstimate(profile, storageClass, size, lengths, tier, thaw.days);
    return cost === undefined ? {} : { cost };
  };
  switch (outcome.kind) {
    case "thawing":
      return {
        ...base,
        action: "thaw-asked",
        tier: outcome.tier,
        expectedAt: outcome.expectedAt,
        ...priced(outcome.tier),
      };
    case "would-thaw": {
      const tier = chooseTier(profile, storageClass, size, { ...thaw, tier: outcome.tier });
      const latency = "error" in tier || tier.latencyMs === undefined ? {} : { latencyMs: tier.latencyMs };
      return { ...base, action: "would-thaw", tier: outcome.tier, ...latency, ...priced(outcome.tier) };
    }
    case "would-read":
      return { ...base, action: "would-read", ...priced(undefined) };
    default:
      return { ...base, action: "read" };
  }
}

/**
 * What bringing members of a pack home costs once: the thaw is billed on the whole pack (and its
 * thawed copy kept `days`), each member's read and egress on its own frame.
 */
function packEstimate(
  profile: PriceProfile,
  storageClass: string | null,
  packBytes: number,
  memberLengths: readonly number[],
  tier: RestoreTier | undefined,
  days: number,
): number | undefined {
  try {
    const from = { profile, storageClass: storageClass ?? undefined };
    const wholePack = oneTimeTotal(restoreDelta(from, ON_PREMISES, packBytes, tier, days));
    const thawOnly = wholePack - oneTimeTotal(copyDelta(from, ON_PREMISES, packBytes));
    const reads = memberLengths.reduce((sum, length) => sum + oneTimeTotal(copyDelta(from, ON_PREMISES, length)), 0);
    return thawOnly + reads;
  } catch {
    return undefined;
  }
}

interface Ranked {
  replica: ReplicaCandidate;
  location: RestoreLocation;
  profile: PriceProfile | undefined;
  archived: boolean;
  /** What getting the bytes back costs once (a thaw's being the cheapest tier's), if priced. */
  cost: number | undefined;
}

/** Restores land on a POSIX tree: whatever leaves a cloud provider pays its egress. */
const ON_PREMISES: Placement = { profile: onpremProfile() };

/** Replicas with their locations, readable or not, cheapest first (unpriced last). */
async function rank(deps: RestoreDeps, replicas: ReplicaCandidate[], days: number): Promise<Ranked[]> {
  const ranked = await Promise.all(
    replicas.map(async (replica) => {
      const location = await deps.location(replica.location_name);
      const profile = priceProfile(location);
      const archiveClass = location.backend.caps.archiveClasses.includes(replica.storage_class ?? "");
      return {
        replica,
        location,
        profile,
        archived: replica.state !== "present" || archiveClass,
        cost: profile && restoreEstimate(profile, replica, undefined, days),
      };
    }),
  );
  return ranked.sort(byCost);
}

function byCost(a: { cost: number | undefined }, b: { cost: number | undefined }): number {
  return (a.cost ?? Number.POSITIVE_INFINITY) - (b.cost ?? Number.POSITIVE_INFINITY);
}

function priceProfile(location: RestoreLocation): PriceProfile | undefined {
  try {
    return profileFor({ kind: location.parsed.kind, url: location.parsed.url, price: location.settings.price });
  } catch {
    return undefined;
  }
}

/** The one-time cost of bringing a replica's bytes home: thaw, kept copy, read and egress. */
function restoreEstimate(
  profile: PriceProfile,
  replica: ReplicaCandidate,
  tier: RestoreTier | undefined,
  days: number,
): number | undefined {
  try {
    const from = { profile, storageClass: replica.storage_class ?? undefined };
    return oneTimeTotal(restoreDelta(from, ON_PREMISES, replica.size, tier, days));
  } catch {
    return undefined;
  }
}

export type TierChoice = { tier: RestoreTier; latencyMs: number | undefined } | { error: string };

/**
 * The tier to thaw with: the one asked for (standard by default), or with a deadline the
 * cheapest whose published latency fits. A class the profile does not price as an archive is
 * thawed at the tier asked, unpriced.
 */
export function chooseTier(
  profile: PriceProfile | undefined,
  storageClass: string | null,
  bytes: number,
  wish: Omit<ThawWish, "days">,
): TierChoice {
  const className = storageClass ?? undefined;
  const tiers = profile && archiveTiers(profile, className);
  if (wish.deadlineMs === undefined) {
    const tier = wish.tier ?? "standard";
    if (tiers && !tiers[tier]) {
      return { error: `${storageClass} offers no ${tier} restore (${Object.keys(tiers).join(", ")})` };
    }
    return { tier, latencyMs: tiers?.[tier]?.latencyMs };
  }
  if (!profile || !tiers) {
    return { error: `no restore tiers are priced for class ${storageClass ?? "(default)"}; choose one with --tier` };
  }
  const best = cheapestRetrieval(profile, className, bytes, wish.deadlineMs);
  if (best?.tier) return { tier: best.tier, latencyMs: best.latencyMs };
  const [fastest, price] = Object.entries(tiers).sort(([, a], [, b]) => a.latencyMs - b.latencyMs)[0] ?? [];
  return {
    error:
      `no restore tier of ${storageClass} is done within ${formatDuration(wish.deadlineMs)}` +
      (price ? ` (fastest: ${fastest}, ${formatDuration(price.latencyMs)})` : ""),
  };
}

function archiveTiers(profile: PriceProfile, storageClass: string | undefined) {
  try {
    return classPrice(profile, storageClass).archive?.tiers;
  } catch {
    return undefined;
  }
}

/** The object's thaw state as its store reports it, or why there is none. */
async function restoreStatus(deps: RestoreDeps, c: Ranked): Promise<{ status?: RestoreStatus; problem?: string }> {
  try {
    const { value } = await withRetry(deps.retryPolicy, () => c.location.backend.stat(c.replica.key));
    if (!value) return { problem: `${c.location.name}: ${JSON.stringify(c.replica.key)} is gone from the store` };
    return { status: value.restore ?? { state: "not-archived" } };
  } catch (err) {
    return { problem: describe(c.location.name, err) };
  }
}

async function readOrPlan(deps: RestoreDeps, req: RestoreFileRequest, sources: Ranked[]): Promise<FileOutcome> {
  const first = sources[0] as Ranked;
  if (req.dryRun) return { kind: "would-read", from: first.location.name, cost: first.cost };
  return journaled(deps, req.file, first.location, req.target, async () => {
    const errors: string[] = [];
    for (const source of sources) {
      try {
        const from = { ...versionOf(source.replica), file: req.file, source: source.location };
        const done = await copyInto(deps, from, req.target);
        if (done === "already there") return { kind: "in-place" };
        return {
          kind: "restored",
          from: source.location.name,
          fromId: source.location.row.id,
          bytes: source.replica.size,
        };
      } catch (err) {
        errors.push(describe(source.location.name, err));
      }
    }
    return { kind: "failed", error: errors.join("; ") };
  });
}

type Carried = Extract<FileOutcome, { kind: "restored" | "in-place" | "failed" }>;

/**
 * Bringing one file's bytes back, as an action of the run: journaled as pending before the copy
 * starts, settled after, and one event once the bytes are back (or the attempt failed). A
 * thaw request alone is no such action: the restore_requests row keeps what is owed.
 */
async function journaled(
  deps: RestoreDeps,
  file: { id: number; path: string; size: number },
  source: RestoreLocation,
  target: RestoreTarget,
  copy: () => Promise<Carried>,
): Promise<Carried> {
  const run = deps.run;
  if (!run) throw new Error("a restore that copies runs in a journaled run");
  const actionId = await run.begin({
    kind: "restore",
    fileId: file.id,
    sourceLocationId: source.row.id,
    targetLocationId: target.locationId,
    key: file.path,
    bytes: file.size,
  });
  const outcome = await copy();
  const to = target.dir === null ? {} : { to: target.dir };
  const event = (locationId: number, bytes: number, detail: Record<string, unknown>): EngineEvent => ({
    kind: "restore",
    fileId: file.id,
    locationId,
    targetLocationId: target.locationId,
    bytes,
    outcome: outcome.kind === "failed" ? "failed" : "done",
    detail: { key: file.path, ...to, ...detail },
  });
  if (outcome.kind === "restored") await run.done(actionId, 1, event(outcome.fromId, outcome.bytes, {}));
  else if (outcome.kind === "in-place") await run.done(actionId, 1, event(source.row.id, 0, { alreadyThere: true }));
  else await run.failed(actionId, outcome.error, 1, event(source.row.id, 0, { error: outcome.error }));
  return outcome;
}

async function requestThaw(
  deps: RestoreDeps,
  req: RestoreFileRequest,
  choice: Ranked & { tier: { tier: RestoreTier; latencyMs: number | undefined } },
): Promise<FileOutcome> {
  const { replica, location } = choice;
  const tier = choice.tier.tier;
  let status: RestoreStatus;
  try {
    // A thaw whose copy could not be written back, or is there already, is not worth paying for.
    const from = { ...versionOf(replica), file: req.file, source: location };
    if (await alreadyThere(deps, from, req.target)) return { kind: "in-place" };
    status = (
      await withRetry(deps.retryPolicy, () => location.backend.restore(replica.key, { days: req.thaw.days, tier }))
    ).value;
  } catch (err) {
    return { kind: "failed", error: describe(location.name, err) };
  }
  if (status.state === "restored" || status.state === "not-archived") return readOrPlan(deps, req, [choice]);
  const expectedAt = expected(status, choice.tier.latencyMs);
  const requestId = await recordRestoreRequest(deps.catalog, {
    replicaId: replica.id,
    fileId: req.file.id,
    tier,
    days: req.thaw.days,
    expectedAt,
    targetDir: req.target.dir,
  });
  return { kind: "thawing", from: location.name, tier, expectedAt, requested: true, asked: true, requestId };
}

/**
 * Records this file's request against a thaw already under way for its object: the tier and
 * expected time of the thaw asked earlier (as the catalog or the store knows them), no new thaw.
 */
async function joinThaw(
  deps: RestoreDeps,
  req: RestoreFileRequest,
  choice: Ranked,
  status: RestoreStatus,
): Promise<FileOutcome> {
  const { replica, location } = choice;
  const earlier = await pendingThawOf(deps.catalog, location.row.id, replica.key);
  const tier = earlier?.tier ?? req.thaw.tier ?? "standard";
  if (req.dryRun) return { kind: "would-thaw", from: location.name, tier, cost: undefined };
  try {
    const from = { ...versionOf(replica), file: req.file, source: location };
    if (await alreadyThere(deps, from, req.target)) return { kind: "in-place" };
  } catch (err) {
    return { kind: "failed", error: describe(location.name, err) };
  }
  const expectedAt = (status.state === "restoring" ? status.readyAt?.getTime() : undefined) ?? earlier?.expected_at;
  const requestId = await recordRestoreRequest(deps.catalog, {
    replicaId: replica.id,
    fileId: req.file.id,
    tier,
    days: req.thaw.days,
    expectedAt: expectedAt ?? null,
    targetDir: req.target.dir,
  });
  return {
    kind: "thawing",
    from: location.name,
    tier,
    expectedAt: expectedAt ?? null,
    requested: true,
    asked: false,
    requestId,
  };
}

/** When a thaw should be done: as the store says, or else as the tier's published latency says. */
function expected(status: RestoreStatus, latencyMs: number | undefined): number | null {
  if (status.state === "restoring" && status.readyAt) return status.readyAt.getTime();
  return latencyMs === undefined ? null : Date.now() + latencyMs;
}

interface CopySource {
  file: Pick<FileRow, "id" | "path" | "state" | "size" | "mtime_us" | "atime_us" | "mode" | "uid" | "gid" | "hash">;
  source: RestoreLocation;
  key: string;
  hash: string;
  size: number;
  mtimeUs: number;
  /** A pack member: where its frame lies in the pack at `key`. */
  member?: MemberPlace;
}

/** The version a replica holds: its bytes, and the mtime of the source it was copied from. */
function versionOf(replica: ReplicaCandidate) {
  const version = { key: replica.key, hash: replica.hash, size: replica.size, mtimeUs: replica.source_mtime_us };
  const member = memberPlaceOf(replica);
  return member ? { ...version, member } : version;
}

/**
 * Copies one replica to the target, verified by its hash, written atomically with its owner
 * (as root), mode and times. A place that already holds this version is left alone; in its own
 * place the copy replaces only a stub, never other data. A released file is then present again.
 */
async function copyInto(
  deps: RestoreDeps,
  from: CopySource,
  target: RestoreTarget,
): Promise<"copied" | "already there"> {
  const there = await alreadyThere(deps, from, target);
  if (!there && from.member) await restoreMember(deps, from, from.member, target);
  else if (!there) {
    const { file } = from;
    if (!deps.run) throw new Error("a restore that copies runs in a journaled run");
    // The whole toolkit: ranges read in parallel into the file, the byte budget, the bandwidth cap, retries.
    await deps.run.toolkit.copy({
      source: from.source.backend,
      sourceKey: from.key,
      target: target.backend,
      targetKey: file.path,
      size: from.size,
      // What the object carries (Strata wrote the file's attributes with it) takes precedence.
      attributes: restoredAttributes(from),
      ownerPath: from.file.path,
      expectedHash: from.hash,
    });
  }
  const awayFromDisk = from.file.state === "released" || from.file.state === "missing";
  const tree = target.backend.tree;
  if (target.dir === null && awayFromDisk && tree) {
    const { ino, ctimeMs } = await lstat(tree.fsPath(from.file.path));
    await markRestoredInPlace(deps.catalog, from.file.id, {
      size: from.size,
      mtimeUs: from.mtimeUs,
      inode: ino,
      ctimeUs: usOf(ctimeMs),
    });
  }
  return there ? "already there" : "copied";
}

/** What a restored file gets back: the version's mtime, the catalog's atime, mode and owner. */
function restoredAttributes({ file, mtimeUs }: CopySource) {
  return { mtimeUs, atimeUs: file.atime_us, mode: file.mode & 0o7777, uid: file.uid, gid: file.gid };
}

/**
 * A pack member back to its file: one ranged read of its frame, checked (path, size, SHA-256),
 * then written atomically with its attributes, the target checking the SHA-256 again.
 */
async function restoreMember(deps: RestoreDeps, from: CopySource, member: MemberPlace, target: RestoreTarget) {
  const { file } = from;
  const { value: data } = await withRetry(deps.retryPolicy, () =>
    readPackMember(from.source.backend, member, { path: file.path, size: from.size, sha256: from.hash }),
  );
  const trust = deps.run?.toolkit.settings.trust;
  await withRetry(deps.retryPolicy, () =>
    target.backend.write(file.path, Readable.from([data]), {
      size: data.length,
      attributes: restoredAttributes(from),
      expectedSha256: from.hash,
      ...(trust ? { trust } : {}),
    }),
  );
}

/**
 * Whether the file's place already holds this version (then nothing is written); throws when a
 * restore into the file's own place would overwrite other data than a Strata stub.
 */
async function alreadyThere(deps: RestoreDeps, from: CopySource, target: RestoreTarget): Promise<boolean> {
  const { backend } = target;
  const path = from.file.path;
  const existing = (await withRetry(deps.retryPolicy, () => backend.stat(path))).value;
  if (!existing) return false;
  if (
    existing.size === from.size &&
    (unchangedSinceScan(from, existing) || (await hashObject(backend, path)) === from.hash)
  ) {
    return true;
  }
  if (target.dir !== null || (existing.size <= STUB_MAX_BYTES && (await isStub(backend, path)))) return false;
  throw new OccupiedError(backend.url, path);
}

/** The catalog saw this version present at this size and mtime, and the file still shows them. */
function unchangedSinceScan(from: CopySource, onDisk: ObjectInfo): boolean {
  const { file } = from;
  return (
    file.state === "present" &&
    file.hash === from.hash &&
    onDisk.size === file.size &&
    onDisk.modifiedUs === file.mtime_us
  );
}

async function isStub(backend: Backend, path: string): Promise<boolean> {
  return parseStub((await readObject(backend, path)).toString("utf8")) !== undefined;
}

/** The file's place holds data a restore must not overwrite. */
class OccupiedError extends InvalidRequestError {
  constructor(location: string, path: string) {
    super(
      location,
      `${JSON.stringify(path)} holds other data than this version (nor a strata stub); left alone: restore with --to DIR`,
    );
  }
}

function describe(location: string, err: unknown): string {
  if (err instanceof OccupiedError) return err.message;
  const archived = err instanceof NeedsRestoreError ? " (archived: thaw it first)" : "";
  return `${location}: ${(err as Error).message}${archived} after ${attemptsOf(err)} attempt(s)`;
}

/** Where a pending request's object stands: gone, still (or again) thawing, or readable. */
type ThawState =
  | { kind: "gone" }
  | { kind: "thawing"; expectedAt: number | null; asked: boolean }
  | { kind: "readable" };

/**
 * Memoised thaw states of one round of finishing, by pack (location and key): the members of a
 * pack share one look at the store and, should the thaw have lapsed, one request to thaw again.
 * Whole objects are not kept: one request each, and the map stays as small as the packs.
 */
type ThawStates = Map<string, Promise<ThawState>>;

async function thawStateOf(source: RestoreLocation, pending: PendingRestore, deps: RestoreDeps): Promise<ThawState> {
  const info = (await withRetry(deps.retryPolicy, () => source.backend.stat(pending.replica_key))).value;
  if (!info) return { kind: "gone" };
  const status = info.restore ?? { state: "not-archived" };
  if (status.state === "restoring") {
    return { kind: "thawing", expectedAt: status.readyAt?.getTime() ?? pending.expected_at, asked: false };
  }
  if (status.state !== "archived") return { kind: "readable" };
  // The thaw lapsed before its copy was made (or the store never began it): ask again.
  const again = (
    await withRetry(deps.retryPolicy, () =>
      source.backend.restore(pending.replica_key, { days: pending.days, tier: pending.tier }),
    )
  ).value;
  if (again.state === "restored" || again.state === "not-archived") return { kind: "readable" };
  const profile = priceProfile(source);
  const latency = profile && archiveTiers(profile, pending.storage_class ?? undefined)?.[pending.tier]?.latencyMs;
  return { kind: "thawing", expectedAt: expected(again, latency), asked: true };
}

function sharedThawState(
  states: ThawStates | undefined,
  source: RestoreLocation,
  pending: PendingRestore,
  deps: RestoreDeps,
): Promise<ThawState> {
  if (!states || pending.pack_id === null) return thawStateOf(source, pending, deps);
  const key = packGroupKey({ location: source.name, pack: pending.replica_key });
  let state = states.get(key);
  if (!state) {
    state = thawStateOf(source, pending, deps);
    states.set(key, state);
  }
  return state;
}

/**
 * Moves one pending request on: finishes the copy when the object is readable, asks again when
 * the thaw lapsed before it was used, or says it is still thawing. `states` shares one look per
 * pack among the members finished in one round.
 */
async function advance(
  deps: RestoreDeps,
  pending: PendingRestore,
  target: RestoreTarget,
  states?: ThawStates,
): Promise<FileOutcome> {
  const source = await deps.location(pending.replica_location);
  const from = source.name;
  const settle = (replicaState: ReplicaState, error?: string) =>
    settleRestore(
      deps.catalog,
      { id: pending.id, replicaId: pending.replica_id },
      error === undefined ? { state: "done", replicaState } : { state: "failed", error, replicaState },
    );
  try {
    const state = await sharedThawState(states, source, pending, deps);
    if (state.kind === "gone") {
      const error = `${from}: the archived object ${JSON.stringify(pending.replica_key)} is gone`;
      await settle("lost", error);
      return { kind: "failed", error };
    }
    if (state.kind === "thawing") {
      if (state.asked) await rescheduleRestore(deps.catalog, pending.id, state.expectedAt);
      const { expectedAt, asked } = state;
      return { kind: "thawing", from, tier: pending.tier, expectedAt, requested: asked, asked, requestId: pending.id };
    }
  } catch (err) {
    return { kind: "failed", error: describe(from, err) };
  }
  const copy: CopySource = {
    file: {
      id: pending.file_id,
      path: pending.path,
      state: pending.file_state,
      size: pending.size,
      mtime_us: pending.mtime_us,
      atime_us: pending.atime_us,
      mode: pending.mode,
      uid: pending.uid,
      gid: pending.gid,
      hash: pending.file_hash,
    },
    source,
    key: pending.replica_key,
    hash: pending.replica_hash,
    size: pending.replica_size,
    mtimeUs: pending.source_mtime_us,
  };
  const member = memberPlaceOf({ ...pending, key: pending.replica_key });
  if (member) copy.member = member;
  const file = { id: pending.file_id, path: pending.path, size: pending.replica_size };
  return journaled(deps, file, source, target, async () => {
    let done: "copied" | "already there";
    try {
      done = await copyInto(deps, copy, target);
    } catch (err) {
      const error = describe(from, err);
      // A transient failure stays pending for the next run; any other ends the request.
      if (!isRetryable(err)) await settle(pending.replica_state, error);
      return { kind: "failed", error };
    }
    await settle(pending.replica_state);
    if (done === "already there") return { kind: "in-place" };
    return { kind: "restored", from, fromId: source.row.id, bytes: pending.replica_size };
  });
}

export interface PendingReport {
  restored: { location: string; path: string; from: string; bytes: number }[];
  /** Files whose place held the version already: left alone, the request done. */
  inPlace: { location: string; path: string }[];
  /** `id` is the request's, to wait for. */
  thawing: { id: number; location: string; path: string; from: string; tier: RestoreTier; expectedAt: number | null }[];
  /** `id` is the request's: one that failed transiently stays pending for a later run. */
  failed: { id: number; location: string; path: string; error: string }[];
}

export interface FinishOptions {
  /** Only these requests; default every pending one. */
  ids?: readonly number[];
  transfers?: TransferSetting;
}

/**
 * Finishes every pending restore whose thaw is done (the daemon calls this each cycle; a
 * `strata restore` without a path does too), asks again for thaws that lapsed unused, and
 * reports the ones still thawing.
 */
export async function finishPendingRestores(deps: RestoreDeps, opts: FinishOptions = {}): Promise<PendingReport> {
  const report: PendingReport = { restored: [], inPlace: [], thawing: [], failed: [] };
  const targets = new Map<string, Promise<RestoreTarget>>();
  const states: ThawStates = new Map();
  const targetOf = async (pending: PendingRestore): Promise<RestoreTarget> => {
    if (pending.target_dir === null) {
      const home = await deps.location(pending.file_location);
      return { dir: null, backend: home.backend, locationId: home.row.id };
    }
    let target = targets.get(pending.target_dir);
    if (!target) {
      target = directoryTarget(pending.target_dir);
      targets.set(pending.target_dir, target);
    }
    return target;
  };
  const lanes = filesInFlight(opts.transfers ?? 4, "store");
  await runPool(pendingRestores(deps.catalog, opts.ids), lanes, async (pending) => {
    const where = { id: pending.id, location: pending.file_location, path: pending.path };
    let outcome: FileOutcome;
    try {
      outcome = await advance(deps, pending, await targetOf(pending), states);
    } catch (err) {
      // A location that cannot be opened any more fails its requests, not the whole round.
      outcome = { kind: "failed", error: (err as Error).message };
    }
    if (outcome.kind === "restored") {
      report.restored.push({ location: where.location, path: where.path, from: outcome.from, bytes: outcome.bytes });
    } else if (outcome.kind === "in-place") {
      report.inPlace.push({ location: where.location, path: where.path });
    } else if (outcome.kind === "thawing") {
      report.thawing.push({ ...where, from: outcome.from, tier: outcome.tier, expectedAt: outcome.expectedAt });
    } else if (outcome.kind === "failed") report.failed.push({ ...where, error: outcome.error });
  });
  return report;
}

/** An absolute directory to restore under (no location of the catalog). */
export async function directoryTarget(dir: string): Promise<RestoreTarget> {
  return { dir, backend: await openBackend(parseLocationUrl(dir), { restoreDelay: 0 }), locationId: null };
}

/**
 * Polling a thaw: soon at first, then less and less often. A ready time the store gave that
 * falls before the next poll brings the poll forward; a tier's published latency does not
 * push it back, as thaws often beat it.
 */
const POLL = { firstMs: 500, factor: 1.5, maxMs: 10 * 60_000 };

/**
 * Waits for the given requests (`--wait`): polls their stores with backoff, finishing each once
 * it is readable, until none is still thawing. A request whose copy failed is reported and not
 * waited for again. `onRound` hears each round's report.
 */
export async function waitForRestores(
  deps: RestoreDeps,
  ids: readonly number[],
  opts: Omit<FinishOptions, "ids"> & {
    signal?: AbortSignal;
    onRound?: (report: PendingReport) => void;
    /** Runs each round (under the locations' leases, say), leaving the pauses between free. */
    round?: (finish: () => Promise<PendingReport>) => Promise<PendingReport>;
  } = {},
): Promise<PendingReport> {
  const total: PendingReport = { restored: [], inPlace: [], thawing: [], failed: [] };
  let delay = POLL.firstMs;
  let waiting = [...ids];
  while (waiting.length > 0 && !opts.signal?.aborted) {
    const finish = () => finishPendingRestores(deps, { ...opts, ids: waiting });
    const round = await (opts.round ? opts.round(finish) : finish());
    opts.onRound?.(round);
    total.restored.push(...round.restored);
    total.inPlace.push(...round.inPlace);
    total.failed.push(...round.failed);
    total.thawing = round.thawing;
    const failed = new Set(round.failed.map((f) => f.id));
    waiting = (await stillPending(deps.catalog, waiting)).filter((id) => !failed.has(id));
    if (waiting.length === 0) break;
    const untilReady = Math.min(...round.thawing.map((t) => t.expectedAt ?? Infinity)) - Date.now();
    const pause = untilReady > 0 ? Math.max(50, Math.min(delay, untilReady)) : delay;
    await sleep(pause, undefined, opts.signal ? { signal: opts.signal } : {}).catch(() => undefined);
    delay = Math.min(delay * POLL.factor, POLL.maxMs);
  }
  return total;
}
