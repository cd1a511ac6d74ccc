import type { FileKind } from "../../catalog/schema.js";

/** How a number given as `N`, `+N` or `-N` compares, as GNU find reads it. */
export type Comparison = "exactly" | "more" | "less";

export type TimeField = "mtime" | "atime" | "ctime";

/** The states `-state` knows (the agreed words; a file can be in more than one). */
export const FIND_STATES = ["present", "released", "deleted", "lost", "archived", "restoring"] as const;
export type FindState = (typeof FIND_STATES)[number];

/** One test of the expression, as parsed: values checked, names resolved where no catalog is needed. */
export type Test =
  | { kind: "name"; pattern: string; caseless: boolean }
  | { kind: "path"; pattern: string; caseless: boolean }
  /** GNU's -size: the size rounded up to units of `unit` bytes, compared with `count`. */
  | { kind: "size"; comparison: Comparison; count: number; unit: number }
  /** GNU's -mtime N: whole days of age (fractions dropped) compared with `days`. */
  | { kind: "age"; field: TimeField; comparison: Comparison; days: number }
  /** -newermt DATE: strictly newer than the instant. */
  | { kind: "newer"; field: TimeField; afterMs: number }
  | { kind: "user"; uid: number }
  | { kind: "group"; gid: number }
  | { kind: "type"; kinds: FileKind[] }
  | { kind: "empty" }
  | { kind: "class"; storageClass: string }
  | { kind: "state"; state: FindState }
  /** A replica present or archived at the location (by name; resolved against the catalog). */
  | { kind: "at"; location: string }
  /** Verified copies: replicas present or archived whose checksum was checked. */
  | { kind: "copies"; comparison: Comparison; count: number }
  | { kind: "tag"; key: string; value: string | undefined }
  | { kind: "hash"; prefix: string }
  /** `none`: stored as the file's bytes are. */
  | { kind: "codec"; codec: string | null };

export type Expression =
  | { op: "and" | "or"; left: Expression; right: Expression }
  | { op: "not"; operand: Expression }
  | { op: "test"; test: Test };

/** True when some test of the expression asks about states (then deleted entries are candidates too). */
export function mentionsState(expression: Expression | undefined): boolean {
  if (expression === undefined) return false;
  switch (expression.op) {
    case "test":
      return expression.test.kind === "state";
    case "not":
      return mentionsState(expression.operand);
    default:
      return mentionsState(expression.left) || mentionsState(expression.right);
  }
}
