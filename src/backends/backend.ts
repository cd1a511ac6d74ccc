import type { Readable } from "node:stream";

/**
 * The one contract every storage place implements: a POSIX tree, the embedded object store,
 * and (next) S3, Azure Blob and GCS. Keys are strings relative to the location root, written
 * with the reversible name encoding of `keys.ts`, so a POSIX name that is not UTF-8 still has
 * a key. A backend knows nothing of the catalog.
 */
export interface Backend {
  /** The location URL this backend serves, for messages. */
  readonly url: string;
  readonly caps: Capabilities;
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
   * Stores `body` under `key`. The object becomes visible only once it is whole: a write that
   * fails or is killed leaves the previous object (or none) in place. The returned info holds
   * the SHA-256 of the bytes as the backend stored them, so the caller can check it.
   */
  write(key: string, body: Readable, info: WriteInfo): Promise<ObjectInfo>;
  /**
   * Bytes this backend holds in memory at once while writing an object of `size` bytes (parts
   * or blocks in flight), so the executor can keep the sum under one cap.
   */
  writeBuffer(size: number): number;
  /** Server-side copy where the backend can; also how a storage class changes in place. */
  copy(from: string, to: string, opts?: CopyOptions): Promise<ObjectInfo>;
  /** Deletes in batches; a key that is already gone is not an error. */
  delete(keys: string[]): Promise<void>;
  restore(key: string, opts: RestoreOptions): Promise<RestoreStatus>;
  close(): Promise<void>;
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

/** What a file was at its source; object stores keep it as metadata, POSIX applies it. */
export interface FileAttributes {
  mtimeUs: number;
  mode?: number;
  uid?: number;
  gid?: number;
  /** The source path, kept so the catalog can be rebuilt from objects alone. */
  path?: string;
  sha256?: string;
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

/** Slow-down answers, 5xx, resets and timeouts: worth another try after a pause. */
export class TransientError extends BackendError {
  constructor(location: string, detail: string, options?: ErrorOptions) {
    super(detail, location, true, options);
  }
}
