import type { Generated, Selectable } from "kysely";

/**
 * The catalog's tables, the one source of truth of what exists where. Times are integers:
 * microseconds since the epoch for file times (exact enough to restore an mtime, and safe in a
 * JS number), milliseconds for the catalog's own bookkeeping. Sizes are bytes.
 */
/** The databases a catalog lives in. */
export type Dialect = "sqlite" | "postgres";

export interface CatalogSchema {
  locations: LocationTable;
  scans: ScanTable;
  files: FileTable;
  replicas: ReplicaTable;
  packs: PackTable;
  runs: RunTable;
  actions: ActionTable;
  events: EventTable;
  purge_notices: PurgeNoticeTable;
  policy_locks: PolicyLockTable;
  uploads: UploadTable;
  upload_parts: UploadPartTable;
  restore_requests: RestoreRequestTable;
  usage_dirs: UsageDirTable;
  usage_dir_copies: UsageDirCopiesTable;
  usage_buckets: UsageBucketTable;
  usage_bucket_copies: UsageBucketCopiesTable;
  usage_tags: UsageTagTable;
  tokens: TokenTable;
  usage_replica_states: UsageReplicaStateTable;
  usage_transfers: UsageTransferTable;
  snapshots: SnapshotTable;
  alerts: AlertTable;
  alert_deliveries: AlertDeliveryTable;
}

export interface LocationTable {
  id: Generated<number>;
  name: string;
  url: string;
  kind: string;
  default_class: string | null;
  created_at: number;
  /** POSIX: st_dev of the root when a scan first found it non-empty; null until then. */
  root_device: number | null;
}

/** One walk of a POSIX tree or one listing of an object store. */
export interface ScanTable {
  id: Generated<number>;
  location_id: number;
  started_at: number;
  finished_at: number | null;
  status: "running" | "done" | "partial" | "failed";
  files: number;
  bytes: number;
  new_files: number;
  changed_files: number;
  deleted_files: number;
  errors: number;
}

export type FileKind = "file" | "dir" | "symlink" | "other";
/**
 * `missing`: a released file whose stub is gone. Its data lives in its replicas, which nothing
 * deletes on that account (an unmounted tree, a stub removed by hand); a restore brings it back.
 */
export type FileState = "present" | "deleted" | "released" | "missing";

/** An entry of a location's namespace, as its last scan or inventory saw it. */
export interface FileTable {
  id: Generated<number>;
  location_id: number;
  /** Relative to the location root, in the key encoding of backends/keys.ts. */
  path: string;
  kind: FileKind;
  size: number;
  mtime_us: number;
  atime_us: number;
  ctime_us: number;
  mode: number;
  uid: number;
  gid: number;
  inode: number;
  /** SHA-256 of the content, once read; cleared when the file changes. */
  hash: string | null;
  /** Detected type (extension or MIME), for placement by type. */
  file_type: string | null;
  /** JSON object of tags. */
  tags: string | null;
  state: FileState;
  first_scan_id: number;
  seen_scan_id: number;
  changed_scan_id: number;
  deleted_scan_id: number | null;
  /**
   * The stub a release put in the file's place (size, mtime, inode as written): while the entry
   * on disk still matches it, a scan keeps the row 'released' with the original size, mtime and
   * hash. Set just before the stub is renamed into place, so a crash in between is harmless.
   */
  stub_size: number | null;
  stub_mtime_us: number | null;
  stub_inode: number | null;
}

/**
 * replacing: a copy of a newer version is being written over this one, so the object may hold
 * either until the run records the outcome (or the next run, if this one dies, looks at it).
 */
export type ReplicaState = "present" | "archived" | "restoring" | "released" | "lost" | "replacing";

/** One copy of a file's content at another location. */
export interface ReplicaTable {
  id: Generated<number>;
  file_id: number;
  location_id: number;
  key: string;
  size: number;
  hash: string;
  storage_class: string | null;
  state: ReplicaState;
  /** How the store holds the content: null (or "none") raw, else a codec's frames (src/codec/codec.ts). */
  codec: string | null;
  /** A pack member: its pack, and where its frame (its tar records, compressed or raw) lies in it. */
  pack_id: number | null;
  /**
   * Bytes the store holds for this copy, when not `size` (the logical size): a compressed
   * object's frames. Null means the same as `size`; what is stored reads coalesce(stored_size, size).
   */
  stored_size: number | null;
  pack_offset: number | null;
  pack_length: number | null;
  /** The version of the source this copy was made from, for incremental sync. */
  source_size: number;
  source_mtime_us: number;
  etag: string | null;
  created_at: number;
  verified_at: number | null;
}

/** One object holding many small files (standard tar, docs/formats.md), its index object beside it. */
export interface PackTable {
  id: Generated<number>;
  location_id: number;
  key: string;
  /** Bytes of the pack object and their SHA-256, checked when it was written. */
  size: number;
  members: number;
  hash: string;
  /** The codec of every member's frame; null for packs from before 0015 (raw). */
  codec: string | null;
  created_at: number;
}

/** One invocation of a command that changes anything (sync, restore, verify, apply). */
export interface RunTable {
  id: Generated<number>;
  command: string;
  /** Where the run's process lives, so a later run can tell a dead run from a busy one. */
  host: string;
  pid: number;
  started_at: number;
  finished_at: number | null;
  status: "running" | "done" | "failed" | "partial";
  /** When another process asked this run to stop (the server's cancel); the run polls for it. */
  stop_requested_at: number | null;
  /** JSON summary: counts, bytes, failures. */
  summary: string | null;
}

export type ActionKind =
  | "copy"
  | "transition"
  | "restore"
  | "release"
  | "notify"
  | "purge"
  | "delete"
  | "verify"
  | "pack";
/**
 * skipped: not carried out because it no longer applied (stale) or the run stopped first.
 * interrupted: its run died with it pending; a copy's target is looked at before it is failed.
 */
export type ActionState = "pending" | "done" | "failed" | "skipped" | "interrupted";

/** The journal: every action a run planned, and how it ended. */
export interface ActionTable {
  id: Generated<number>;
  run_id: number;
  kind: ActionKind;
  file_id: number | null;
  source_location_id: number | null;
  target_location_id: number | null;
  key: string;
  bytes: number;
  state: ActionState;
  attempts: number;
  error: string | null;
  /** For multipart uploads to resume: the upload id and completed parts, as JSON. */
  progress: string | null;
  updated_at: number;
}

/** A multipart upload begun for one key at a target, from one version of a source file. */
export interface UploadTable {
  id: Generated<number>;
  location_id: number;
  key: string;
  file_id: number;
  source_size: number;
  source_mtime_us: number;
  /** The store's id of the upload (S3's UploadId). */
  upload_id: string;
  part_size: number;
  created_at: number;
}

/** A part of an upload the server acknowledged. */
export interface UploadPartTable {
  upload_row_id: number;
  part_number: number;
  etag: string;
  /** Hex MD5 of the part as sent. */
  md5: string;
  /** What the store must be shown again at completion (S3: the part's CRC32), if any. */
  checksum: string | null;
}

/** Audit and lineage: what happened to which file, when, and by which run. */
export interface EventTable {
  id: Generated<number>;
  at: number;
  kind: ActionKind;
  /** Where it happened: the source of a copy, the replica's location, the POSIX tree released or purged. */
  location_id: number | null;
  /** Where the bytes went: a copy's or restore's target. */
  target_location_id: number | null;
  file_id: number | null;
  run_id: number | null;
  bytes: number;
  /** The policy's name; null for sync, restore and verify. */
  policy: string | null;
  host: string;
  /** The OS user running the command. */
  user: string;
  outcome: EventOutcome;
  /** JSON: the key, storage classes, the error, as the kind has them. */
  detail: string | null;
}

/** verify's outcomes are passed/failed; every other kind's done/failed. */
export type EventOutcome = "done" | "failed" | "passed";

/** A purge candidate announced to its owner: nothing is purged before `delete_after`. */
export interface PurgeNoticeTable {
  id: Generated<number>;
  policy: string;
  file_id: number;
  uid: number;
  /** The file's atime when announced: a read since then cancels the purge. */
  atime_us: number;
  announced_at: number;
  delete_after: number;
}

/**
 * One run of a policy at a time, across machines: a lease that its holder renews while it
 * works, and that another daemon may take over only once it has expired.
 */
export interface PolicyLockTable {
  policy: string;
  holder: string;
  acquired_at: number;
  expires_at: number;
}

export type RestoreRequestState = "pending" | "done" | "failed";

/**
 * A thaw asked of an archived replica, and the copy still owed once it is readable. The
 * replica reads 'restoring' meanwhile and gets `replica_state` back when the copy is done.
 */
export interface RestoreRequestTable {
  id: Generated<number>;
  replica_id: number;
  file_id: number;
  tier: "expedited" | "standard" | "bulk";
  /** How long the thawed copy stays readable. */
  days: number;
  requested_at: number;
  /** When the backend (or else the tier's published latency) says the thaw should be done. */
  expected_at: number | null;
  /** Absolute directory to restore under; null is the file's own place. */
  target_dir: string | null;
  replica_state: ReplicaState;
  state: RestoreRequestState;
  finished_at: number | null;
  error: string | null;
}

/*
 * du's summaries (src/catalog/summaries.ts), written only by the triggers on files and replicas.
 * "Counted" files are regular files not deleted at their location; copies are replicas not lost,
 * of any regular file (those of a deleted file are still stored); verified copies are present or
 * archived ones with a verified_at. age_period: atime_us / 30 days, since the epoch.
 */

/** The counted files directly in one directory (not below), per 30-day period of access. */
export interface UsageDirTable {
  location_id: number;
  /** The parent directory of the files, "" at the root, in files.path's encoding. */
  dir: string;
  age_period: number;
  files: number;
  bytes: number;
}

/** The copies of the files directly in one directory, per replica location and storage class ("" for none). */
export interface UsageDirCopiesTable {
  location_id: number;
  dir: string;
  replica_location_id: number;
  storage_class: string;
  copies: number;
  verified: number;
  stored_bytes: number;
}

/** Bits of usage_buckets.flags: the file has an archived (1) or restoring (2) replica; it is lost (4). */
export type UsageFlags = number;

/** Counted files per location × owner × group × files.state × flags × size bucket × access period. */
export interface UsageBucketTable {
  location_id: number;
  uid: number;
  gid: number;
  state: FileState;
  flags: UsageFlags;
  size_bucket: number;
  age_period: number;
  files: number;
  bytes: number;
}

/** The copies of the files of one bucket, per replica location and storage class. */
export interface UsageBucketCopiesTable extends Omit<UsageBucketTable, "files" | "bytes"> {
  replica_location_id: number;
  storage_class: string;
  copies: number;
  verified: number;
  stored_bytes: number;
}

/** Files per location and tag (files.tags' keys and values), with their copies summed over every location. */
export interface UsageTagTable {
  location_id: number;
  tag_key: string;
  tag_value: string;
  files: number;
  bytes: number;
  copies: number;
  verified: number;
  stored_bytes: number;
}

export const TOKEN_ROLES = ["read", "operate", "admin"] as const;
/** read < operate < admin: each role may do what the ones before it may. */
export type TokenRole = (typeof TOKEN_ROLES)[number];

/** A bearer token of `strata serve`; the token itself is shown once and never stored. */
export interface TokenTable {
  id: Generated<number>;
  name: string;
  role: TokenRole;
  /** Hex SHA-256 of the token. */
  hash: string;
  created_at: number;
  revoked_at: number | null;
}

export type AlertRowState = "firing" | "resolved";

/** One episode of an alert rule firing for a subject (a location, a policy), until it resolved. */
export interface AlertTable {
  id: Generated<number>;
  /** posix_fill, policy_stale, run_failed, replicas_lost, cost_over_budget, thaw_waiting. */
  rule: string;
  subject: string;
  state: AlertRowState;
  severity: "warning" | "critical";
  /** One line for people, as of the latest evaluation that saw it firing. */
  summary: string;
  /** JSON object of the labels sent to receivers. */
  labels: string;
  starts_at: number;
  ends_at: number | null;
  /** When a firing message last reached a receiver; repeats wait `alerts.repeat` after it. */
  last_sent_at: number | null;
}

/** One attempt to tell a receiver of an alert firing or resolved. */
export interface AlertDeliveryTable {
  id: Generated<number>;
  alert_id: number;
  receiver: string;
  kind: "firing" | "resolved";
  at: number;
  outcome: "sent" | "failed";
  error: string | null;
}

export type FileRow = Selectable<FileTable>;
export type ReplicaRow = Selectable<ReplicaTable>;
export type LocationRow = Selectable<LocationTable>;

/** Replicas per (replica location, source location, class, state), lost ones included (src/catalog/snapshots.ts). */
export interface UsageReplicaStateTable {
  location_id: number;
  /** The location of the replica's file. */
  source_location_id: number;
  /** "" for none. */
  storage_class: string;
  state: ReplicaState;
  copies: number;
  /** Sum of source_size: the bytes of the files the copies are of. */
  logical_bytes: number;
  stored_bytes: number;
}

/** Events with a target (copies, restores) ever recorded, per location pair and kind; pruning leaves it alone. */
export interface UsageTransferTable {
  /** 0 when the event had no source location. */
  source_location_id: number;
  target_location_id: number;
  kind: ActionKind;
  files: number;
  bytes: number;
  errors: number;
}

/** A location's capacity at one state and class, as of a scan's or a run's end. */
export interface SnapshotTable {
  id: Generated<number>;
  /** Milliseconds since the epoch. */
  at: number;
  location_id: number;
  /** "" for the location's own files; a replica's storage class ("" for none) for copies held there. */
  storage_class: string;
  /** A file state for the location's own files, a replica state for copies. */
  state: string;
  files: number;
  logical_bytes: number;
  stored_bytes: number;
}
