import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  realpathSync,
  renameSync,
  type Stats,
  utimesSync,
  writeSync,
} from "node:fs";
import { chmod, chown, lstat, realpath, rename, utimes } from "node:fs/promises";
import type { ReadNow } from "./backend.js";
import { bodyBuffers } from "./body-buffers.js";

/** Files up to this size are read whole when a backend's read of all of one is asked for (while the tree is quick). */
export const READ_WHOLE_MAX = 1024 ** 2;
/** Above this running average of milliseconds per call, the tree is left to the thread pool for a while. */
const SLOW_MS = 0.5;
/** How long a slow tree is left to the thread pool before calls on the calling thread are tried again. */
const PAUSE_MS = 5_000;
/**
 * The weight of the newest call in the running average. One call counts for at most twice the
 * limit: a single stall (the thread preempted on a busy machine, a page fault) moves the average
 * by a fifth of the limit, and only calls slow one after another (seven in a row from a quick
 * start) hand the tree to the pool.
 */
const NEWEST = 0.1;

/**
 * Small files read and written whole on the calling thread (open, fstat, one pread, fstat, close;
 * open, write, close), while the tree answers quickly. Through the thread pool each of those
 * calls is a round trip between two threads: reading a small file cost about 0.2 ms of CPU that
 * way against 0.03 ms here, where the page cache answers in microseconds. A tree that answers
 * slowly (a parallel filesystem's metadata server, a cold disk) would stall every transfer in
 * flight, so a running average of the time per call decides, and a slow tree is left to the
 * thread pool until the pause is over.
 */
export class QuickFiles {
  private average = 0;
  private slowUntil = 0;

  constructor(private readonly limits = { slowMs: SLOW_MS, pauseMs: PAUSE_MS }) {}

  /**
   * The entry at `path` as a ReadNow (its bytes when it is a regular file of at most `max`), or
   * undefined when the tree is slow just now or the path cannot be opened this way (absent, a
   * symlink, a permission, an I/O error): the caller then reads through the pool, which retries
   * what is worth retrying and says why it fails.
   */
  read(path: string | Buffer, max: number): ReadNow | undefined {
    return this.timed(() => readWholeNow(path, max));
  }

  /**
   * Writes `data` as a new file at `path` (which must not exist); false, having done nothing,
   * when the tree is slow just now. A failure is thrown, as the pool's write would throw it.
   */
  create(path: string | Buffer, data: Buffer): boolean {
    return (
      this.timed(() => {
        createWholeNow(path, data);
        return true;
      }) ?? false
    );
  }

  /**
   * The calls that finish a write (attributes, rename), check its directory (realpath) or look at
   * an entry (lstat): made
   * on the calling thread, and timed, while the tree is quick; through the pool otherwise.
   */
  calls(): FileCalls {
    return performance.now() < this.slowUntil ? POOLED_CALLS : this.quickCalls;
  }

  private readonly quickCalls: FileCalls = {
    chown: (path, uid, gid) => this.timedAlways(() => chownSync(path, uid, gid)),
    chmod: (path, mode) => this.timedAlways(() => chmodSync(path, mode)),
    utimes: (path, atime, mtime) => this.timedAlways(() => utimesSync(path, atime, mtime)),
    rename: (from, to) => this.timedAlways(() => renameSync(from, to)),
    realpath: (path) => this.timedAlways(() => realpathSync(path, { encoding: "buffer" })),
    lstat: (path) => this.timedAlways(() => lstatSync(path)),
  };

  /** A call made whatever the pause: the write it belongs to was begun on this thread. */
  private timedAlways<T>(call: () => T): T {
    const started = performance.now();
    try {
      return call();
    } finally {
      this.took(performance.now() - started);
    }
  }

  /** A call made only while the tree is quick; undefined, nothing done, during a pause. */
  private timed<T>(call: () => T): T | undefined {
    return performance.now() < this.slowUntil ? undefined : this.timedAlways(call);
  }

  private took(ms: number): void {
    this.average += NEWEST * (Math.min(ms, 2 * this.limits.slowMs) - this.average);
    if (this.average <= this.limits.slowMs) return;
    this.slowUntil = performance.now() + this.limits.pauseMs;
    this.average = 0;
  }
}

/** Filesystem calls as a write makes them: each may answer at once or later. */
export interface FileCalls {
  chown(path: string | Buffer, uid: number, gid: number): void | Promise<void>;
  chmod(path: string | Buffer, mode: number): void | Promise<void>;
  utimes(path: string | Buffer, atime: number, mtime: number): void | Promise<void>;
  rename(from: string | Buffer, to: string | Buffer): void | Promise<void>;
  realpath(path: string | Buffer): Buffer | Promise<Buffer>;
  lstat(path: string | Buffer): Stats | Promise<Stats>;
}

const POOLED_CALLS: FileCalls = {
  chown,
  chmod,
  utimes,
  rename,
  realpath: (path) => realpath(path, { encoding: "buffer" }),
  lstat,
};

function createWholeNow(path: string | Buffer, data: Buffer): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o666);
  try {
    for (let written = 0; written < data.length; ) written += writeSync(fd, data, written, data.length - written);
  } finally {
    closeSync(fd);
  }
}

function readWholeNow(path: string | Buffer, max: number): ReadNow | undefined {
  let fd: number;
  let buffer: Buffer | undefined;
  try {
    fd = openNoFollow(path);
  } catch {
    return undefined;
  }
  try {
    const opened = fstatSync(fd);
    if (!opened.isFile() || opened.size > max) return { opened };
    // One byte more than the size is asked for, so a file that grew is seen.
    buffer = bodyBuffers.take(opened.size + 1);
    let filled = 0;
    for (let got = -1; got !== 0 && filled < buffer.length; filled += got) {
      got = readSync(fd, buffer, filled, buffer.length - filled, filled);
    }
    if (filled === opened.size && heldStill(opened, fstatSync(fd))) return { opened, data: buffer.subarray(0, filled) };
    bodyBuffers.giveBack(buffer);
    return { opened, moved: true };
  } catch {
    if (buffer) bodyBuffers.giveBack(buffer);
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens without updating atime, as every read of Strata's does (O_NOATIME is refused, EPERM, on
 * a file not the caller's: then opened plainly); O_NOFOLLOW: a symlink put in a file's place is
 * left to the caller's own read; O_NONBLOCK: a named pipe put there would otherwise block the
 * open, and this thread, until something wrote to it (a regular file ignores the flag). The
 * caller's fstat then sees what was opened.
 */
export function openNoFollow(path: string | Buffer): number {
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  try {
    return openSync(path, flags | constants.O_NOATIME);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") throw err;
    return openSync(path, flags);
  }
}

function heldStill(before: Stats, after: Stats): boolean {
  return after.size === before.size && after.mtimeMs === before.mtimeMs && after.ctimeMs === before.ctimeMs;
}
