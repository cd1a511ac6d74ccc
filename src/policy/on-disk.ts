import type { Stats } from "node:fs";
import { lstat } from "node:fs/promises";
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
