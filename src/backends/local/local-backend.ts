import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { link, mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import Database from "better-sqlite3";
import {
  afterFailedWrite,
  type ResumableTemp,
  resumableTemp,
  tempFileBuffer,
  type WrittenFile,
  writeTempFile,
  writeTempFileInRanges,
} from "../atomic-file.js";
import type {
  Backend,
  ByteRange,
  Capabilities,
  CopyOptions,
  ObjectInfo,
  ObjectReader,
  RangeSink,
  RestoreOptions,
  RestoreStatus,
  TagChange,
  WriteInfo,
} from "../backend.js";
import { BackendError, changedTags, InvalidRequestError, NeedsRestoreError, NotFoundError } from "../backend.js";
import { checkExpectedHash, heldBody } from "../bodies.js";
import { fsError } from "../fs-errors.js";
import { attributesToMetadata, metadataToAttributes, userMetadata } from "../metadata.js";
import { QuickFiles, READ_WHOLE_MAX } from "../quick-files.js";
import { S3_ARCHIVE_CLASSES, S3_CAPABILITIES, S3_STORAGE_CLASSES } from "../s3/s3-classes.js";
import { ABANDONED_AFTER_MS, processAlive, writerTag, writtenByDeadWriter } from "../writers.js";

/**
 * The embedded object store: a directory that behaves like a bucket, so the whole lifecycle
 * (classes, archive, restore) runs with no cloud account. Layout:
 *
 *   <dir>/index.db          SQLite: key → blob, size, sha256, class, metadata, tags, restore state
 *   <dir>/blobs/ab/<uuid>   object bodies, immutable once written (an overwrite is a new blob)
 *   <dir>/blobs/tmp/        writes in progress, named after their writer (host and pid)
 *
 * A process killed mid-write leaves a temp blob, or a blob that no key points at (moved into
 * place, or freed, with its index change not yet made). The index lists such blobs with their
 * writer until the change is made, and the store reclaims them, and the dead writers' temp
 * blobs, when it is next opened on this host (see reclaim()).
 *
 * Keys are flat strings of up to 1,024 UTF-8 bytes, as on S3. Class names follow S3, with
 * GLACIER and DEEP_ARCHIVE as archive classes that must be restored before a read.
 */
const STORAGE_CLASSES = S3_STORAGE_CLASSES;
const ARCHIVE_CLASSES = S3_ARCHIVE_CLASSES;
const MAX_KEY_BYTES = 1024;
const LIST_PAGE = 1000;
/** The index's user_version once blobs from before `unsettled_blobs` were swept (reclaimUnlisted). */
const UNLISTED_SWEPT = 1;
/** Older than this, an unindexed blob of an older Strata cannot be a write still in progress. */
const UNLISTED_GRACE_MS = 3600 * 1000;
/** Temp blobs of resumable writes: the upload journal names them; they outlive their writer. */
const RESUMABLE = "resume~";

export interface LocalStoreOptions {
  /** How long a restore takes before the object is readable, in milliseconds. */
  restoreDelayMs: number;
}

interface ObjectRow {
  key: string;
  blob: string;
  size: number;
  sha256: string;
  modified_us: number;
  storage_class: string;
  metadata: string;
  tags: string;
  restore_ready_us: number | null;
  restore_expires_us: number | null;
}

export class LocalStoreBackend implements Backend {
  readonly caps: Capabilities = S3_CAPABILITIES;
  private opened: Database.Database | undefined;
  /** Blob fan-out directories known to exist, so a write does not mkdir each time. */
  private readonly blobDirs = new Set<string>();
  private readonly statements = new Map<string, Database.Statement>();
  private readonly quickFiles = new QuickFiles();
  private reclaimed: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    readonly url: string,
    private readonly options: LocalStoreOptions,
  ) {}

  static async open(dir: string, url: string, options: LocalStoreOptions): Promise<LocalStoreBackend> {
    return new LocalStoreBackend(dir, url, options);
  }

  /**
   * The index, opened on first use. A store that does not exist yet reads as empty and is
   * created by its first write, so a dry run or a failed command leaves no trace.
   */
  private index(create: boolean): Database.Database | undefined {
    if (this.opened) return this.opened;
    const file = join(this.dir, "index.db");
    if (!create && !existsSync(file)) return undefined;
    try {
      mkdirSync(join(this.dir, "blobs", "tmp"), { recursive: true });
      const db = new Database(file);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.pragma("busy_timeout = 10000");
      db.exec(`CREATE TABLE IF NOT EXISTS objects (
        key TEXT PRIMARY KEY, blob TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,
        modified_us INTEGER NOT NULL, storage_class TEXT NOT NULL, metadata TEXT NOT NULL,
        tags TEXT NOT NULL, restore_ready_us INTEGER, restore_expires_us INTEGER
      ) WITHOUT ROWID`);
      // Which key holds a blob: the reclaim of unindexed blobs asks it once per blob.
      db.exec("CREATE INDEX IF NOT EXISTS objects_by_blob ON objects (blob)");
      // Blobs placed or freed whose index change is not made yet, with the process making it.
      db.exec(`CREATE TABLE IF NOT EXISTS unsettled_blobs (
        blob TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL
      ) WITHOUT ROWID`);
      this.opened = db;
      return db;
    } catch (err) {
      throw fsError(this.url, "", err);
    }
  }

  private get db(): Database.Database {
    return this.index(true) as Database.Database;
  }

  /** Opens an existing index, so a damaged store is reported before anything is planned. */
  async check(): Promise<void> {
    if (this.index(false)) await this.reclaim();
  }

  async *list(prefix = ""): AsyncIterable<ObjectInfo> {
    const db = this.index(false);
    if (!db) return;
    const page = this.prepared<[string, string, number], ObjectRow>(
      db,
      "SELECT * FROM objects WHERE key > ? AND key >= ? ORDER BY key LIMIT ?",
    );
    let after = "";
    for (;;) {
      const rows = page.all(after, prefix, LIST_PAGE);
      for (const row of rows) {
        if (!row.key.startsWith(prefix)) return;
        yield this.toInfo(row);
      }
      const last = rows.at(-1);
      if (!last || rows.length < LIST_PAGE) return;
      after = last.key;
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const row = this.row(key);
    return row ? this.toInfo(row) : undefined;
  }

  async read(key: string, range?: ByteRange): Promise<ObjectReader> {
    const row = this.row(key);
    if (!row) throw new NotFoundError(this.url, key);
    const info = this.toInfo(row);
    if (ARCHIVE_CLASSES.includes(row.storage_class) && info.restore?.state !== "restored") {
      throw new NeedsRestoreError(this.url, key);
    }
    // A small object whole, while the disk answers quickly: read now, its body the bytes themselves.
    const now = range ? undefined : this.quickFiles.read(this.blobPath(row), READ_WHOLE_MAX);
    if (now?.data) return { info, body: heldBody(now.data) };
    try {
      const handle = await open(this.blobPath(row), "r");
      const body: Readable = handle.createReadStream(range ? { start: range.start, end: range.end } : {});
      return { info, body };
    } catch (err) {
      throw fsError(this.url, key, err);
    }
  }

  async write(key: string, body: Readable, info: WriteInfo): Promise<ObjectInfo> {
    return this.store(key, info, (temp) => writeTempFile(temp, body, info.size, this.quickFiles));
  }

  /** Ranges land by offset in a new blob, which becomes the object only once whole and checked. */
  async writeRanges(key: string, info: WriteInfo, fill: (sink: RangeSink) => Promise<void>): Promise<ObjectInfo> {
    this.checkKey(key);
    this.index(true);
    const resume = await resumableTemp(info, (name) => this.resumablePath(name), `${RESUMABLE}${randomUUID()}`);
    return this.store(key, info, (temp) => writeTempFileInRanges(temp, info, fill, resume), resume);
  }

  /** A resumable write left for a later one that will not come (its file changed or is gone). */
  async abortUpload(_key: string, uploadId: string): Promise<void> {
    const path = this.resumablePath(uploadId);
    if (path) await rm(path, { force: true });
  }

  /** The temp blob of a resumable write, for a name of that form only (it comes from the catalog). */
  private resumablePath(name: string): string | undefined {
    return new RegExp(`^${RESUMABLE}[0-9a-f-]{36}$`).test(name) ? join(this.dir, "blobs", "tmp", name) : undefined;
  }

  /**
   * Fills a new blob in the temp directory, checks its hash, moves it into place and points the
   * key at it: until that last step the key still names its previous blob, untouched.
   */
  private async store(
    key: string,
    info: WriteInfo,
    fillTemp: (temp: string | Buffer) => Promise<WrittenFile>,
    resume?: ResumableTemp,
  ): Promise<ObjectInfo> {
    this.checkKey(key);
    const storageClass = this.checkClass(info.storageClass);
    this.index(true);
    await this.reclaim();
    // The blob an overwrite frees is checked before anything is written.
    const previous = this.row(key);
    if (previous) this.blobPath(previous);
    const blob = newBlobName();
    const temp = resume?.path ?? join(this.dir, "blobs", "tmp", `${writerTag()}~${blob.replace("/", "-")}`);
    try {
      const written = await fillTemp(temp);
      checkExpectedHash(this.url, key, info, written.sha256);
      await this.ensureBlobDir(blob);
      this.unsettle([blob]);
      await rename(temp, this.blobPath({ key, blob }));
      // The content hash is known only once the body has streamed through; keep it with the object.
      const attributes = { ...info.attributes, sha256: info.attributes.sha256 ?? written.sha256 };
      const metadata = { ...(info.metadata ?? {}), ...attributesToMetadata(attributes) };
      const row: ObjectRow = {
        key,
        blob,
        size: written.size,
        sha256: written.sha256,
        modified_us: Date.now() * 1000,
        storage_class: storageClass,
        metadata: JSON.stringify(metadata),
        tags: JSON.stringify(info.tags ?? {}),
        restore_ready_us: null,
        restore_expires_us: null,
      };
      await this.replaceRow(row);
      await resume?.journal.clear();
      return this.toInfo(row);
    } catch (err) {
      throw fsError(this.url, key, await afterFailedWrite(temp, resume, err, { location: this.url, key }));
    }
  }

  /** Bodies stream through to disk; only the stream buffers are held (one per range in flight). */
  writeBuffer(size: number, streams?: number): number {
    return tempFileBuffer(size, streams);
  }

  async copy(from: string, to: string, opts: CopyOptions = {}): Promise<ObjectInfo> {
    const source = this.row(from);
    if (!source) throw new NotFoundError(this.url, from);
    const storageClass = this.checkClass(opts.storageClass ?? source.storage_class);
    if (from === to) {
      // A class transition in place: the body stays, the class (and any thaw) changes.
      this.prepared(
        this.db,
        "UPDATE objects SET storage_class = ?, restore_ready_us = NULL, restore_expires_us = NULL WHERE key = ?",
      ).run(storageClass, from);
      return this.toInfo(this.row(from) as ObjectRow);
    }
    this.checkKey(to);
    if (ARCHIVE_CLASSES.includes(source.storage_class) && this.restoreStatus(source).state !== "restored") {
      throw new NeedsRestoreError(this.url, from);
    }
    // Blobs are never modified in place, so a hard link is a faithful server-side copy.
    const blob = newBlobName();
    const sourcePath = this.blobPath(source);
    await this.ensureBlobDir(blob);
    this.unsettle([blob]);
    await link(sourcePath, this.blobPath({ key: to, blob }));
    const row: ObjectRow = {
      ...source,
      key: to,
      blob,
      storage_class: storageClass,
      modified_us: Date.now() * 1000,
      restore_ready_us: null,
      restore_expires_us: null,
    };
    await this.replaceRow(row);
    return this.toInfo(row);
  }

  async delete(keys: string[]): Promise<void> {
    if (!this.index(false)) return;
    const select = this.prepared<[string], { key: string; blob: string }>(
      this.db,
      "SELECT key, blob FROM objects WHERE key = ?",
    );
    const remove = this.prepared(this.db, "DELETE FROM objects WHERE key = ?");
    const freed = this.db.transaction((batch: string[]) => {
      const rows = batch.flatMap((key) => select.get(key) ?? []);
      // Every blob path is checked before any row goes: a tampered index changes nothing.
      for (const row of rows) this.blobPath(row);
      for (const key of batch) remove.run(key);
      this.unsettle(rows.map((row) => row.blob));
      return rows;
    })(keys);
    await this.free(freed);
  }

  async restore(key: string, opts: RestoreOptions): Promise<RestoreStatus> {
    const row = this.row(key);
    if (!row) throw new NotFoundError(this.url, key);
    const status = this.restoreStatus(row);
    if (status.state !== "archived") return status;
    const readyUs = (Date.now() + this.options.restoreDelayMs) * 1000;
    const expiresUs = readyUs + opts.days * 86_400 * 1e6;
    this.prepared(this.db, "UPDATE objects SET restore_ready_us = ?, restore_expires_us = ? WHERE key = ?").run(
      readyUs,
      expiresUs,
      key,
    );
    return { state: "restoring", readyAt: new Date(readyUs / 1000) };
  }

  /** The `tags` column, read and written in one transaction so a concurrent change is not lost. */
  async updateTags(key: string, change: TagChange): Promise<void> {
    this.checkKey(key);
    const db = this.index(false);
    if (!db) throw new NotFoundError(this.url, key);
    const select = this.prepared<[string], { tags: string }>(db, "SELECT tags FROM objects WHERE key = ?");
    const update = this.prepared(db, "UPDATE objects SET tags = ? WHERE key = ?");
    db.transaction(() => {
      const row = select.get(key);
      if (!row) throw new NotFoundError(this.url, key);
      update.run(JSON.stringify(changedTags(JSON.parse(row.tags) as Record<string, string>, change)), key);
    }).immediate();
  }

  async close(): Promise<void> {
    this.statements.clear();
    this.opened?.close();
    this.opened = undefined;
  }

  private row(key: string): ObjectRow | undefined {
    const db = this.index(false);
    return db && this.prepared<[string], ObjectRow>(db, "SELECT * FROM objects WHERE key = ?").get(key);
  }

  /** Points the key at its new blob, then frees the blob it replaced. */
  private async replaceRow(row: ObjectRow): Promise<void> {
    const select = this.prepared<[string], { key: string; blob: string }>(
      this.db,
      "SELECT key, blob FROM objects WHERE key = ?",
    );
    const insert = this.prepared(
      this.db,
      `INSERT OR REPLACE INTO objects VALUES (@key, @blob, @size, @sha256, @modified_us,
          @storage_class, @metadata, @tags, @restore_ready_us, @restore_expires_us)`,
    );
    const previous = this.db.transaction(() => {
      const replaced = select.get(row.key);
      const freed = replaced && replaced.blob !== row.blob ? [replaced] : [];
      // Checked before the index changes: a tampered blob name frees nothing outside the store.
      for (const old of freed) this.blobPath(old);
      insert.run(row);
      this.settle([row.blob]);
      this.unsettle(freed.map((old) => old.blob));
      return freed;
    })();
    await this.free(previous);
  }

  /** Lists blobs this process is about to place or free, before the index says so. */
  private unsettle(blobs: readonly string[]): void {
    const insert = this.prepared(this.db, "INSERT OR REPLACE INTO unsettled_blobs VALUES (?, ?, ?)");
    for (const blob of blobs) insert.run(blob, hostname(), process.pid);
  }

  private settle(blobs: readonly string[]): void {
    const remove = this.prepared(this.db, "DELETE FROM unsettled_blobs WHERE blob = ?");
    for (const blob of blobs) remove.run(blob);
  }

  /** Removes blobs no key points at any more, then forgets them. */
  private async free(rows: readonly { key: string; blob: string }[]): Promise<void> {
    await Promise.all(rows.map((row) => rm(this.blobPath(row), { force: true })));
    this.db.transaction(() => this.settle(rows.map((row) => row.blob)))();
  }

  /**
   * Once per open store: removes the temp blobs of writers on this host that are dead (and any
   * temp blob a week old), and the blobs that dead writers placed or freed without a key now
   * pointing at them. A live writer's files are never touched.
   */
  private reclaim(): Promise<void> {
    this.reclaimed ??= Promise.all([this.reclaimTemp(), this.reclaimUnsettled(), this.reclaimUnlisted()]).then(
      () => undefined,
    );
    return this.reclaimed;
  }

  /**
   * Once per store: blobs written before writers listed theirs as unsettled (an older Strata,
   * killed between moving a blob into place and indexing it, or between unindexing one and
   * removing it) are found by walking the blobs and removed when no key points at them and they
   * are older than any write in progress could be. Marked done in the index's user_version.
   */
  private async reclaimUnlisted(): Promise<void> {
    if ((this.db.pragma("user_version", { simple: true }) as number) >= UNLISTED_SWEPT) return;
    const referenced = this.prepared<[string, string], { n: number }>(
      this.db,
      "SELECT 1 AS n FROM objects WHERE blob = ? UNION ALL SELECT 1 FROM unsettled_blobs WHERE blob = ?",
    );
    let young = 0;
    const blobs = join(this.dir, "blobs");
    for (const fanOut of await readdir(blobs).catch(() => [] as string[])) {
      if (fanOut === "tmp") continue;
      for (const name of await readdir(join(blobs, fanOut)).catch(() => [] as string[])) {
        const blob = `${fanOut}/${name}`;
        // A file not named as this store names its blobs is not one of them: left alone.
        if (!isBlobName(blob) || referenced.get(blob, blob)) continue;
        const path = join(blobs, blob);
        const age = await stat(path).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        );
        if (age > UNLISTED_GRACE_MS) await rm(path, { force: true });
        else young += 1;
      }
    }
    // A young one may be a write in progress: look again at the next open.
    if (young === 0) this.db.pragma(`user_version = ${UNLISTED_SWEPT}`);
  }

  private async reclaimTemp(): Promise<void> {
    const tempDir = join(this.dir, "blobs", "tmp");
    const names = await readdir(tempDir).catch(() => [] as string[]);
    for (const name of names) {
      const path = join(tempDir, name);
      const stale = async () => Date.now() - (await stat(path)).mtimeMs > ABANDONED_AFTER_MS;
      if (writtenByDeadWriter(name) || (await stale().catch(() => false))) await rm(path, { force: true });
    }
  }

  private async reclaimUnsettled(): Promise<void> {
    const rows = this.prepared<[string], { blob: string; pid: number }>(
      this.db,
      "SELECT blob, pid FROM unsettled_blobs WHERE host = ?",
    ).all(hostname());
    const referenced = this.prepared<[string], { n: number }>(this.db, "SELECT 1 AS n FROM objects WHERE blob = ?");
    const orphans = rows.filter((r) => !processAlive(r.pid)).map((r) => r.blob);
    const unreferenced = orphans.filter((blob) => !referenced.get(blob));
    // The index is untrusted: a blob name not of this store's form is left alone, not followed.
    const removable = unreferenced.filter(isBlobName);
    await Promise.all(removable.map((blob) => rm(join(this.dir, "blobs", blob), { force: true })));
    this.db.transaction(() => this.settle(orphans))();
  }

  private restoreStatus(row: ObjectRow): RestoreStatus {
    if (!ARCHIVE_CLASSES.includes(row.storage_class)) return { state: "not-archived" };
    const nowUs = Date.now() * 1000;
    if (row.restore_ready_us === null || (row.restore_expires_us ?? 0) <= nowUs) {
      return { state: "archived" };
    }
    if (row.restore_ready_us > nowUs) {
      return { state: "restoring", readyAt: new Date(row.restore_ready_us / 1000) };
    }
    return { state: "restored", expiresAt: new Date((row.restore_expires_us ?? 0) / 1000) };
  }

  private toInfo(row: ObjectRow): ObjectInfo {
    const metadata = JSON.parse(row.metadata) as Record<string, string>;
    const info: ObjectInfo = {
      key: row.key,
      size: row.size,
      modifiedUs: row.modified_us,
      storageClass: row.storage_class,
      etag: row.sha256,
      sha256: row.sha256,
      metadata: userMetadata(metadata),
      tags: JSON.parse(row.tags) as Record<string, string>,
      restore: this.restoreStatus(row),
    };
    const attributes = metadataToAttributes(metadata);
    if (attributes) info.attributes = attributes;
    return info;
  }

  private checkKey(key: string): void {
    if (key.length === 0 || !key.isWellFormed() || Buffer.byteLength(key) > MAX_KEY_BYTES) {
      throw new InvalidRequestError(
        this.url,
        `invalid key (must be 1 to ${MAX_KEY_BYTES} bytes of UTF-8): ${JSON.stringify(key.slice(0, 80))}`,
      );
    }
  }

  private checkClass(storageClass: string | undefined): string {
    const chosen = storageClass ?? STORAGE_CLASSES[0];
    if (!(STORAGE_CLASSES as readonly string[]).includes(chosen)) {
      throw new InvalidRequestError(this.url, `storage class ${chosen} is not one of ${STORAGE_CLASSES.join(", ")}`);
    }
    return chosen;
  }

  private prepared<P extends unknown[], R = unknown>(db: Database.Database, text: string): Database.Statement<P, R> {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement as unknown as Database.Statement<P, R>;
  }

  private async ensureBlobDir(blob: string): Promise<void> {
    const fanOut = blob.slice(0, 2);
    if (this.blobDirs.has(fanOut)) return;
    await mkdir(join(this.dir, "blobs", fanOut), { recursive: true });
    this.blobDirs.add(fanOut);
  }

  /**
   * Where the object's body lives. The index is a file anyone with access to the disk can edit,
   * so a blob name is used only if it has the shape newBlobName gives: a value such as
   * `../../victim.txt` would otherwise make an overwrite or a delete remove a file outside the store.
   */
  private blobPath(row: { key: string; blob: string }): string {
    if (!isBlobName(row.blob)) {
      throw new BackendError(
        `the index gives ${JSON.stringify(row.key)} the blob ${JSON.stringify(row.blob)}, not a name of this ` +
          "store's blobs/ directory: the index was altered; nothing was read, written or removed for it",
        this.url,
        false,
      );
    }
    return join(this.dir, "blobs", row.blob);
  }
}

/** `ab/<uuid>`, the uuid beginning with `ab`: no "/" or "." that could lead out of blobs/. */
const BLOB_NAME = /^[0-9a-f]{2}\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function isBlobName(blob: string): boolean {
  return BLOB_NAME.test(blob) && blob.slice(0, 2) === blob.slice(3, 5);
}

function newBlobName(): string {
  const id = randomUUID();
  return `${id.slice(0, 2)}/${id}`;
}
