import type { CatalogDb } from "../catalog/db.js";
import type { FileRow } from "../catalog/schema.js";

/** What the planner and executor need of a source file; selecting less keeps pages cheap. */
export type PlannedFile = Pick<FileRow, "id" | "path" | "kind" | "size" | "mtime_us" | "mode" | "uid" | "gid" | "hash">;
const PLANNED_COLUMNS = [
  "f.id",
  "f.path",
  "f.kind",
  "f.size",
  "f.mtime_us",
  "f.mode",
  "f.uid",
  "f.gid",
  "f.hash",
] as const;

import { type FileFilter, pathMatcher } from "./filter.js";

/**
 * `sync A B` as an ad-hoc policy: every file under A should also be at B. The plan is the
 * difference between that wish and what the catalog records, computed from the catalog alone,
 * so a sync with nothing to do lists nothing remote.
 */
export interface SyncScope {
  sourceLocationId: number;
  targetLocationId: number;
  filter: FileFilter;
  /** Compare content hashes, read from the source now, instead of size and times. */
  checksum: boolean;
  /**
   * A file whose size is unchanged but whose mtime moved is read and hashed before it is sent
   * again: cheap where the source is local, and touched files are common (restores, `cp -r`,
   * tools that rewrite identical outputs). Off for remote sources, where it would read twice.
   */
  compareTouched: boolean;
}

export type CopyReason = "new" | "changed" | "unverified";

export interface CopyAction {
  kind: "copy";
  reason: CopyReason;
  file: PlannedFile;
  /** Copy only if the source's hash differs from the replica's (checksum mode, hash unknown). */
  onlyIfContentDiffers: boolean;
  replicaHash: string | null;
  /** The target's replica is a pack member: a compare that finds it the same keeps it where it is. */
  replicaInPack: boolean;
}

export interface DeleteAction {
  kind: "delete";
  replicaId: number;
  fileId: number;
  key: string;
  bytes: number;
  /** A pack member: its row goes, the pack (holding other files) stays until it is repacked. */
  inPack: boolean;
}

export interface PlanSummary {
  copy: { files: number; bytes: number; new: number; changed: number; toCheck: number };
  delete: { files: number; bytes: number };
  unchanged: { files: number; bytes: number };
  /** Entries a sync does not carry: symlinks, special files. */
  skipped: { symlinks: number; other: number };
  /** Replicas the target holds of the source, for the delete guard. */
  targetReplicas: number;
}

const PAGE = 1000;

interface Candidate {
  file: PlannedFile;
  replica?: { state: string; hash: string; source_size: number; source_mtime_us: number; inPack: boolean };
}

/** Source entries in scope with their replica at the target, page by page in path order. */
async function* candidates(catalog: CatalogDb, scope: SyncScope): AsyncGenerator<Candidate> {
  const { db } = catalog;
  const matches = pathMatcher(scope.filter);
  const now = Date.now();
  let after = "";
  for (;;) {
    let query = db
      .selectFrom("files as f")
      .leftJoin("replicas as r", (join) =>
        join.onRef("r.file_id", "=", "f.id").on("r.location_id", "=", scope.targetLocationId),
      )
      .select(PLANNED_COLUMNS)
      .select([
        "r.state as r_state",
        "r.hash as r_hash",
        "r.source_size as r_source_size",
        "r.source_mtime_us as r_source_mtime_us",
        "r.pack_id as r_pack_id",
      ])
      .where("f.location_id", "=", scope.sourceLocationId)
      .where("f.state", "=", "present")
      .where("f.kind", "<>", "dir")
      .where("f.path", ">", after);
    const { minSize, maxSize, minAgeMs, maxAgeMs } = scope.filter;
    if (minSize !== undefined) query = query.where("f.size", ">=", minSize);
    if (maxSize !== undefined) query = query.where("f.size", "<=", maxSize);
    if (minAgeMs !== undefined) query = query.where("f.mtime_us", "<=", (now - minAgeMs) * 1000);
    if (maxAgeMs !== undefined) query = query.where("f.mtime_us", ">=", (now - maxAgeMs) * 1000);
    const rows = await query.orderBy("f.path").limit(PAGE).execute();
    for (const row of rows) {
      const { r_state, r_hash, r_source_size, r_source_mtime_us, r_pack_id, ...file } = row;
      if (!matches(file.path)) continue;
      yield r_state === null || r_hash === null || r_source_size === null || r_source_mtime_us === null
        ? { file }
        : {
            file,
            replica: {
              state: r_state,
              hash: r_hash,
              source_size: r_source_size,
              source_mtime_us: r_source_mtime_us,
              inPack: r_pack_id !== null,
            },
          };
    }
    const last = rows.at(-1);
    if (!last || rows.length < PAGE) return;
    after = last.path;
  }
}

const HELD_STATES: ReadonlySet<string> = new Set(["present", "archived", "restoring"]);

/** Decides one candidate: the copy it needs, or undefined when the target is up to date. */
function decide(candidate: Candidate, scope: SyncScope): CopyAction | undefined {
  const { file, replica } = candidate;
  const copy = (reason: CopyReason, onlyIfContentDiffers = false): CopyAction => ({
    kind: "copy",
    reason,
    file,
    onlyIfContentDiffers,
    replicaHash: replica?.hash ?? null,
    replicaInPack: replica?.inPack ?? false,
  });
  if (!replica) return copy("new");
  // An archived or thawing replica is still a good copy; only a lost (or released) one is not.
  if (!HELD_STATES.has(replica.state)) return copy("unverified");
  if (replica.source_size !== file.size) return copy("changed");
  // --checksum reads the source now: a cached hash cannot see an edit that kept size and times.
  if (scope.checksum) return copy("changed", true);
  if (file.hash !== null) return file.hash === replica.hash ? undefined : copy("changed");
  // The scan cleared the hash: the mtime or the ctime moved (an edit that put the mtime back,
  // a chmod, a touch). Compared by content before it is sent again, where reading is cheap.
  return copy("changed", scope.compareTouched);
}

export async function* planCopies(catalog: CatalogDb, scope: SyncScope): AsyncGenerator<CopyAction> {
  for await (const candidate of candidates(catalog, scope)) {
    if (candidate.file.kind !== "file") continue;
    const action = decide(candidate, scope);
    if (action) yield action;
  }
}

/** Replicas at the target whose source file is gone: what `--delete` removes. */
export async function* planDeletes(catalog: CatalogDb, scope: SyncScope): AsyncGenerator<DeleteAction> {
  let afterId = 0;
  for (;;) {
    const rows = await catalog.db
      .selectFrom("replicas as r")
      .innerJoin("files as f", "f.id", "r.file_id")
      .select(["r.id", "r.file_id", "r.key", "r.size", "r.pack_id"])
      .where("r.location_id", "=", scope.targetLocationId)
      .where("f.location_id", "=", scope.sourceLocationId)
      .where("f.state", "=", "deleted")
      .where("r.id", ">", afterId)
      .orderBy("r.id")
      .limit(PAGE)
      .execute();
    for (const r of rows) {
      yield {
        kind: "delete",
        replicaId: r.id,
        fileId: r.file_id,
        key: r.key,
        bytes: r.size,
        inPack: r.pack_id !== null,
      };
    }
    const last = rows.at(-1);
    if (!last || rows.length < PAGE) return;
    afterId = last.id;
  }
}

/** Counts what a sync would do; `onSkipped` hears of each entry a sync does not carry. */
export async function summarizePlan(
  catalog: CatalogDb,
  scope: SyncScope,
  withDeletes: boolean,
  onSkipped?: (path: string, kind: string) => void,
): Promise<PlanSummary> {
  const summary: PlanSummary = {
    copy: { files: 0, bytes: 0, new: 0, changed: 0, toCheck: 0 },
    delete: { files: 0, bytes: 0 },
    unchanged: { files: 0, bytes: 0 },
    skipped: { symlinks: 0, other: 0 },
    targetReplicas: 0,
  };
  for await (const candidate of candidates(catalog, scope)) {
    const { file } = candidate;
    if (file.kind !== "file") {
      if (file.kind === "symlink") summary.skipped.symlinks += 1;
      else summary.skipped.other += 1;
      onSkipped?.(file.path, file.kind);
      continue;
    }
    if (candidate.replica) summary.targetReplicas += 1;
    const action = decide(candidate, scope);
    if (!action) {
      summary.unchanged.files += 1;
      summary.unchanged.bytes += file.size;
      continue;
    }
    summary.copy.files += 1;
    summary.copy.bytes += file.size;
    if (action.onlyIfContentDiffers) summary.copy.toCheck += 1;
    else if (action.reason === "new") summary.copy.new += 1;
    else summary.copy.changed += 1;
  }
  if (withDeletes) {
    for await (const d of planDeletes(catalog, scope)) {
      summary.delete.files += 1;
      summary.delete.bytes += d.bytes;
      summary.targetReplicas += 1;
    }
  }
  return summary;
}
