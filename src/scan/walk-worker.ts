import {
  type BigIntStats,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  type Stats,
} from "node:fs";
import { parentPort, workerData } from "node:worker_threads";
import { bytesToKey, isExactName, pathUnder } from "../backends/keys.js";
import { PARTIAL_PREFIX } from "../backends/posix/posix-backend.js";
import type { FileKind } from "../catalog/schema.js";
import { mayBeStub, parseStub, type StubRecord } from "../codec/stub.js";
import type { EntryTuple, WalkerInit, WalkReply, WalkRequest } from "./walk-protocol.js";

/**
 * A walker thread: synchronous readdir + lstat, one directory per request. Synchronous calls in
 * a few threads walk an order of magnitude faster than the promise API (no per-call promise and
 * thread-pool hop), and the threads keep the main thread free for catalog writes.
 */
const { root } = workerData as WalkerInit;
const port = parentPort;
const POST_EVERY = 2048;

if (!port) throw new Error("walk-worker must run as a worker thread");

port.on("message", ({ dir }: WalkRequest) => {
  const subdirs: string[] = [];
  let batch: EntryTuple[] = [];
  const post = (reply: WalkReply) => port.postMessage(reply);
  for (const name of readNames(dir, post)) {
    if (name.startsWith(PARTIAL_PREFIX)) continue;
    const key = dir === "" ? name : `${dir}/${name}`;
    let stats: Stats | BigIntStats | undefined;
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
    const kind = kindOf(stats as Stats);
    if (kind === "dir") subdirs.push(key);
    const tuple = toTuple(key, kind, stats as Stats);
    if (kind === "file" && mayBeStub(stats.size as number)) {
      const stub = readStub(key, stats as Stats);
      if (stub) tuple.push(stub);
    }
    batch.push(tuple);
    if (batch.length >= POST_EVERY) {
      post({ type: "entries", entries: batch });
      batch = [];
    }
  }
  if (batch.length > 0) post({ type: "entries", entries: batch });
  post({ type: "done", dir, subdirs });
});

function readNames(dir: string, post: (reply: WalkReply) => void): string[] {
  try {
    const names = readdirSync(fsPath(dir));
    // Names that were not valid UTF-8 came back lossy; read them again as bytes.
    if (names.every(isExactName)) return names;
    return readdirSync(fsPath(dir), { encoding: "buffer" }).map(bytesToKey);
  } catch (err) {
    post({ type: "problem", path: dir === "" ? "." : dir, message: (err as Error).message, unreadableDir: true });
    return [];
  }
}

function fsPath(key: string): string | Buffer {
  return pathUnder(root, key);
}

/**
 * The record of a stub-sized file that is a Strata stub. Read here, off the main thread, and only
 * for the rare file whose size says it may be one. A file that changed since its lstat (or cannot
 * be read) is left as an ordinary entry; the next scan looks again.
 */
function readStub(key: string, seen: Stats): StubRecord | undefined {
  let fd: number | undefined;
  try {
    fd = openWithoutAtime(fsPath(key));
    const now = fstatSync(fd);
    if (now.ino !== seen.ino || now.size !== seen.size || now.mtimeMs !== seen.mtimeMs) return undefined;
    const bytes = Buffer.alloc(seen.size);
    const read = readSync(fd, bytes, 0, bytes.length, 0);
    return read === bytes.length ? parseStub(bytes) : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Strata's reads must not look like a user's to atime-based policies; O_NOATIME is the owner's only. */
function openWithoutAtime(path: string | Buffer): number {
  try {
    return openSync(path, constants.O_RDONLY | constants.O_NOATIME);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") throw err;
    return openSync(path, constants.O_RDONLY);
  }
}

function kindOf(stats: Stats): FileKind {
  if (stats.isFile()) return "file";
  if (stats.isDirectory()) return "dir";
  if (stats.isSymbolicLink()) return "symlink";
  return "other";
}

function toTuple(key: string, kind: FileKind, s: Stats): EntryTuple {
  return [
    key,
    kind,
    s.size,
    Math.round(s.mtimeMs * 1000),
    Math.round(s.atimeMs * 1000),
    Math.round(s.ctimeMs * 1000),
    s.mode,
    s.uid,
    s.gid,
    s.ino,
  ];
}
