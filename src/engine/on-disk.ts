import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { lstat } from "node:fs/promises";
import type { Backend, FileTree } from "../backends/backend.js";
import type { FileRow } from "../catalog/schema.js";

/** Microseconds of a stat time, as the scanner records them. */
export function usOf(ms: number): number {
  return Math.round(ms * 1000);
}

export async function lstatIfAny(path: string | Buffer): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Why the entry on disk is no longer the version the catalog holds, if it is not. Release and
 * purge act on a file only while it is: same inode, size and mtime as the last scan saw.
 */
export function changedOnDisk(stats: Stats | undefined, file: FileRow): string | undefined {
  if (!stats) return "the file is gone from disk";
  if (!stats.isFile()) return "the path is no longer a regular file";
  if (stats.size !== file.size || usOf(stats.mtimeMs) !== file.mtime_us || stats.ino !== file.inode) {
    return "the file changed on disk since the last scan";
  }
  return undefined;
}

/**
 * Why a POSIX source's file is no longer the version a copy was planned for (its size or mtime
 * moved, or it is gone), if it is not; a location that is no file tree answers undefined: its
 * objects are checked by the hash the copy must carry.
 */
export async function changedSince(
  source: Backend,
  planned: { path: string; size: number; mtime_us: number },
): Promise<string | undefined> {
  if (!source.tree) return undefined;
  const stats = await lstatIfAny(source.tree.fsPath(planned.path));
  if (!stats) return "the file is gone from disk since the plan";
  if (stats.size !== planned.size || usOf(stats.mtimeMs) !== planned.mtime_us) {
    return "the file changed on disk since the plan";
  }
  return undefined;
}

/** A file's bytes as planned, or why the file is no longer the version planned. */
export type FreshRead = { data: Buffer } | { stale: string };

/**
 * A small file of a tree read whole with one positional read, or why it is not the version
 * planned: its size and mtime are checked on the open file before the read, and the file must
 * still have them (and its ctime) after it, as the backend's stream read checks. One byte more
 * than planned is asked for, so a file that grew is seen. Undefined when the file cannot be
 * opened or read this way (a symlink now, a permission, an I/O error): the backend's read then
 * tells, and retries what is worth retrying.
 */
export function readSmallFile(
  tree: FileTree,
  file: { path: string; size: number; mtime_us: number },
): FreshRead | undefined {
  let fd: number;
  try {
    fd = openNoFollow(tree.fsPath(file.path));
  } catch {
    return undefined;
  }
  try {
    const before = fstatSync(fd);
    if (!before.isFile()) return { stale: "the path is no longer a regular file" };
    if (before.size !== file.size || usOf(before.mtimeMs) !== file.mtime_us) {
      return { stale: "the file changed on disk since the plan" };
    }
    const buffer = Buffer.allocUnsafe(file.size + 1);
    let filled = 0;
    for (let got = -1; got !== 0 && filled < buffer.length; filled += got) {
      got = readSync(fd, buffer, filled, buffer.length - filled, filled);
    }
    if (filled !== file.size || !heldStill(before, fstatSync(fd))) {
      return { stale: "the file changed while it was being read" };
    }
    return { data: buffer.subarray(0, filled) };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Opens without updating atime, as the backend's reads do (O_NOATIME is refused, EPERM, on a
 * file not the caller's: then opened plainly); O_NOFOLLOW: a symlink put in its place is not followed.
 */
function openNoFollow(path: string | Buffer): number {
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW;
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
