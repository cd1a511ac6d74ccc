import type { Stats } from "node:fs";
import type { Readable } from "node:stream";
import type { CodecName } from "../codec/codec.js";

/**
 * The one contract every storage place implements: a POSIX tree, the embedded object store, S3,
 * Azure Blob and GCS. Keys are strings relative to the location root, written
 * with the reversible name encoding of `keys.ts`, so a POSIX name that is not UTF-8 still has
 * a key. A backend knows nothing of the catalog.
 */
export interface Backend {
  /** The location URL this backend serves, for messages. */
  readonly url: string;
  readonly caps: Capabilities;
  /**
   * Set by backends whose keys are files of a local tree (POSIX): what release, purge, in-place
   * restores and the scan's mount guard need of that tree. Callers ask for it instead of testing
   * a backend's class.
   */
  readonly tree?: FileTree;
  /**
   * Checks, once and fast, that the location can be used: reachable, existing, and the
   * credentials accepted. Throws NotFoundError, AccessDeniedError, InvalidRequestError or
   * UnreachableError, so a bad location costs one clear line, not a retry storm.
   */
  check(): Promise<void>;
  /** Streams every object under `prefix` in key order; never holds the listing in memory. */
  list(prefix?: string): AsyncIterable<ObjectInfo>;
  stat(key: string): Promise<ObjectInfo | undefined>;
  /** Throws NeedsRestoreError for an archived object that has not been thawed. */
  read(key: string, range?: ByteRange): Promise<ObjectReader>;
  /**
   * Stores `body` under `key`. The object becomes visible only once it is whole and, with
   * `info.expectedSha256`, only once its bytes hash to that: a write that fails, is killed or
   * brings other bytes (IntegrityError) leaves the previous object (or none) exactly as it was.
   * The returned info holds the SHA-256 of the bytes as the backend stored them.
   */
  write(key: string, body: Readable, info: WriteInfo): Promise<ObjectInfo>;
  /**
   * Bytes this backend holds in memory at once while writing an object of `size` bytes with
   * `streams` parts in flight (default: the location's own setting), so the executor can keep
   * the sum under one cap. A size that gains nothing from more streams answers the same for any.
   */
  writeBuffer(size: number, streams?: number): number;
  /**
   * Optional, for targets that store into a local file (POSIX, the embedded store): stores an
   * object whose bytes `fill` places by offset, several ranges at once and in any order. Like
   * write(), it becomes visible only once whole and checked, and it answers the SHA-256 of the
   * bytes stored.
   */
  writeRanges?(key: string, info: WriteInfo, fill: (sink: RangeSink) => Promise<void>): Promise<ObjectInfo>;
  /** Server-side copy where the backend can; also how a storage class changes in place. */
  copy(from: string, to: string, opts?: CopyOptions): Promise<ObjectInfo>;
  /** Deletes in batches; a key that is already gone is not an error. */
  delete(keys: string[]): Promise<void>;
  restore(key: string, opts: RestoreOptions): Promise<RestoreStatus>;
  /**
   * Abandons an unfinished upload that a write journaled (backends that resume uploads); one
   * already gone is not an error.
   */
  abortUpload?(key: string, uploadId: string): Promise<void>;
  /**
   * Optional, for stores that keep tags with an object (S3 object tags, Azure blob index tags,
   * GCS and the embedded store's tags): sets and removes the named user tags of one existing
   * object, leaving its other tags (a location's, Strata's own) as they are. Throws
   * NotFoundError when the object is gone, InvalidRequestError for tags the store refuses.
   */
  updateTags?(key: string, change: TagChange): Promise<void>;
  /**
   * Optional, for stores that list unfinished uploads (S3 multipart): every upload under the
   * location's prefix begun and neither completed nor aborted, whoever began it, so `catalog
   * check` finds the ones no journal knows. Azure has no such listing per upload (uncommitted
   * blocks hang off a blob name and the service drops them within a week); files and the
   * embedded store keep theirs in the catalog's upload journal only.
   */
  listUploads?(): AsyncIterable<PendingUpload>;
  close(): Promise<void>;
}

/** Tags to set (name → value) and tag names to remove, on one object. */
export interface TagChange {
  set: Readonly<Record<string, string>>;
  remove: readonly string[];
}

/** The tags an object ends with after `change`: the others kept, the removed gone, the set ones set. */
export function changedTags(current: Readonly<Record<string, string>>, change: TagChange): Record<string, string> {
  const next = { ...current };
  for (const name of change.remove) delete next[name];
  return Object.assign(next, change.set);
}

/** An upload begun at a store and neither completed nor aborted. */
export interface PendingUpload {
  key: string;
  uploadId: string;
  /** When it was begun, ms since the epoch. */
  startedAt: number;
}

export interface Capabilities {
  /** Storage classes this backend accepts, the first being its default. */
  storageClasses: readonly string[];
  /** Classes whose objects must be restored before they can be read. */
  archiveClasses: readonly string[];
  /** Whether arbitrary user metadata survives a round trip. */
  userMetadata: boolean;
  /** Whether a write applies mtime and mode to a real file (POSIX). */
  fileAttributes: boolean;
  serverSideCopy: boolean;
}

/** A location whose keys are files under one local directory. */
export interface FileTree {
  /** The absolute directory the keys live under. */
  readonly root: string;
  /** The filesystem path of a key, confined to the root (throws for a key that would leave it). */
  fsPath(key: string): string | Buffer;
  /** A temp path in the key's own directory, named after its writer, for a file about to replace it. */
  partialBeside(key: string): Promise<string | Buffer>;
  /**
   * The entry at a key read on the calling thread, its bytes when it is a regular file of at most
   * `max` bytes; undefined while the tree answers slowly, or when the key cannot be read this way
   * (absent, a symlink, an error): then `read` tells.
   */
  readNow(key: string, max: number): ReadNow | undefined;
}

/** What a read made on the calling thread found at a path of a tree (FileTree.readNow). */
export interface ReadNow {
  /** The entry's status as it was opened (a directory opens too). */
  opened: Stats;
  /** The file's bytes: only for a regular file no larger than the read allowed, which held still while it was read. */
  data?: Buffer;
  /** The file's size, mtime or ctime moved while it was read: its bytes are not given. */
  moved?: boolean;
}

/**
 * What a write into a directory may take from the attributes a file or object carries, beyond
 * permission bits and times. Attributes come from whoever could write the store, so by default
 * nothing that grants privilege is taken.
 */
export interface AttributeTrust {
  /** `--preserve-special-bits`: keep setuid, setgid and sticky bits, on a file not owned by root. */
  specialBits: boolean;
  /** `--preserve-root-owner` (root only): a file recorded as root's is root's, special bits and all. */
  rootOwner: boolean;
}

/** What a file was at its source; object stores keep it as metadata, POSIX applies it. */
export interface FileAttributes {
  mtimeUs: number;
  /** Given back by a restore (from the catalog); a write without it sets atime to the mtime. */
  atimeUs?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  /** The source path, kept so the catalog can be rebuilt from objects alone. */
  path?: string;
  sha256?: string;
  /**
   * The URL of the location the copy was made from. With `path`, it says whose copy an object
   * is, so a copy of another file bound for its key (another project, another catalog) is refused.
   */
  origin?: string;
  /**
   * Set on an object that holds the content compressed (never "none": a raw object has no codec):
   * its bytes are a run of this codec's frames, and `sha256` and `size` are the content's.
   */
  codec?: Exclude<CodecName, "none">;
  /** With `codec`: the content's size in bytes (the object's own size is what it stores). */
  size?: number;
}

export interface ObjectInfo {
  key: string;
  size: number;
  /** When the object (or file) was last modified at this location, in microseconds. */
  modifiedUs: number;
  storageClass?: string;
  etag?: string;
  sha256?: string;
  /** The source file's attributes, when the object carries them. */
  attributes?: FileAttributes;
  metadata?: Record<string, string>;
  tags?: Record<string, string>;
  restore?: RestoreStatus;
}

export interface ObjectReader {
  info: ObjectInfo;
  body: Readable;
}

export interface WriteInfo {
  size: number;
  attributes: FileAttributes;
  storageClass?: string;
  metadata?: Record<string, string>;
  tags?: Record<string, string>;
  /** Where a large upload journals its progress, so a later write of this version resumes it. */
  journal?: UploadJournal;
  /** Parts (blocks) of this write in flight at once; default: the location's own setting. */
  streams?: number;
  /** A target that writes files: what it may take of `attributes` beyond the permission bits (default nothing). */
  trust?: AttributeTrust;
  /**
   * The SHA-256 the bytes must have. Each backend checks it before its commit point (rename,
   * PUT, CompleteMultipartUpload, block list, final chunk): a mismatch throws IntegrityError and
   * nothing becomes visible, so a damaged source never replaces a good copy.
   */
  expectedSha256?: string;
  /**
   * With `journal`: the size of the ranges (all but the last) and the version of the source
   * they are read from. The write then keeps its temp file when it fails or is killed, journals
   * each range once whole, and a later write of the same version fills only the others.
   */
  resumable?: { rangeSize: number; sourceVersion: string };
}

/** Where a ranged write takes its bytes: each chunk at its offset, once, resolved when stored. */
export interface RangeSink {
  write(chunk: Buffer, position: number): Promise<void>;
  /** Ranges an earlier, killed write of this version left whole in the temp file: not to be written. */
  readonly stored: readonly ByteRange[];
  /** Marks a range whole, so a write killed after this resumes past it. */
  completed(range: ByteRange): Promise<void>;
}

/**
 * The state of one multipart upload kept between runs, for one key at one target and one
 * version of the source: the caller stores it (the catalog), the backend only calls it.
 */
export interface UploadJournal {
  /** The upload begun earlier for this key and source version, if any. */
  load(): Promise<JournaledUpload | undefined>;
  /** Records a new upload; returns the id of an older one for this key, which the backend aborts. */
  begin(uploadId: string, partSize: number): Promise<string | undefined>;
  /** Records a part the server acknowledged. */
  savePart(part: UploadedPart): Promise<void>;
  /** Forgets the upload: it completed, or it is gone. */
  clear(): Promise<void>;
}

export interface JournaledUpload {
  uploadId: string;
  partSize: number;
  parts: UploadedPart[];
}

export interface UploadedPart {
  /** 1-based, as S3 numbers parts. */
  number: number;
  /** A ranged write into a file keeps the version of the source the range was read from here. */
  etag: string;
  /** Hex MD5 of the part: a resumed upload skips a part only if the source still reads the same. */
  md5: string;
  /** The checksum the server must be shown again at completion (S3: the part's CRC32), if any. */
  checksum?: string;
}

export interface ByteRange {
  start: number;
  /** Inclusive, as in HTTP ranges. */
  end: number;
}

export interface CopyOptions {
  storageClass?: string;
}

export type RestoreTier = "expedited" | "standard" | "bulk";

export interface RestoreOptions {
  days: number;
  tier: RestoreTier;
}

export type RestoreStatus =
  | { state: "not-archived" }
  | { state: "archived" }
  | { state: "restoring"; readyAt?: Date }
  | { state: "restored"; expiresAt: Date };

/** Errors a backend throws, typed so callers decide on retry and exit codes. */
export class BackendError extends Error {
  constructor(
    message: string,
    readonly location: string,
    readonly retryable: boolean,
    options?: ErrorOptions,
  ) {
    super(`${location}: ${message}`, options);
    this.name = new.target.name;
  }
}

export class NotFoundError extends BackendError {
  constructor(location: string, key: string, options?: ErrorOptions) {
    super(`no object ${JSON.stringify(key)}`, location, false, options);
  }
}

/** The bucket (S3, GCS) or container (Azure) itself is missing, not just one object. */
export class BucketNotFoundError extends NotFoundError {
  constructor(location: string, bucket: string, options?: ErrorOptions) {
    super(location, bucket, options);
    this.message = `${location}: bucket ${JSON.stringify(bucket)} does not exist`;
  }
}

export class AccessDeniedError extends BackendError {
  constructor(location: string, detail: string, options?: ErrorOptions) {
    super(`access denied: ${detail}`, location, false, options);
  }
}

export class NeedsRestoreError extends BackendError {
  constructor(location: string, key: string) {
    super(`${JSON.stringify(key)} is archived; restore it before reading`, location, false);
  }
}

export class InvalidRequestError extends BackendError {
  constructor(location: string, detail: string) {
    super(detail, location, false);
  }
}

/** The endpoint does not answer at all (refused, unknown host, timed out) when first checked. */
export class UnreachableError extends BackendError {
  constructor(location: string, detail: string, options?: ErrorOptions) {
    super(`unreachable: ${detail}`, location, false, options);
  }
}

/** The SDK's credential chain found nothing to sign with; `searched` says where it looked. */
export class NoCredentialsError extends BackendError {
  constructor(location: string, searched: string, options?: ErrorOptions) {
    super(`no credentials found (looked in ${searched})`, location, false, options);
  }
}

/** The bytes stored are not the bytes expected: the copy is refused, never recorded. */
export class IntegrityError extends BackendError {
  constructor(location: string, key: string, detail: string) {
    super(`${JSON.stringify(key)}: integrity check failed: ${detail}`, location, false);
  }
}

/** Slow-down answers, 5xx, resets and timeouts: worth another try after a pause. */
export class TransientError extends BackendError {
  constructor(location: string, detail: string, options?: ErrorOptions) {
    super(detail, location, true, options);
  }
}
