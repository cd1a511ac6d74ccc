import type { FileKind } from "../catalog/schema.js";
import type { StubRecord } from "../codec/stub.js";

/** Messages between the scan coordinator and its walker threads. */

export interface WalkerInit {
  root: string;
}

export interface WalkRequest {
  dir: string;
}

/**
 * path, kind, size, mtimeUs, atimeUs, ctimeUs, mode, uid, gid, inode, and the stub's record when
 * the entry is a Strata stub: a tuple clones fastest.
 */
export type EntryTuple = [
  string,
  FileKind,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  number,
  StubRecord?,
];

export type WalkReply =
  | { type: "entries"; entries: EntryTuple[] }
  | { type: "problem"; path: string; message: string; unreadableDir: boolean }
  | { type: "done"; dir: string; subdirs: string[] };
