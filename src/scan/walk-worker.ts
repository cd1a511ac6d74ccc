import { closeSync, fstatSync, lstatSync, readdirSync, readSync, type Stats } from "node:fs";
import { type MessagePort, parentPort, workerData } from "node:worker_threads";
import { bytesToKey, isExactName, pathUnder } from "../backends/keys.js";
import { PARTIAL_PREFIX } from "../backends/posix/posix-backend.js";
import { openNoFollow } from "../backends/quick-files.js";
import type { FileKind } from "../catalog/schema.js";
import type { StubRecord } from "../codec/stub.js";
import { mayBeStub, startsLikeStub } from "../codec/stub-shape.js";
import { batchTransferList, ENTRIES_PER_MESSAGE, EntryBatchBuilder, type ScannedEntry } from "./entry-batch.js";
import type { WalkerInit, WalkReply, WalkRequest } from "./walk-protocol.js";

/**
 * A walker thread: synchronous readdir + lstat, one directory per request. Synchronous calls in
 * a few threads walk an order of magnitude faster than the promise API (no per-call promise and
 * thread-pool hop). Entries go out packed (entry-batch.ts) for the catalog writer thread.
 */
const { root } = workerData as WalkerInit;
const port = parentPort;

if (!port) throw new Error("walk-worker must run as a worker thread");

const batch = new EntryBatchBuilder(ENTRIES_PER_MESSAGE);

// Requests are walked one after another: a directory holding a stub-sized file waits for the
// stub parser to load, and the next directory must not start meanwhile (they share `batch`).
let walking: Promise<void> = Promise.resolve();
port.on("message", ({ dir }: WalkRequest) => {
  walking = walking
    .then(() => walkDir(dir, port))
    .catch((err: unknown) => {
      // Thrown outside the chain: the thread fails as it did when walking was synchronous.
      process.nextTick(() => {
        throw err;
      });
    });
});

async function walkDir(dir: string, port: MessagePort): Promise<void> {
  const subdirs: string[] = [];
  const post = (reply: WalkReply, transfer: ArrayBuffer[] = []) => port.postMessage(reply, transfer);
  const postEntries = () => {
    const entries = batch.take();
    post({ type: "entries", batch: entries }, batchTransferList(entries));
  };
  for (const name of readNames(dir, post)) {
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
    const stub = kind === "file" && mayBeStub(stats.size) ? await readStub(key, stats) : undefined;
    batch.add(toEntry(key, kind, stats, stub));
    if (batch.full) postEntries();
  }
  if (batch.length > 0) postEntries();
  post({ type: "done", dir, subdirs });
}

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
 * for the rare file whose size says it may be one; parsed only when its first bytes agree. A file
 * that changed since its lstat (or cannot be read) is left as an ordinary entry; the next scan
 * looks again.
 */
async function readStub(key: string, seen: Stats): Promise<StubRecord | undefined> {
  let fd: number | undefined;
  try {
    // Not following a symlink put in the file's place since its lstat; atime left as it was.
    fd = openNoFollow(fsPath(key));
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
