import { readFileSync } from "node:fs";
import { type AliasableExpression, type Expression, type ExpressionBuilder, type SqlBool, sql } from "kysely";
import type { Dialect } from "../catalog/migrations.js";
import type { CatalogSchema, FileTable } from "../catalog/schema.js";
import { UsageError } from "../config/errors.js";
import { globRange, type PathRange, pathMatcher } from "./filter.js";
import type { ReplicaCondition, Selector } from "./schema.js";

/**
 * Selectors compiled to catalog queries. Every condition but a path glob is exact SQL. A glob
 * narrows the query by its literal base (a path range the files index serves), and picomatch
 * decides the rest on the rows returned. So the query is a superset of the matches, and a
 * residual test on each row makes it exact: where an exact condition sits under `any` or `not`
 * beside a glob, its value comes back as one bit of a `sel_flags` column.
 */

export type FilesDb = CatalogSchema & { f: FileTable };
export type FilesEb = ExpressionBuilder<FilesDb, "f">;
type Condition = (eb: FilesEb) => Expression<SqlBool>;

export interface SelectorContext {
  nowMs: number;
  dialect: Dialect;
  /** Catalog ids of location names; a location not in the catalog holds no replicas yet. */
  locationIds: ReadonlyMap<string, number>;
}

/** What the planner's query needs: a where clause, a flags column, and a test per row. */
export interface CompiledSelector {
  /** Every match satisfies it (more rows may); undefined: nothing to narrow by. */
  where: Condition | undefined;
  /** Select it `as sel_flags`: the values of exact conditions the test cannot know. */
  flags(eb: FilesEb): AliasableExpression<number>;
  /** Exact, on a row the query returned. */
  test(row: SelectedRow): boolean;
}

export interface SelectedRow {
  path: string;
  sel_flags: number | string;
}

/** One node: its SQL (exact, or a superset when `exact` is false), and how it decides a row. */
type Node =
  | { kind: "exact"; sql: Condition | undefined }
  | { kind: "glob"; sql: Condition | undefined; matches: (path: string) => boolean }
  | { kind: "all" | "any"; sql: Condition | undefined; children: Node[] }
  | { kind: "not"; sql: Condition | undefined; child: Node };

const TRUE: Condition = () => sql<SqlBool>`1 = 1`;
const FALSE: Condition = () => sql<SqlBool>`1 = 0`;

export function compileSelector(selector: Selector, context: SelectorContext): CompiledSelector {
  const root = compileNode(selector, context);
  const bits: Condition[] = [];
  const decide = decider(root, true, bits);
  return {
    where: root.sql,
    flags: (eb) =>
      bits.length === 0
        ? sql<number>`0`
        : sql<number>`${sql.join(
            bits.map((bit, i) => sql`(case when ${bit(eb)} then ${sql.lit(2 ** i)} else 0 end)`),
            sql` + `,
          )}`,
    test: (row) => decide(row.path, Number(row.sel_flags)),
  };
}

/**
 * How a node decides a row. `enforced`: the node's SQL is ANDed into the query's WHERE, so an
 * exact node there holds for every row returned and costs nothing to decide.
 */
function decider(node: Node, enforced: boolean, bits: Condition[]): (path: string, flags: number) => boolean {
  switch (node.kind) {
    case "exact": {
      if (enforced || node.sql === undefined) return () => true;
      const bit = 2 ** bits.length;
      bits.push(node.sql);
      return (_path, flags) => Math.floor(flags / bit) % 2 === 1;
    }
    case "glob":
      return node.matches;
    case "all": {
      const parts = node.children.map((child) => decider(child, enforced, bits));
      return (path, flags) => parts.every((part) => part(path, flags));
    }
    case "any": {
      const parts = node.children.map((child) => decider(child, false, bits));
      return (path, flags) => parts.some((part) => part(path, flags));
    }
    case "not": {
      const part = decider(node.child, false, bits);
      return (path, flags) => !part(path, flags);
    }
  }
}

function compileNode(selector: Selector, context: SelectorContext): Node {
  const parts: Node[] = [];
  const exact = (condition: Condition) => parts.push({ kind: "exact", sql: condition });
  if (selector.path) parts.push(globNode(selector.path));
  if (selector.exclude) parts.push(not(globNode(selector.exclude)));
  if (selector.size) exact(sizeCondition(selector.size));
  ageConditions(selector, context.nowMs).forEach(exact);
  if (selector.kind) {
    const kinds = selector.kind;
    exact((eb) => eb("f.kind", "in", kinds));
  }
  if (selector.type) exact(typeCondition(selector.type));
  if (selector.owner)
    exact(
      idCondition(
        "f.uid",
        selector.owner.map((v) => requirePrincipal("owner", v)),
      ),
    );
  if (selector.group)
    exact(
      idCondition(
        "f.gid",
        selector.group.map((v) => requirePrincipal("group", v)),
      ),
    );
  if (selector.tags) exact(tagCondition(selector.tags, context.dialect));
  if (selector.replica) exact(replicaCondition(selector.replica, context.locationIds));
  if (selector.all)
    parts.push(
      combine(
        "all",
        selector.all.map((s) => compileNode(s, context)),
      ),
    );
  if (selector.any)
    parts.push(
      combine(
        "any",
        selector.any.map((s) => compileNode(s, context)),
      ),
    );
  if (selector.not) parts.push(not(compileNode(selector.not, context)));
  return parts.length === 1 ? (parts[0] as Node) : combine("all", parts);
}

function globNode(patterns: string[]): Node {
  const ranges = patterns.map(globRange);
  const matches = pathMatcher({ include: patterns, exclude: [] });
  if (!ranges.every((range): range is PathRange => range !== undefined))
    return { kind: "glob", sql: undefined, matches };
  return {
    kind: "glob",
    matches,
    sql: (eb) =>
      eb.or(
        ranges.map((range) =>
          "equals" in range
            ? eb("f.path", "=", range.equals)
            : eb.and([eb("f.path", ">=", range.from), eb("f.path", "<", range.below)]),
        ),
      ),
  };
}

function not(child: Node): Node {
  if (child.kind === "exact") {
    const inner = child.sql;
    return { kind: "exact", sql: inner ? (eb) => eb.not(inner(eb)) : FALSE };
  }
  // The negation of a superset is not a superset: the query cannot narrow by it.
  return { kind: "not", sql: undefined, child };
}

function combine(kind: "all" | "any", children: Node[]): Node {
  const sqls = children.map((child) => child.sql);
  const known = sqls.filter((s): s is Condition => s !== undefined);
  const sqlOf: Condition | undefined =
    kind === "all"
      ? known.length === 0
        ? undefined
        : (eb) => eb.and(known.map((s) => s(eb)))
      : known.length < sqls.length
        ? undefined
        : (eb) => eb.or(known.map((s) => s(eb)));
  if (children.every((child) => child.kind === "exact")) return { kind: "exact", sql: sqlOf ?? TRUE };
  return { kind, sql: sqlOf, children };
}

function sizeCondition({ min, max }: { min?: number; max?: number }): Condition {
  return (eb) =>
    eb.and([
      ...(min !== undefined ? [eb("f.size", ">=", min)] : []),
      ...(max !== undefined ? [eb("f.size", "<=", max)] : []),
    ]);
}

const AGES = [
  ["notAccessedFor", "f.atime_us", "older"],
  ["accessedWithin", "f.atime_us", "newer"],
  ["notModifiedFor", "f.mtime_us", "older"],
  ["modifiedWithin", "f.mtime_us", "newer"],
  ["notChangedFor", "f.ctime_us", "older"],
  ["changedWithin", "f.ctime_us", "newer"],
] as const;

/** Times are microseconds in the catalog; durations are milliseconds. */
function ageConditions(selector: Selector, nowMs: number): Condition[] {
  return AGES.flatMap(([key, column, side]) => {
    const ms = selector[key];
    if (ms === undefined) return [];
    const boundaryUs = (nowMs - ms) * 1000;
    return [(eb: FilesEb) => (side === "older" ? eb(column, "<=", boundaryUs) : eb(column, ">", boundaryUs))];
  });
}

/** An extension of the path, or the type detected at scan; either may name it. */
function typeCondition(types: string[]): Condition {
  return (eb) =>
    neverNull(
      eb.or([
        eb("f.file_type", "in", types),
        // Extensions are letters, digits, _ + -: only _ needs escaping for LIKE.
        ...types.map((t) => sql<SqlBool>`lower(${eb.ref("f.path")}) like ${`%.${t.replace(/_/g, "\\_")}`} escape '\\'`),
      ]),
    );
}

function idCondition(column: "f.uid" | "f.gid", ids: number[]): Condition {
  return (eb) => eb(column, "in", ids);
}

/** Tags are a JSON object; a file without the tag (or without tags) does not match. */
function tagCondition(tags: Record<string, string>, dialect: Dialect): Condition {
  return (eb) =>
    eb.and(
      Object.entries(tags).map(([key, value]) =>
        neverNull(
          dialect === "postgres"
            ? sql<SqlBool>`(${eb.ref("f.tags")}::jsonb ->> ${key}) = ${value}`
            : sql<SqlBool>`json_extract(${eb.ref("f.tags")}, ${`$."${key}"`}) = ${value}`,
        ),
      ),
    );
}

/** `missing`: no replica at all there; otherwise one in that state (and class, if given). */
function replicaCondition(condition: ReplicaCondition, locationIds: ReadonlyMap<string, number>): Condition {
  const locationId = locationIds.get(condition.at);
  const { state } = condition;
  const missing = state === "missing";
  if (locationId === undefined) return missing ? TRUE : FALSE;
  return (eb) => {
    let replicas = eb
      .selectFrom("replicas as r")
      .select(sql<number>`1`.as("one"))
      .whereRef("r.file_id", "=", "f.id")
      .where("r.location_id", "=", locationId);
    if (state !== "missing") replicas = replicas.where("r.state", "=", state);
    if (condition.class !== undefined) replicas = replicas.where("r.storage_class", "=", condition.class);
    return missing ? eb.not(eb.exists(replicas)) : eb.exists(replicas);
  };
}

/** NULL (a file without tags or a detected type) must read as false, or `not` would drop it too. */
function neverNull(condition: Expression<SqlBool>): Expression<SqlBool> {
  return sql<SqlBool>`coalesce(${condition}, 1 = 0)`;
}

const principals = new Map<string, Map<string, number>>();

/**
 * A uid or gid from a number or a name. Names come from /etc/passwd and /etc/group (users
 * known only to LDAP or SSSD are given by number), so planning never waits on a directory service.
 */
export function principalId(role: "owner" | "group", value: number | string): number | undefined {
  if (typeof value === "number") return value;
  if (/^\d+$/.test(value)) return Number(value);
  return principalIds(role).get(value);
}

/** The name /etc/passwd or /etc/group gives an id (the first, as `ls -l` shows), or undefined. */
export function principalName(role: "owner" | "group", id: number): string | undefined {
  for (const [name, known] of principalIds(role)) if (known === id) return name;
  return undefined;
}

function principalIds(role: "owner" | "group"): Map<string, number> {
  const file = role === "owner" ? "/etc/passwd" : "/etc/group";
  let names = principals.get(file);
  if (!names) {
    names = new Map();
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      // No such file: every name is unknown, which the caller reports.
    }
    for (const line of text.split("\n")) {
      const [name, , id] = line.split(":");
      if (name && id && /^\d+$/.test(id)) names.set(name, Number(id));
    }
    principals.set(file, names);
  }
  return names;
}

export function unknownPrincipal(role: "owner" | "group", value: string): string {
  const file = role === "owner" ? "/etc/passwd" : "/etc/group";
  return `unknown ${role === "owner" ? "user" : "group"} "${value}" (not in ${file}; give the number instead)`;
}

function requirePrincipal(role: "owner" | "group", value: number | string): number {
  const id = principalId(role, value);
  if (id === undefined) throw new UsageError(unknownPrincipal(role, String(value)));
  return id;
}
