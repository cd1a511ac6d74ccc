import type { Stats } from "node:fs";
import { lstat } from "node:fs/promises";
import type { Backend } from "../backends/backend.js";
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
