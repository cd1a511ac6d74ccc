import { closeSync, fstatSync, lstatSync, readdirSync, readSync, type Stats } from "node:fs";
import { bytesToKey, isExactName, pathUnder } from "../backends/keys.js";
import { PARTIAL_PREFIX } from "../backends/posix/posix-backend.js";
import { openNoFollow } from "../backends/quick-files.js";
import type { FileKind } from "../catalog/schema.js";
import type { StubRecord } from "../codec/stub.js";
import { mayBeStub, startsLikeStub } from "../codec/stub-shape.js";
import { batchTransferList, ENTRIES_PER_MESSAGE, EntryBatchBuilder, type ScannedEntry } from "./entry-batch.js";
import type { WalkReply } from "./walk-protocol.js";

/** Where a walker's replies go, with the buffers that may be moved rather than copied. */
export type PostWalkReply = (reply: WalkReply, transfer?: ArrayBuffer[]) => void;

/**
 * One walker's work: synchronous readdir + lstat, one directory per call, its entries packed
 * (entry-batch.ts) and posted in batches, then its subdirectories. Synchronous calls walk an
 * order of magnitude faster than the promise API (no per-call promise and thread-pool hop).
 * Calls must not overlap: they share one batch being filled.
 */
export function dirWalker(root: string, post: PostWalkReply): (dir: string) => Promise<void> {
  const batch = new EntryBatchBuilder(ENTRIES_PER_MESSAGE);
  const fsPath = (key: string): string | Buffer => pathUnder(root, key);
  const postEntries = () => {
    const entries = batch.take();
    post({ type: "entries", batch: entries }, batchTransferList(entries));
  };

  return async (dir) => {
    const subdirs: string[] = [];
    for (const name of readNames(fsPath(dir), dir, post)) {
      if (name.startsWith(PARTIAL_PREFIX)) continue;
      const key = dir === "" ? name : `${dir}/${name}`;
      let stats: Stats | undefined;
      try {
        stats = lstatSync(fsPath(key), { throwIfNoEntry: false });
      } catch (err) {
        post({ type: "problem", path: key, message: (err as Error).message, unreadableDir: false });
        continue;
      }
      if (!stats) {
        post({ type: "problem", path: key, message: "vanished during the scan", unreadableDir: false });
        continue;
      }
      const kind = kindOf(stats);
      if (kind === "dir") subdirs.push(key);
      const stub = kind === "file" && mayBeStub(stats.size) ? await readStub(fsPath(key), stats) : undefined;
      batch.add(toEntry(key, kind, stats, stub));
      if (batch.full) postEntries();
    }
    if (batch.length > 0) postEntries();
    post({ type: "done", dir, subdirs });
  };
}

function readNames(path: string | Buffer, dir: string, post: PostWalkReply): string[] {
  try {
    const names = readdirSync(path);
    // Names that were not valid UTF-8 came back lossy; read them again as bytes.
    if (names.every(isExactName)) return names;
    return readdirSync(path, { encoding: "buffer" }).map(bytesToKey);
  } catch (err) {
    post({ type: "problem", path: dir === "" ? "." : dir, message: (err as Error).message, unreadableDir: true });
    return [];
  }
}

/**
 * The record of a stub-sized file that is a Strata stub. Read by the walker, and only for the
 * rare file whose size says it may be one; parsed only when its first bytes agree. A file
 * that changed since its lstat (or cannot be read) is left as an ordinary entry; the next scan
 * looks again.
 */
async function readStub(path: string | Buffer, seen: Stats): Promise<StubRecord | undefined> {
  let fd: number | undefined;
  try {
    // Not following a symlink put in the file's place since its lstat; atime left as it was.
    fd = openNoFollow(path);
    const now = fstatSync(fd);
    if (now.ino !== seen.ino || now.size !== seen.size || now.mtimeMs !== seen.mtimeMs) return undefined;
    const bytes = Buffer.alloc(seen.size);
    const read = readSync(fd, bytes, 0, bytes.length, 0);
    // The parser (and the schema library under it) loads only for a file that begins as a stub.
    if (read !== bytes.length || !startsLikeStub(bytes)) return undefined;
    const { parseStub } = await import("../codec/stub.js");
    return parseStub(bytes);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function kindOf(stats: Stats): FileKind {
  if (stats.isFile()) return "file";
  if (stats.isDirectory()) return "dir";
  if (stats.isSymbolicLink()) return "symlink";
  return "other";
}

function toEntry(key: string, kind: FileKind, s: Stats, stub: StubRecord | undefined): ScannedEntry {
  return {
    path: key,
    kind,
    size: s.size,
    mtimeUs: Math.round(s.mtimeMs * 1000),
    atimeUs: Math.round(s.atimeMs * 1000),
    ctimeUs: Math.round(s.ctimeMs * 1000),
    mode: s.mode,
    uid: s.uid,
    gid: s.gid,
    inode: s.ino,
    stub,
  };
}
