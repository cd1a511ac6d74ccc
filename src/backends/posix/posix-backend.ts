import { randomBytes } from "node:crypto";
import { constants, type Dirent, type Stats } from "node:fs";
import { copyFile, type FileHandle, lstat, mkdir, open, readdir, realpath, rm, stat } from "node:fs/promises";
import { pipeline, type Readable, Transform, type TransformCallback } from "node:stream";
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
  FileAttributes,
  FileTree,
  ObjectInfo,
  ObjectReader,
  RangeSink,
  ReadNow,
  RestoreStatus,
  WriteInfo,
} from "../backend.js";
import { InvalidRequestError, TransientError } from "../backend.js";
import { checkExpectedHash, heldBody, offerPositionalReads } from "../bodies.js";
import { fsError, unlessPermission } from "../fs-errors.js";
import { bytesToKey, keyToBytes, pathUnder, unsafeRelativeKey } from "../keys.js";
import { type AttributeTrust, type Owner, ownershipToApply, TRUST_NOTHING } from "../metadata.js";
import { type FileCalls, QuickFiles, READ_WHOLE_MAX } from "../quick-files.js";
import { ABANDONED_AFTER_MS, writerTag, writtenByDeadWriter } from "../writers.js";

/** Who writes files here: the owner a file has unless it is given away (root only). */
const WRITER = { uid: process.geteuid?.() ?? -1, gid: process.getegid?.() ?? -1 };

/**
 * Temp files of writes in progress; never listed, never scanned as data. Each is named after its
 * writer (`.strata-partial-<host>~<pid>~<random>`), so that a run that touches its directory
 * later removes it once that writer is dead; only files of that exact form are ever removed.
 */
export const PARTIAL_PREFIX = ".strata-partial-";
/**
 * After the prefix, the partial files of resumable writes: the upload journal names them, they
 * outlive their writer, and the journal's owner aborts them (abortUpload) once nothing will resume.
 */
const RESUMABLE = "resume~";

export const POSIX_CAPABILITIES: Capabilities = {
  storageClasses: ["POSIX"],
  archiveClasses: [],
  userMetadata: false,
  fileAttributes: true,
  serverSideCopy: true,
};

/** A directory tree (Lustre, GPFS, BeeGFS or any POSIX filesystem) seen as keys. */
export class PosixBackend implements Backend, FileTree {
  readonly caps = POSIX_CAPABILITIES;
  readonly tree: FileTree = this;
  private realRoot: Buffer | undefined;
  /** Directories whose dead writers' partial files this backend has looked for already. */
  private readonly swept = new Set<string>();
  /** Parent directories this backend walked down and found real (prepareParent); forgotten when a write into one fails. */
  private readonly prepared = new Set<string>();
  private readonly quickFiles = new QuickFiles();

  constructor(
    readonly root: string,
    readonly url: string,
  ) {}

  /**
   * The filesystem path of a key: a string when exact, bytes when the name is not UTF-8. The key
   * is decoded before it is checked, so what is checked is what the filesystem will see.
   */
  fsPath(key: string): string | Buffer {
    const unsafe = unsafeRelativeKey(key);
    if (unsafe) throw new InvalidRequestError(this.url, `${JSON.stringify(key)}: ${unsafe}`);
    return pathUnder(this.root, key);
  }

  /** Like fsPath, but "" is the root itself. */
  private dirPath(dirKey: string): string | Buffer {
    return dirKey === "" ? this.root : this.fsPath(dirKey);
  }

  /**
   * Creates the parent directories of `key` one at a time from the root, each only once the one
   * above it is known to be a real directory: a key from an untrusted store must not create or
   * write anything through a symlink (one inside the target may lead anywhere). The key is
   * checked (fsPath) before the first directory is made. A final realpath check, made for every
   * write, catches a directory swapped for a link meanwhile: it resolves every level, so the walk
   * is made once per directory (a restore of many files into one directory pays for it once).
   */
  private async prepareParent(key: string): Promise<void> {
    this.fsPath(key);
    const parent = parentKey(key);
    if (!this.prepared.has(parent)) await this.makeParents(key);
    const calls = this.quickFiles.calls();
    // Inside an async function a call made on this thread fails as a rejection, as a pooled one does.
    const actual = await (async () => calls.realpath(this.dirPath(parent)))().catch(async (err: unknown) => {
      this.prepared.delete(parent);
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      // Removed since it was walked down to: made again, as for a first write.
      await this.makeParents(key);
      return calls.realpath(this.dirPath(parent));
    });
    this.realRoot ??= await realpath(this.root, { encoding: "buffer" });
    const expected =
      parent === "" ? this.realRoot : Buffer.concat([this.realRoot, Buffer.from("/"), keyToBytes(parent)]);
    if (!actual.equals(expected)) {
      this.prepared.delete(parent);
      throw new InvalidRequestError(this.url, `${JSON.stringify(key)}: a parent directory is a link out of place`);
    }
    this.prepared.add(parent);
  }

  private async makeParents(key: string): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await this.walkParents(key, { create: true });
    await this.sweep(parentKey(key));
  }

  /**
   * Goes down the parent directories of `key` from the root, creating each missing one when asked,
   * and checks that each is a real directory, not a symlink. Answers whether every parent exists.
   */
  private async walkParents(key: string, opts: { create: boolean }): Promise<boolean> {
    const names = parentKey(key).split("/");
    for (let depth = 1; depth <= names.length && names[0] !== ""; depth++) {
      const dirKey = names.slice(0, depth).join("/");
      const dir = this.fsPath(dirKey);
      if (opts.create) {
        await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "EEXIST") throw err;
        });
      }
      const stats = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return undefined;
        throw err;
      });
      if (!stats) return false;
      if (!stats.isDirectory()) {
        const what = stats.isSymbolicLink() ? "is a symlink" : "is not a directory";
        throw new InvalidRequestError(
          this.url,
          `${JSON.stringify(key)}: ${JSON.stringify(dirKey)} ${what}; nothing is written or removed through it`,
        );
      }
    }
    return true;
  }

  /** A missing root is fine (a sync creates it); a root that is not a directory is not. */
  async check(): Promise<void> {
    let stats: Stats;
    try {
      stats = await stat(this.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw fsError(this.url, "", err);
    }
    if (!stats.isDirectory()) throw new InvalidRequestError(this.url, `${this.root} is not a directory`);
  }

  async *list(prefix = ""): AsyncIterable<ObjectInfo> {
    const slash = prefix.lastIndexOf("/");
    const dirKey = slash < 0 ? "" : prefix.slice(0, slash);
    // No key under an unsafe directory can exist here, so there is nothing to list.
    if (dirKey !== "" && unsafeRelativeKey(dirKey)) return;
    yield* this.walk(dirKey, prefix);
  }

  private async *walk(dirKey: string, prefix: string): AsyncIterable<ObjectInfo> {
    let entries: Dirent<Buffer>[];
    try {
      entries = await readdir(this.dirPath(dirKey), { withFileTypes: true, encoding: "buffer" });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return;
      throw fsError(this.url, dirKey, err);
    }
    // Sorting "name/" for directories yields keys in byte order across levels.
    const all = entries.map((entry) => ({ entry, name: bytesToKey(entry.name) }));
    await this.removeDeadPartials(
      dirKey,
      all.map(({ name }) => name),
    );
    const named = all
      .filter(({ name }) => !name.startsWith(PARTIAL_PREFIX))
      .map((e) => ({ ...e, sortKey: Buffer.from(e.entry.isDirectory() ? `${e.name}/` : e.name) }))
      .sort((a, b) => Buffer.compare(a.sortKey, b.sortKey));
    for (const { entry, name } of named) {
      const key = dirKey === "" ? name : `${dirKey}/${name}`;
      if (entry.isDirectory()) {
        if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) {
          yield* this.walk(key, prefix);
        }
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const info = await this.stat(key);
        if (info) yield info;
      }
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    let stats: Stats;
    try {
      stats = await this.quickFiles.calls().lstat(this.fsPath(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw fsError(this.url, key, err);
    }
    return stats.isFile() ? infoFromStats(key, stats) : undefined;
  }

  /**
   * Streams a file (or a range of it) that must hold still while it is read: after the last byte
   * the file at this path is compared with what was opened (inode, size, mtime, ctime), and a
   * change fails the stream with a TransientError before the target can commit, so the copy is
   * tried again and a file that keeps changing is reported, never recorded torn.
   */
  async read(key: string, range?: ByteRange): Promise<ObjectReader> {
    const path = this.fsPath(key);
    // A small file whole, while the tree answers quickly: read now, its body the bytes themselves.
    const now = range ? undefined : this.quickFiles.read(path, READ_WHOLE_MAX);
    if (now?.data) return { info: infoFromStats(key, now.opened), body: heldBody(now.data) };
    try {
      const handle = await openWithoutAtime(path);
      const stats = await handle.stat();
      if (!stats.isFile()) {
        await handle.close();
        throw new Error(`${whatIsThere(stats)} now, not a regular file: nothing read`);
      }
      const body = new HeldStill(
        () => this.changedSince(key, path, stats),
        // The body closes the handle, not the stream: reads by offset may outlast the stream's end.
        () => handle.createReadStream({ ...(range ? { start: range.start, end: range.end } : {}), autoClose: false }),
        () => handle.close(),
      );
      // Read by offset through the same handle: the very file opened, checked the same way at the end.
      const start = range?.start ?? 0;
      const end = range ? range.end + 1 : Number.POSITIVE_INFINITY;
      offerPositionalReads(body, {
        readAt: async (buffer, length, position) =>
          (await handle.read(buffer, 0, Math.max(0, Math.min(length, end - start - position)), start + position))
            .bytesRead,
        changed: () => this.changedSince(key, path, stats),
      });
      return { info: infoFromStats(key, stats), body };
    } catch (err) {
      throw fsError(this.url, key, err);
    }
  }

  readNow(key: string, max: number): ReadNow | undefined {
    // A key that may not be read here is for `read` to refuse, saying why.
    return unsafeRelativeKey(key) ? undefined : this.quickFiles.read(pathUnder(this.root, key), max);
  }

  /** The error to fail a read with when the file at `path` is no longer the one opened. */
  private async changedSince(key: string, path: string | Buffer, opened: Stats): Promise<Error | undefined> {
    const now = await lstat(path).catch(() => undefined);
    const same =
      now !== undefined &&
      versionTag(now) === versionTag(opened) &&
      now.size === opened.size &&
      now.mtimeMs === opened.mtimeMs;
    return same ? undefined : new TransientError(this.url, `${JSON.stringify(key)}: changed while it was being read`);
  }

  async write(key: string, body: Readable, info: WriteInfo): Promise<ObjectInfo> {
    return this.place(key, info, (temp) => writeTempFile(temp, body, info.size, this.quickFiles));
  }

  /** Ranges land by offset in the temp file, which is renamed into place only once whole and checked. */
  async writeRanges(key: string, info: WriteInfo, fill: (sink: RangeSink) => Promise<void>): Promise<ObjectInfo> {
    await this.prepareParent(key);
    const fresh = `${PARTIAL_PREFIX}${RESUMABLE}${randomBytes(8).toString("hex")}`;
    const resume = await resumableTemp(info, (name) => this.resumablePath(key, name), fresh);
    return this.place(key, info, (temp) => writeTempFileInRanges(temp, info, fill, resume), resume);
  }

  /** A resumable write left for a later one that will not come (its file changed or is gone). */
  async abortUpload(key: string, uploadId: string): Promise<void> {
    const path = this.resumablePath(key, uploadId);
    if (path) await rm(path, { force: true });
  }

  /** The partial file of a resumable write of `key`, for a name of that form only (it comes from the catalog). */
  private resumablePath(key: string, name: string): string | Buffer | undefined {
    if (!new RegExp(`^${PARTIAL_PREFIX}${RESUMABLE}[0-9a-f]{16}$`).test(name)) return undefined;
    const parent = parentKey(key);
    return this.dirPath(parent === "" ? name : `${parent}/${name}`);
  }

  /** Bodies stream through to disk; only the stream buffers are held (one per range in flight). */
  writeBuffer(size: number, streams?: number): number {
    return tempFileBuffer(size, streams);
  }

  async copy(from: string, to: string): Promise<ObjectInfo> {
    const source = await this.stat(from);
    if (!source) throw fsError(this.url, from, Object.assign(new Error("not found"), { code: "ENOENT" }));
    const temp = this.tempPathBeside(to);
    try {
      await this.prepareParent(to);
      await copyFile(this.fsPath(from), temp);
      const calls = this.quickFiles.calls();
      await applyAttributes(calls, temp, { ...source.attributes, mtimeUs: source.modifiedUs }, TRUST_NOTHING);
      await calls.rename(temp, this.fsPath(to));
    } catch (err) {
      this.prepared.delete(parentKey(to));
      await rm(temp, { force: true });
      throw fsError(this.url, to, err);
    }
    // The copy's own inode and ctime, not the source's.
    const copied = await this.stat(to);
    if (!copied) throw fsError(this.url, to, Object.assign(new Error("not found"), { code: "ENOENT" }));
    return copied;
  }

  async delete(keys: string[]): Promise<void> {
    for (const key of keys) {
      try {
        // A key under a symlinked directory would remove a file somewhere else.
        if (!(await this.walkParents(key, { create: false }))) continue;
        await rm(this.fsPath(key), { force: true });
      } catch (err) {
        throw fsError(this.url, key, err);
      }
    }
  }

  async restore(): Promise<RestoreStatus> {
    return { state: "not-archived" };
  }

  async close(): Promise<void> {}

  /**
   * Fills a temp file beside the target, checks its hash, gives it the file's owner, mode and
   * times, and renames it into place: nothing else is ever visible at the target's name.
   */
  private async place(
    key: string,
    info: WriteInfo,
    fillTemp: (temp: string | Buffer) => Promise<WrittenFile>,
    resume?: ResumableTemp,
  ): Promise<ObjectInfo> {
    const target = this.fsPath(key);
    const temp = resume?.path ?? this.tempPathBeside(key);
    try {
      await this.prepareParent(key);
      const written = await fillTemp(temp);
      checkExpectedHash(this.url, key, info, written.sha256);
      const calls = this.quickFiles.calls();
      await applyAttributes(calls, temp, info.attributes, info.trust ?? TRUST_NOTHING);
      await calls.rename(temp, target);
      await resume?.journal.clear();
      return { key, size: written.size, modifiedUs: info.attributes.mtimeUs, sha256: written.sha256 };
    } catch (err) {
      // Its directory may be what is gone: the next write walks down to it again, creating it.
      this.prepared.delete(parentKey(key));
      throw fsError(this.url, key, await afterFailedWrite(temp, resume, err, { location: this.url, key }));
    }
  }

  /** Once per directory and backend: removes the partial files dead writers left in it. */
  private async sweep(dirKey: string): Promise<void> {
    if (this.swept.has(dirKey)) return;
    const names = await readdir(this.dirPath(dirKey), { encoding: "buffer" }).catch(() => [] as Buffer[]);
    await this.removeDeadPartials(dirKey, names.map(bytesToKey));
  }

  private async removeDeadPartials(dirKey: string, names: readonly string[]): Promise<void> {
    this.swept.add(dirKey);
    for (const name of names) {
      if (!name.startsWith(PARTIAL_PREFIX)) continue;
      const path = this.dirPath(dirKey === "" ? name : `${dirKey}/${name}`);
      const writer = name.slice(PARTIAL_PREFIX.length);
      const abandoned = async () =>
        writer.startsWith(RESUMABLE) && Date.now() - (await stat(path)).mtimeMs > ABANDONED_AFTER_MS;
      // One that cannot be removed (a read-only tree) stays; it is never listed as data.
      if (writtenByDeadWriter(writer) || (await abandoned().catch(() => false))) {
        await rm(path, { force: true }).catch(() => undefined);
      }
    }
  }

  /**
   * A temp path beside `key` for a file written outside this backend (a release's stub), named
   * after this process as the backend's own are, so that a run after a kill removes it; the dead
   * writers' partial files of that directory are removed first.
   */
  async partialBeside(key: string): Promise<string | Buffer> {
    await this.sweep(parentKey(key));
    return this.tempPathBeside(key);
  }

  private tempPathBeside(key: string): string | Buffer {
    const parent = parentKey(key);
    const name = `${PARTIAL_PREFIX}${writerTag()}~${randomBytes(8).toString("hex")}`;
    return this.dirPath(parent === "" ? name : `${parent}/${name}`);
  }
}

/** Passes a file's bytes through and, at their end, fails if the file changed meanwhile. */
class HeldStill extends Transform {
  private file: Readable | undefined;

  /**
   * The file's stream starts on the first read of the body: a reader that takes the bytes by
   * offset (a small file read whole, a multipart upload's parts) reads none of them twice. The
   * file is closed through `close` when the body closes: at its end, or when it is let go of.
   */
  constructor(
    private readonly changed: () => Promise<Error | undefined>,
    private readonly open: () => Readable,
    close: () => Promise<void>,
  ) {
    super();
    this.once("close", () => close().catch(() => {}));
  }

  override _read(size: number): void {
    if (!this.file) {
      this.file = this.open();
      // A failure of either side, or the reader letting go of the body, closes the file.
      pipeline(this.file, this, () => undefined);
    }
    super._read(size);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.changed().then((error) => callback(error ?? null), callback);
  }
}

function parentKey(key: string): string {
  const slash = key.lastIndexOf("/");
  return slash < 0 ? "" : key.slice(0, slash);
}

/**
 * Gives a written file its owner (root only), mode and times, taking of the recorded attributes
 * only what `trust` allows: see ownershipToApply. The owner goes first, as chown clears setuid.
 */
async function applyAttributes(
  calls: FileCalls,
  path: string | Buffer,
  attributes: FileAttributes,
  trust: AttributeTrust,
) {
  const { owner, mode } = ownershipToApply(attributes, trust, WRITER);
  // Root squashed by NFS may not give files away: the file stays the writer's, without special bits.
  const given = owner !== undefined && (await giveTo(calls, path, owner));
  if (mode !== undefined) await calls.chmod(path, owner && !given ? mode & 0o777 : mode);
  const { mtimeUs, atimeUs } = attributes;
  await calls.utimes(path, timespec(atimeUs ?? mtimeUs), timespec(mtimeUs));
}

/**
 * libuv turns the double into a timespec and truncates it to whole microseconds; the double is
 * only good to a fraction of a microsecond, so aim at the middle of the intended one.
 */
function timespec(us: number): number {
  return (us + 0.5) / 1e6;
}

/** Gives the file to `owner`; answers false where that is not permitted. */
async function giveTo(calls: FileCalls, path: string | Buffer, owner: Owner): Promise<boolean> {
  try {
    await calls.chown(path, owner.uid, owner.gid);
    return true;
  } catch (err) {
    unlessPermission(err as NodeJS.ErrnoException);
    return false;
  }
}

/**
 * A file's version as reads compare it (a ranged copy's reads, a resumed copy): the inode and
 * ctime change on a rewrite or a replacement even when `touch -d`, `cp -p` or `rsync -t` put the
 * size and mtime back.
 */
function versionTag(stats: Stats): string {
  return `${stats.dev}:${stats.ino}:${stats.ctimeMs}`;
}

function infoFromStats(key: string, stats: Stats): ObjectInfo {
  const mtimeUs = Math.round(stats.mtimeMs * 1000);
  return {
    key,
    size: stats.size,
    modifiedUs: mtimeUs,
    etag: versionTag(stats),
    storageClass: "POSIX",
    attributes: { mtimeUs, mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid },
  };
}

/** What a path holds that is not a regular file, for a message. */
function whatIsThere(stats: Stats): string {
  if (stats.isDirectory()) return "a directory";
  if (stats.isFIFO()) return "a named pipe";
  if (stats.isSocket()) return "a socket";
  return stats.isCharacterDevice() || stats.isBlockDevice() ? "a device" : "a special file";
}

/**
 * Opens for reading without moving the file's atime: Strata's own reads (copies, hashes,
 * verification) must not look like a user's, or age-based placement and purges would never see
 * a file as idle. The kernel allows O_NOATIME only to the file's owner (or CAP_FOWNER), so
 * anyone else's file is opened plainly. O_NONBLOCK: a named pipe put in a file's place would
 * otherwise hold a thread of the pool until something wrote to it (a regular file ignores it).
 */
async function openWithoutAtime(path: string | Buffer): Promise<FileHandle> {
  try {
    return await open(path, constants.O_RDONLY | constants.O_NOATIME | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") throw err;
    return open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  }
}
