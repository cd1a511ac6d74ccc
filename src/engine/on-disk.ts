import type { Stats } from "node:fs";
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
  // The tree's own stat: on the calling thread while the tree answers quickly.
  const now = await source.stat(planned.path);
  if (!now) return "the file is gone from disk since the plan (or is no regular file now)";
  if (now.size !== planned.size || now.modifiedUs !== planned.mtime_us) {
    return "the file changed on disk since the plan";
  }
  return undefined;
}

/** A file's bytes as planned, or why the file is no longer the version planned. */
export type FreshRead = { data: Buffer } | { stale: string };

/**
 * A small file of a tree read whole on the calling thread (FileTree.readNow), or why it is not
 * the version planned: the open file must have the planned size and mtime, and keep them (and
 * its ctime) while it is read. Undefined when the file cannot be read this way (the tree is slow
 * just now, a symlink, a permission, an I/O error): the backend's read then tells, and retries
 * what is worth retrying.
 */
export function readSmallFile(
  tree: FileTree,
  file: { path: string; size: number; mtime_us: number },
): FreshRead | undefined {
  // At most the planned size: a file that grew is not read, its size says it changed.
  const now = tree.readNow(file.path, file.size);
  if (!now) return undefined;
  if (!now.opened.isFile()) return { stale: "the path is no longer a regular file" };
  if (now.opened.size !== file.size || usOf(now.opened.mtimeMs) !== file.mtime_us) {
    return { stale: "the file changed on disk since the plan" };
  }
  if (now.moved) return { stale: "the file changed while it was being read" };
  return now.data ? { data: now.data } : undefined;
}
