import type { FileKind } from "../../catalog/schema.js";
import { UsageError } from "../../config/errors.js";
import { principalId, unknownPrincipal } from "../../policy/selector.js";
import {
  type Comparison,
  type Expression,
  FIND_STATES,
  type FindState,
  type Test,
  type TimeField,
} from "./expression.js";

/** How the selection is printed: GNU's output words, and Strata's machine formats. */
export type FindOutput =
  | { kind: "print"; separator: "\n" | "\0" }
  | { kind: "ls" }
  | { kind: "printf"; format: string }
  | { kind: "count" }
  | { kind: "ndjson" }
  | { kind: "csv" };

export const SORT_FIELDS = ["location", "path", "name", "size", "mtime", "atime", "ctime", "user", "group"] as const;
export type SortField = (typeof SORT_FIELDS)[number];
export interface SortKey {
  field: SortField;
  descending: boolean;
}

/** A parsed `strata find` command line: where to look, what to select, how to print it. */
export interface FindQuery {
  /** `LOCATION[:PATH]` as typed; none means every location. */
  operands: string[];
  /** Undefined: everything under the operands. */
  expression: Expression | undefined;
  output: FindOutput;
  sort: SortKey[];
  limit: number | undefined;
  explain: boolean;
}

/** Tag keys as policy selectors know them (the agreed spec). */
export const TAG_KEY = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * Operands, then an expression with GNU find's words and Strata's own, and `--` options
 * anywhere the expression expects a word. Every mistake throws a UsageError naming the word.
 */
export function parseFindArgs(args: readonly string[]): FindQuery {
  const query: FindQuery = {
    operands: [],
    expression: undefined,
    output: { kind: "print", separator: "\n" },
    sort: [],
    limit: undefined,
    explain: false,
  };
  const words = new Words(args, query);
  // Operands come first; `--sort`, `--limit` and the other settings may stand among them too.
  while (!words.atEnd() && !startsExpression(words.peek() as string)) {
    query.operands.push(words.next());
    words.skipSettings();
  }
  query.expression = words.atEnd() ? undefined : parseOr(words);
  if (!words.atEnd()) throw new UsageError(`find: ${words.peekShown()}: unexpected here (no "(" to close)`);
  return query;
}

function startsExpression(arg: string): boolean {
  return (arg.startsWith("-") && arg !== "-") || arg === "(" || arg === "!" || arg === ")";
}

/**
 * The expression's words, with output words and `--` options taken out as they are met, so
 * the grammar below sees only tests, operators and parentheses.
 */
class Words {
  private at = 0;
  private outputWord: string | undefined;

  constructor(
    private readonly args: readonly string[],
    private readonly query: FindQuery,
  ) {
    this.skipSettings();
  }

  atEnd(): boolean {
    return this.at >= this.args.length;
  }

  peek(): string | undefined {
    return this.args[this.at];
  }

  peekShown(): string {
    return JSON.stringify(this.peek() ?? "");
  }

  next(): string {
    return this.args[this.at++] as string;
  }

  /** The argument of `word`, which must be there. */
  argument(word: string): string {
    if (this.atEnd()) throw new UsageError(`find: ${word}: missing argument`);
    return this.args[this.at++] as string;
  }

  /** Output words and `--` options between tests: recorded, and stepped over. */
  skipSettings(): void {
    while (!this.atEnd()) {
      const word = this.peek() as string;
      const output = this.outputOf(word);
      if (output !== undefined) this.setOutput(word, output);
      else if (!this.option(word)) return;
    }
  }

  /** The output a word chooses (stepping over it and its argument), or undefined for another word. */
  private outputOf(word: string): FindOutput | undefined {
    switch (word) {
      case "-print":
        this.at++;
        return { kind: "print", separator: "\n" };
      case "-print0":
        this.at++;
        return { kind: "print", separator: "\0" };
      case "-ls":
        this.at++;
        return { kind: "ls" };
      case "-count":
        this.at++;
        return { kind: "count" };
      case "--ndjson":
        this.at++;
        return { kind: "ndjson" };
      case "--csv":
        this.at++;
        return { kind: "csv" };
      case "-printf":
        this.at++;
        return { kind: "printf", format: this.argument(word) };
      default:
        return undefined;
    }
  }

  private setOutput(word: string, output: FindOutput): void {
    if (this.outputWord !== undefined && this.outputWord !== word) {
      throw new UsageError(`find: ${word}: one output at a time (${this.outputWord} was given already)`);
    }
    this.outputWord = word;
    this.query.output = output;
  }

  private option(word: string): boolean {
    switch (word) {
      case "--explain":
        this.at++;
        this.query.explain = true;
        return true;
      case "--limit": {
        this.at++;
        const value = this.argument(word);
        if (!/^\d+$/.test(value) || Number(value) < 1) {
          throw new UsageError(`find: --limit ${value}: not a whole number of at least 1`);
        }
        this.query.limit = Number(value);
        return true;
      }
      case "--sort": {
        this.at++;
        this.query.sort.push(...parseSort(this.argument(word)));
        return true;
      }
      default:
        return false;
    }
  }
}

function parseSort(value: string): SortKey[] {
  return value.split(",").map((part) => {
    const descending = part.startsWith("-");
    const field = descending ? part.slice(1) : part;
    if (!(SORT_FIELDS as readonly string[]).includes(field)) {
      throw new UsageError(`find: --sort ${value}: unknown field "${field}" (fields: ${SORT_FIELDS.join(", ")})`);
    }
    return { field: field as SortField, descending };
  });
}

// The grammar, loosest first: or := and (-o and)*; and := unary ([-a] unary)*; unary := ! unary | ( or ) | test.

function parseOr(words: Words): Expression {
  let left = parseAnd(words);
  while (words.peek() === "-o" || words.peek() === "-or") {
    const word = words.next();
    words.skipSettings();
    if (words.atEnd() || words.peek() === ")") throw new UsageError(`find: ${word}: missing expression after it`);
    left = { op: "or", left, right: parseAnd(words) };
  }
  return left;
}

function parseAnd(words: Words): Expression {
  let left = parseUnary(words);
  for (;;) {
    words.skipSettings();
    const word = words.peek();
    if (word === undefined || word === ")" || word === "-o" || word === "-or") return left;
    if (word === "-a" || word === "-and") {
      words.next();
      words.skipSettings();
      if (words.atEnd() || words.peek() === ")") throw new UsageError(`find: ${word}: missing expression after it`);
    }
    left = { op: "and", left, right: parseUnary(words) };
  }
}

function parseUnary(words: Words): Expression {
  words.skipSettings();
  const word = words.peek();
  if (word === undefined) throw new UsageError("find: the expression ends where a test was expected");
  if (word === "!" || word === "-not") {
    words.next();
    words.skipSettings();
    if (words.atEnd() || words.peek() === ")") throw new UsageError(`find: ${word}: missing expression after it`);
    return { op: "not", operand: parseUnary(words) };
  }
  if (word === "(") {
    words.next();
    words.skipSettings();
    if (words.peek() === ")") throw new UsageError('find: "( )": empty parentheses');
    if (words.atEnd()) throw new UsageError('find: "(": unbalanced parentheses (never closed)');
    const inner = parseOr(words);
    if (words.peek() !== ")") throw new UsageError('find: "(": unbalanced parentheses (never closed)');
    words.next();
    return inner;
  }
  if (word === ")") throw new UsageError('find: ")": unbalanced parentheses (nothing to close)');
  words.next();
  if (word === "-not-at")
    return { op: "not", operand: { op: "test", test: { kind: "at", location: words.argument(word) } } };
  return { op: "test", test: parseTest(word, words) };
}

const TEST_WORDS = [
  "-name",
  "-iname",
  "-path",
  "-ipath",
  "-size",
  "-mtime",
  "-atime",
  "-ctime",
  "-newermt",
  "-newerat",
  "-newerct",
  "-user",
  "-uid",
  "-group",
  "-gid",
  "-type",
  "-empty",
  "-class",
  "-state",
  "-at",
  "-not-at",
  "-copies",
  "-tag",
  "-hash",
  "-codec",
] as const;

function parseTest(word: string, words: Words): Test {
  const arg = () => words.argument(word);
  switch (word) {
    case "-name":
    case "-iname":
      return { kind: "name", pattern: namePattern(word, arg()), caseless: word === "-iname" };
    case "-path":
    case "-ipath":
      return { kind: "path", pattern: arg(), caseless: word === "-ipath" };
    case "-size":
      return parseSizeTest(word, arg());
    case "-mtime":
    case "-atime":
    case "-ctime": {
      const value = arg();
      const { comparison, count } = parseCount(`${word} ${value}`, value, "whole days");
      return { kind: "age", field: word.slice(1) as TimeField, comparison, days: count };
    }
    case "-newermt":
    case "-newerat":
    case "-newerct": {
      const value = arg();
      const field = ({ m: "mtime", a: "atime", c: "ctime" } as const)[word.charAt(6) as "m" | "a" | "c"];
      return { kind: "newer", field, afterMs: parseDate(`${word} ${value}`, value) };
    }
    case "-user":
    case "-uid":
      return { kind: "user", uid: principal(word, "owner", arg()) };
    case "-group":
    case "-gid":
      return { kind: "group", gid: principal(word, "group", arg()) };
    case "-type":
      return { kind: "type", kinds: parseTypes(word, arg()) };
    case "-empty":
      return { kind: "empty" };
    case "-class":
      return { kind: "class", storageClass: nonEmpty(word, arg()) };
    case "-state": {
      const value = arg();
      if (!(FIND_STATES as readonly string[]).includes(value)) {
        throw new UsageError(`find: -state ${value}: unknown state (states: ${FIND_STATES.join(", ")})`);
      }
      return { kind: "state", state: value as FindState };
    }
    case "-at":
      return { kind: "at", location: nonEmpty(word, arg()) };
    case "-copies": {
      const value = arg();
      const { comparison, count } = parseCount(`${word} ${value}`, value, "a whole number of copies");
      return { kind: "copies", comparison, count };
    }
    case "-tag":
      return parseTag(word, arg());
    case "-hash": {
      const value = arg();
      if (!/^[0-9a-f]{1,64}$/i.test(value)) {
        throw new UsageError(`find: -hash ${value}: not a prefix of a SHA-256 (1 to 64 hex digits)`);
      }
      return { kind: "hash", prefix: value.toLowerCase() };
    }
    case "-codec": {
      const value = nonEmpty(word, arg());
      return { kind: "codec", codec: value === "none" ? null : value };
    }
    default:
      throw new UsageError(`find: ${JSON.stringify(word)}: unknown word${suggestion(word)}`);
  }
}

function suggestion(word: string): string {
  if (!word.startsWith("-")) return ` (a location operand goes before the expression; tests: ${TEST_WORDS.join(" ")})`;
  const close = TEST_WORDS.find((known) => known.startsWith(word) || word.startsWith(known));
  return close ? `; did you mean ${close}?` : "";
}

function nonEmpty(word: string, value: string): string {
  if (value === "") throw new UsageError(`find: ${word} "": empty argument`);
  return value;
}

/** GNU: -name matches the last component, so a pattern holding `/` can never match; say so. */
function namePattern(word: string, pattern: string): string {
  if (pattern.includes("/")) {
    throw new UsageError(`find: ${word} ${pattern}: a name never contains "/" (use -path for the whole path)`);
  }
  return pattern;
}

function parseCount(shown: string, value: string, what: string): { comparison: Comparison; count: number } {
  const match = /^([+-]?)(\d+)$/.exec(value);
  if (!match) throw new UsageError(`find: ${shown}: not N, +N or -N (${what})`);
  return { comparison: comparisonOf(match[1] as string), count: Number(match[2]) };
}

function comparisonOf(sign: string): Comparison {
  return sign === "+" ? "more" : sign === "-" ? "less" : "exactly";
}

/** GNU find's size units (not Strata's size words: a bare number is 512-byte blocks there). */
const SIZE_UNITS: Record<string, number> = {
  "": 512,
  b: 512,
  c: 1,
  w: 2,
  k: 1024,
  M: 1024 ** 2,
  G: 1024 ** 3,
  T: 1024 ** 4,
};

function parseSizeTest(word: string, value: string): Test {
  const match = /^([+-]?)(\d+)([a-zA-Z]?)$/.exec(value);
  const unit = match ? SIZE_UNITS[match[3] as string] : undefined;
  if (!match || unit === undefined) {
    throw new UsageError(`find: ${word} ${value}: bad size (N, +N or -N, then c, w, b, k, M, G or T; b if none)`);
  }
  return { kind: "size", comparison: comparisonOf(match[1] as string), count: Number(match[2]), unit };
}

/**
 * An ISO 8601 date or date and time. A date alone, or a time without a zone, is local time,
 * as GNU find reads `-newermt 2024-01-01`.
 */
function parseDate(shown: string, value: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.exec(
    value,
  );
  const ms = match ? dateMs(match) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new UsageError(`find: ${shown}: bad date (YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM])`);
  }
  return ms;
}

function dateMs(match: RegExpExecArray): number {
  const [, y, mo, d, h = "00", mi = "00", s = "00", fraction = "", zone] = match as unknown as string[];
  const text = `${y}-${mo}-${d}T${h}:${mi}:${s}${fraction}${zone ?? ""}`;
  const ms = Date.parse(text);
  // Date.parse rolls 2024-02-31 over to March; a date that does not exist is a typo.
  const check = new Date(ms);
  const day = zone === undefined ? check.getDate() : Number(d);
  return day === Number(d) && Number(mo) >= 1 && Number(mo) <= 12 ? ms : Number.NaN;
}

function principal(word: string, role: "owner" | "group", value: string): number {
  const id = principalId(role, value);
  if (id === undefined) throw new UsageError(`find: ${word} ${value}: ${unknownPrincipal(role, value)}`);
  return id;
}

const TYPE_LETTERS: Record<string, FileKind> = { f: "file", d: "dir", l: "symlink" };

function parseTypes(word: string, value: string): FileKind[] {
  const letters = value.split(",");
  if (letters.some((l) => TYPE_LETTERS[l] === undefined)) {
    throw new UsageError(`find: ${word} ${value}: unknown type (f, d or l, or several joined by ",")`);
  }
  return [...new Set(letters.map((l) => TYPE_LETTERS[l] as FileKind))];
}

function parseTag(word: string, value: string): Test {
  const equals = value.indexOf("=");
  const key = equals < 0 ? value : value.slice(0, equals);
  if (!TAG_KEY.test(key)) {
    throw new UsageError(`find: ${word} ${value}: bad KEY=VALUE (a key is 1 to 128 of A-Z a-z 0-9 _ . : -)`);
  }
  return { kind: "tag", key, value: equals < 0 ? undefined : value.slice(equals + 1) };
}
