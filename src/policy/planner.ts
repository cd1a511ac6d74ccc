import { type BackendDescriptor, descriptorOf, parseLocationUrl, type SeedClasses } from "../backends/all.js";
import type { CatalogDb } from "../catalog/db.js";
import { allLocations } from "../catalog/locations.js";
import type { FileState, ReplicaRow } from "../catalog/schema.js";
import { UsageError } from "../config/errors.js";
import {
  accessRateEstimate,
  type CostDelta,
  chooseClass,
  copyDelta,
  deleteDelta,
  oneTimeTotal,
  type PriceProfile,
  profileFor,
  releaseDelta,
  resolveClass,
  seedClass,
  transitionDelta,
} from "../cost/index.js";
import type { PlannedVersion, PlanTotal, PolicyAction, PolicyActionKind } from "./actions.js";
import type { Config } from "./config-schema.js";
import { refuseDeleteShare } from "./delete-guard.js";
import { MONTH_MS, type Place, type Policy } from "./schema.js";
import { type CompiledSelector, compileSelector } from "./selector.js";

/**
 * The policy planner: for each file a policy selects, the difference between the state the
 * policy asks for (a replica at each place location, in its class; then the source kept,
 * released or purged) and what the catalog records. It reads only the catalog, a page of files
 * at a time, and yields actions as it goes; `strata apply` carries them out.
 */

export interface PlanOptions {
  /** Only these policies, by name (disabled ones too); default: every enabled policy. */
  policies?: readonly string[] | undefined;
  /** Epoch milliseconds: ages and the seed rule are measured from here. */
  now: number;
  /** Files per catalog query. */
  pageSize?: number;
  /** Plan prunes past the maxDeleteShare guard. */
  force?: boolean;
}

const DEFAULT_PAGE = 1000;
const DAY_MS = 86_400_000;
const DEFAULT_HORIZON_MS = 12 * MONTH_MS;

/** The policies a plan covers; an unknown name is a usage error listing the known ones. */
export function selectPolicies(config: Config, names?: readonly string[]): Policy[] {
  if (!names || names.length === 0) return config.policies.filter((p) => p.enabled);
  return names.map((name) => {
    const policy = config.policies.find((p) => p.name === name);
    if (!policy) {
      const known = config.policies.map((p) => p.name).join(", ") || "none in the config";
      throw new UsageError(`--policy ${name}: no such policy (known: ${known})`);
    }
    return policy;
  });
}

export async function* planPolicies(
  catalog: CatalogDb,
  config: Config,
  options: PlanOptions,
): AsyncGenerator<PolicyAction> {
  const policies = selectPolicies(config, options.policies);
  const locationIds = new Map((await allLocations(catalog)).map((row) => [row.name, row.id]));
  // Before the first action: a plan that would prune too much is refused whole, like sync --delete.
  if (!options.force) await guardPrunes(catalog, config, options);
  for (const policy of policies) {
    yield* planPolicy(catalog, config, policy, locationIds, options);
  }
}

/**
 * Refuses (a UsageError naming the policy and place) the prunes of any policy that would
 * delete more than its share of the objects one place holds of a source: a source that lost
 * most of its files at once is far more often unmounted, renamed or half restored than emptied
 * on purpose. The share is the policy's `maxDeleteShare`, else `defaults.maxDeleteShare`.
 */
export async function guardPrunes(catalog: CatalogDb, config: Config, options: PlanOptions): Promise<void> {
  const locationIds = new Map((await allLocations(catalog)).map((row) => [row.name, row.id]));
  for (const policy of selectPolicies(config, options.policies)) {
    if (!policy.prune) continue;
    const { selector, targets, targetIds } = policyScope(catalog, config, policy, locationIds, options);
    if (targetIds.length === 0) continue;
    const pages = options.pageSize ?? DEFAULT_PAGE;
    const limit = policy.maxDeleteShare ?? config.defaults.maxDeleteShare;
    const limitName =
      policy.maxDeleteShare === undefined ? "defaults.maxDeleteShare" : `maxDeleteShare of ${policy.name}`;
    for (const name of policy.from) {
      const locationId = locationIds.get(name);
      if (locationId === undefined) continue;
      const source: Source = { name, locationId, ...priced(config, name) };
      const pruned = new Map<string, { deletes: number; bytes: number }>();
      for await (const action of planPrunes(catalog, policy, source, targets, selector, options.now, pages)) {
        if (action.kind !== "delete") continue;
        const at = pruned.get(action.at) ?? { deletes: 0, bytes: 0 };
        pruned.set(action.at, { deletes: at.deletes + 1, bytes: at.bytes + action.bytes });
      }
      for (const [at, { deletes, bytes }] of pruned) {
        const held = await heldAt(catalog, locationId, locationIds.get(at) as number);
        refuseDeleteShare({ what: `${policy.name}: prune`, deletes, bytes, held, at, limit, limitName });
      }
    }
  }
}

/** Replicas one location holds of another's files: what a prune's share is measured against. */
async function heldAt(catalog: CatalogDb, sourceId: number, targetId: number): Promise<number> {
  const row = await catalog.db
    .selectFrom("replicas as r")
    .innerJoin("files as f", "f.id", "r.file_id")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("r.location_id", "=", targetId)
    .where("f.location_id", "=", sourceId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** What planning one policy starts from: its compiled selector and its place locations. */
function policyScope(
  catalog: CatalogDb,
  config: Config,
  policy: Policy,
  locationIds: ReadonlyMap<string, number>,
  options: PlanOptions,
) {
  const selector = compileSelector(policy.match, { nowMs: options.now, dialect: catalog.dialect, locationIds });
  const targets = policy.place.map((place) => target(config, place, locationIds));
  const targetIds = targets.flatMap((t) => (t.locationId === undefined ? [] : [t.locationId]));
  return { selector, targets, targetIds };
}

/** A place entry with what pricing and class choice need of its location. */
interface Target {
  place: Place;
  locationId: number | undefined;
  backend: BackendDescriptor;
  profile: PriceProfile;
  defaultClass: string | undefined;
  archiveClasses: ReadonlySet<string>;
}

interface Source {
  name: string;
  locationId: number;
  backend: BackendDescriptor;
  profile: PriceProfile;
}

interface PlannedFileRow {
  id: number;
  path: string;
  size: number;
  mtime_us: number;
  atime_us: number;
  uid: number;
  gid: number;
  hash: string | null;
  state: FileState;
}

type Replica = Pick<
  ReplicaRow,
  | "id"
  | "file_id"
  | "location_id"
  | "key"
  | "size"
  | "hash"
  | "storage_class"
  | "state"
  | "source_size"
  | "source_mtime_us"
  | "created_at"
  | "verified_at"
>;

interface Notice {
  id: number;
  file_id: number;
  atime_us: number;
  delete_after: number;
}

async function* planPolicy(
  catalog: CatalogDb,
  config: Config,
  policy: Policy,
  locationIds: ReadonlyMap<string, number>,
  options: PlanOptions,
): AsyncGenerator<PolicyAction> {
  const { selector, targets, targetIds } = policyScope(catalog, config, policy, locationIds, options);
  const pageSize = options.pageSize ?? DEFAULT_PAGE;
  for (const name of policy.from) {
    const locationId = locationIds.get(name);
    // Never scanned: the catalog knows no file there yet, so there is nothing to plan.
    if (locationId === undefined) continue;
    const source: Source = { name, locationId, ...priced(config, name) };
    for await (const page of filePages(catalog, locationId, selector, ["present", "released"], pageSize)) {
      const ids = page.map((file) => file.id);
      const replicas = await replicasOf(catalog, ids, targetIds);
      const notices = policy.then === "purge" ? await noticesOf(catalog, policy.name, ids) : new Map<number, Notice>();
      for (const file of page) {
        yield* planFile({ policy, source, targets, file, replicas, notice: notices.get(file.id), now: options.now });
      }
    }
    if (policy.prune && targetIds.length > 0) {
      yield* planPrunes(catalog, policy, source, targets, selector, options.now, pageSize);
    }
  }
}

function priced(config: Config, name: string): { backend: BackendDescriptor; profile: PriceProfile } {
  const settings = config.locations[name];
  if (!settings) throw new UsageError(`policy location ${name} is not in the config`);
  const { kind, url } = parseLocationUrl(settings.url);
  return { backend: descriptorOf(kind), profile: profileFor({ kind, url, price: settings.price }) };
}

function target(config: Config, place: Place, locationIds: ReadonlyMap<string, number>): Target {
  const { backend, profile } = priced(config, place.to);
  return {
    place,
    locationId: locationIds.get(place.to),
    backend,
    profile,
    defaultClass: config.locations[place.to]?.class,
    archiveClasses: new Set(Object.entries(profile.classes).flatMap(([name, price]) => (price.archive ? [name] : []))),
  };
}

/** The selected files of one location, a page per query, in path order (keyset paging). */
async function* filePages(
  catalog: CatalogDb,
  locationId: number,
  selector: CompiledSelector,
  states: FileState[],
  pageSize: number,
): AsyncGenerator<PlannedFileRow[]> {
  let after: string | undefined;
  for (;;) {
    let query = catalog.db
      .selectFrom("files as f")
      .select(["f.id", "f.path", "f.size", "f.mtime_us", "f.atime_us", "f.uid", "f.gid", "f.hash", "f.state"])
      .select((eb) => selector.flags(eb).as("sel_flags"))
      .where("f.location_id", "=", locationId)
      .where("f.kind", "=", "file")
      .where("f.state", "in", states);
    if (selector.where) query = query.where(selector.where);
    if (after !== undefined) query = query.where("f.path", ">", after);
    const rows = await query.orderBy("f.path").limit(pageSize).execute();
    const matched = rows.filter((row) => selector.test(row)).map(({ sel_flags: _flags, ...file }) => file);
    if (matched.length > 0) yield matched;
    const last = rows.at(-1);
    if (!last || rows.length < pageSize) return;
    after = last.path;
  }
}

async function replicasOf(catalog: CatalogDb, fileIds: number[], locationIds: number[]) {
  const byFile = new Map<number, Map<number, Replica>>();
  if (fileIds.length === 0 || locationIds.length === 0) return byFile;
  const rows = await catalog.db
    .selectFrom("replicas")
    .select([
      "id",
      "file_id",
      "location_id",
      "key",
      "size",
      "hash",
      "storage_class",
      "state",
      "source_size",
      "source_mtime_us",
      "created_at",
      "verified_at",
    ])
    .where("file_id", "in", fileIds)
    .where("location_id", "in", locationIds)
    .execute();
  for (const row of rows) {
    const atFile = byFile.get(row.file_id) ?? new Map<number, Replica>();
    atFile.set(row.location_id, row);
    byFile.set(row.file_id, atFile);
  }
  return byFile;
}

async function noticesOf(catalog: CatalogDb, policy: string, fileIds: number[]): Promise<Map<number, Notice>> {
  const rows = await catalog.db
    .selectFrom("purge_notices")
    .select(["id", "file_id", "atime_us", "delete_after"])
    .where("policy", "=", policy)
    .where("file_id", "in", fileIds)
    .execute();
  return new Map(rows.map((row) => [row.file_id, row]));
}

type ActionBase = Pick<PolicyAction, "policy" | "file" | "bytes" | "monthlyCostDelta" | "oneTimeCost">;

function actionBase(policy: Policy, source: Source, file: PlannedFileRow, bytes: number, delta: CostDelta): ActionBase {
  const version: PlannedVersion = {
    fileId: file.id,
    location: source.name,
    path: file.path,
    size: file.size,
    mtimeUs: file.mtime_us,
    hash: file.hash,
  };
  return {
    policy: policy.name,
    file: version,
    bytes,
    monthlyCostDelta: delta.monthly,
    oneTimeCost: oneTimeTotal(delta),
  };
}

interface FileContext {
  policy: Policy;
  source: Source;
  targets: Target[];
  file: PlannedFileRow;
  replicas: ReadonlyMap<number, ReadonlyMap<number, Replica>>;
  notice: Notice | undefined;
  now: number;
}

function* planFile(ctx: FileContext): Generator<PolicyAction> {
  const { policy, source, file, now } = ctx;
  const base = (delta: CostDelta): ActionBase => actionBase(policy, source, file, file.size, delta);
  let copying = false;
  const verified: { at: string; replicaId: number }[] = [];
  for (const t of ctx.targets) {
    const replica = t.locationId === undefined ? undefined : ctx.replicas.get(file.id)?.get(t.locationId);
    if (!replica || replica.state === "lost" || !upToDate(replica, file)) {
      // A released file's data is only in its replicas: it cannot be copied again from here.
      if (file.state !== "present") continue;
      copying = true;
      const storageClass = desiredClass(t, file, undefined, now);
      const delta = copyDelta({ profile: source.profile }, { profile: t.profile, storageClass }, file.size);
      const codec = t.place.codec ? { codec: t.place.codec } : {};
      const pack = t.place.pack && file.size < t.place.pack.below ? { pack: t.place.pack } : {};
      yield {
        ...base(delta),
        kind: "copy",
        to: t.place.to,
        key: file.path,
        storageClass: storageClass ?? null,
        ...codec,
        ...pack,
      };
      continue;
    }
    if (counts(replica, file)) verified.push({ at: t.place.to, replicaId: replica.id });
    const move = transition(t, replica, file, now);
    if (move) {
      const delta = transitionDelta(
        t.profile,
        replica.storage_class ?? undefined,
        move.toClass,
        file.size,
        move.ageDays,
      );
      yield {
        ...base(delta),
        kind: "transition",
        at: t.place.to,
        replicaId: replica.id,
        key: replica.key,
        fromClass: replica.storage_class,
        toClass: move.toClass,
      };
    }
  }
  // The source is freed only when the copies it needs exist, verified, for this very content.
  if (file.state !== "present" || copying || verified.length < policy.copies) return;
  if (policy.then === "release") {
    yield { ...base(releaseDelta({ profile: source.profile }, file.size)), kind: "release", requires: verified };
  } else if (policy.then === "purge") {
    yield* planPurge(ctx, base, verified);
  }
}

function* planPurge(
  ctx: FileContext,
  base: (delta: CostDelta) => ActionBase,
  requires: { at: string; replicaId: number }[],
): Generator<PolicyAction> {
  const { policy, file, notice, now } = ctx;
  const purge = policy.purge;
  if (!purge) return;
  // A read since the announcement cancels it; the file is announced afresh once idle again.
  const current = notice && file.atime_us <= notice.atime_us ? notice : undefined;
  if (!current) {
    if (file.atime_us > (now - purge.after) * 1000) return;
    const none: CostDelta = { monthly: 0, oneTime: { requests: 0, earlyDeletion: 0, retrieval: 0, egress: 0 } };
    yield {
      ...base(none),
      kind: "notify",
      uid: file.uid,
      gid: file.gid,
      deleteAfter: now + purge.grace,
      noticeDir: purge.notices ?? null,
      webhook: purge.webhook ?? null,
    };
    return;
  }
  if (now < current.delete_after) return;
  const ageDays = (now - file.mtime_us / 1000) / DAY_MS;
  yield {
    ...base(deleteDelta({ profile: ctx.source.profile }, file.size, ageDays)),
    kind: "purge",
    noticeId: current.id,
    deleteAfter: current.delete_after,
    requires,
  };
}

/**
 * The replica holds this version of the file: the same content. A present file's hash is
 * unknown only when the scan saw it change (size, mtime or ctime) since it was read; the copy
 * planned then compares content before it sends anything.
 */
function upToDate(replica: Replica, file: PlannedFileRow): boolean {
  return file.hash !== null && replica.hash === file.hash;
}

/** A copy counts toward `copies` only when present, verified, and of the file's known content. */
function counts(replica: Replica, file: PlannedFileRow): boolean {
  return (
    replica.state === "present" && replica.verified_at !== null && file.hash !== null && replica.hash === file.hash
  );
}

/** The class a place entry wants for this file; undefined: the location's default, whatever it is. */
function desiredClass(t: Target, file: PlannedFileRow, current: Replica | undefined, now: number): string | undefined {
  const { place } = t;
  if (place.tiering === "seed") return seedClass({ size: file.size, atimeUs: file.atime_us }, now, seedClasses(t));
  if (place.tiering === "cost") {
    return chooseClass(
      {
        size: file.size,
        currentClass: current ? (current.storage_class ?? undefined) : undefined,
        currentClassAgeDays: current ? ageDays(current, now) : undefined,
        accessesPerMonth: accessRateEstimate({ atimeUs: file.atime_us, mtimeUs: file.mtime_us }, now),
        horizonMonths: (place.horizon ?? DEFAULT_HORIZON_MS) / MONTH_MS,
        maxRestoreLatencyMs: place.maxRestoreLatency,
      },
      t.profile,
    ).class;
  }
  return place.class ?? t.defaultClass;
}

/**
 * The class change a present replica needs, if any. A replica in an archive class is left
 * there: leaving it needs a restore first, which only `strata restore` asks for.
 */
function transition(
  t: Target,
  replica: Replica,
  file: PlannedFileRow,
  now: number,
): { toClass: string; ageDays: number } | undefined {
  // A backend of one class (a POSIX tree) has no class to move to.
  if (replica.state !== "present" || t.backend.caps.storageClasses.length < 2) return undefined;
  const wanted = desiredClass(t, file, replica, now);
  if (wanted === undefined) return undefined;
  const currentClass = resolveClass(t.profile, replica.storage_class ?? undefined);
  if (resolveClass(t.profile, wanted) === currentClass || t.archiveClasses.has(currentClass)) return undefined;
  return { toClass: wanted, ageDays: ageDays(replica, now) };
}

/** How long a replica has been in its class, as far as the catalog knows: since it was written. */
function ageDays(replica: Replica, now: number): number {
  return Math.max(0, (now - replica.created_at) / DAY_MS);
}

function seedClasses(t: Target): SeedClasses {
  if (!t.backend.seedClasses) {
    throw new UsageError(`${t.place.to}: tiering: seed needs an object store with storage classes`);
  }
  return t.backend.seedClasses;
}

/** Replicas at the place locations of files since deleted at the source (`prune: true`). */
async function* planPrunes(
  catalog: CatalogDb,
  policy: Policy,
  source: Source,
  targets: Target[],
  selector: CompiledSelector,
  now: number,
  pageSize: number,
): AsyncGenerator<PolicyAction> {
  const byId = new Map(targets.flatMap((t) => (t.locationId === undefined ? [] : [[t.locationId, t] as const])));
  for await (const page of filePages(catalog, source.locationId, selector, ["deleted"], pageSize)) {
    const replicas = await replicasOf(
      catalog,
      page.map((f) => f.id),
      [...byId.keys()],
    );
    for (const file of page) {
      for (const [locationId, replica] of replicas.get(file.id) ?? []) {
        const t = byId.get(locationId) as Target;
        const delta = deleteDelta(
          { profile: t.profile, storageClass: replica.storage_class ?? undefined },
          replica.size,
          ageDays(replica, now),
        );
        yield {
          ...actionBase(policy, source, file, replica.size, delta),
          kind: "delete",
          at: t.place.to,
          replicaId: replica.id,
          key: replica.key,
        };
      }
    }
  }
}

/** Per policy and action kind, in the order first seen: what `strata plan` prints. */
export class PlanTotals {
  private readonly totals = new Map<string, PlanTotal>();

  add(action: PolicyAction): void {
    const key = `${action.policy}\u0000${action.kind}`;
    let total = this.totals.get(key);
    if (!total) {
      total = { policy: action.policy, kind: action.kind, files: 0, bytes: 0, monthlyCostDelta: 0, oneTimeCost: 0 };
      this.totals.set(key, total);
    }
    total.files += 1;
    total.bytes += action.bytes;
    total.monthlyCostDelta += action.monthlyCostDelta;
    total.oneTimeCost += action.oneTimeCost;
  }

  list(): PlanTotal[] {
    return [...this.totals.values()];
  }
}

export const ACTION_KINDS: readonly PolicyActionKind[] = [
  "copy",
  "transition",
  "restore",
  "release",
  "notify",
  "purge",
  "delete",
];
