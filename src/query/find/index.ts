import { type Compilable, CompiledQuery, type SqlBool, type Expression as SqlExpression, sql } from "kysely";
import type { CatalogDb } from "../../catalog/db.js";
import { allLocations } from "../../catalog/locations.js";
import type { FileRow } from "../../catalog/schema.js";
import { UsageError } from "../../config/errors.js";
import { baseName, compileExpression, verifiedCopies } from "./compile.js";
import { mentionsState } from "./expression.js";
import type { FindQuery, SortKey } from "./parse.js";

export type { Expression, FindState, Test } from "./expression.js";
export { type FindOutput, type FindQuery, parseFindArgs, SORT_FIELDS, type SortKey } from "./parse.js";

/** Where to look: a location, and a path in it ("" for all of it; a directory holds its subtree). */
export interface FindScope {
  locationId: number;
  path: string;
}

export interface FindOptions {
  /**
   * The operands, resolved by the caller (the CLI resolves them as every command does). Without
   * them, the query's operands are read as `LOCATION[:PATH]` against the catalog's names.
   */
  scopes?: readonly FindScope[];
  /** "Now" for -mtime and friends; the current time when not given. */
  nowMs?: number;
  /** Also count each file's verified copies (one more lookup per row, so only when printed). */
  withCopies?: boolean;
}

export type FoundFile = FileRow & { location_name: string; verified_copies?: number };

/** Rows a cursor hands over at a time on PostgreSQL. */
const FETCH = 1000;

/**
 * The files the query selects, in its order, streamed: one parameterised query (a server-side
 * cursor on PostgreSQL), read-only. Entries marked deleted are left out unless the expression
 * asks about -state.
 *
 * On SQLite the iteration holds the catalog's one connection until it ends: a caller that writes
 * what it finds (tags) collects a batch, or the ids, and writes after the loop, or the write
 * waits on the loop forever.
 */
export async function* findFiles(
  catalog: CatalogDb,
  query: FindQuery,
  options: FindOptions = {},
): AsyncGenerator<FoundFile> {
  const select = await selection(catalog, query, options);
  if (catalog.dialect === "sqlite") {
    yield* select.stream();
    return;
  }
  const trx = await catalog.db.startTransaction().setAccessMode("read only").execute();
  try {
    const compiled = select.compile();
    await trx.executeQuery(
      CompiledQuery.raw(`declare strata_find no scroll cursor for ${compiled.sql}`, [...compiled.parameters]),
    );
    for (;;) {
      const { rows } = await sql<FoundFile>`fetch ${sql.lit(FETCH)} from strata_find`.execute(trx);
      yield* rows;
      if (rows.length < FETCH) break;
    }
  } finally {
    // Read-only: rolling back ends the cursor and the snapshot, and changes nothing.
    await trx.rollback().execute();
  }
}

/** How many files the query selects and their logical bytes, counted by the database. */
export async function countFiles(
  catalog: CatalogDb,
  query: FindQuery,
  options: FindOptions = {},
): Promise<{ files: number; bytes: number }> {
  const row = await countQuery(catalog, await condition(catalog, query, options)).executeTakeFirstOrThrow();
  return { files: Number(row.files), bytes: Number(row.bytes) };
}

export interface Explained {
  sql: string;
  parameters: readonly unknown[];
  /** The plan the database chose, one line per step as it prints them. */
  plan: string[];
}

/** The query find would run, and the database's plan for it (EXPLAIN QUERY PLAN / EXPLAIN). */
export async function explainFind(catalog: CatalogDb, query: FindQuery, options: FindOptions = {}): Promise<Explained> {
  const select: Compilable =
    query.output.kind === "count"
      ? countQuery(catalog, await condition(catalog, query, options))
      : await selection(catalog, query, options);
  const compiled = select.compile();
  if (catalog.dialect === "sqlite") {
    const rows = await catalog.db.executeQuery<{ id: number; parent: number; detail: string }>(
      CompiledQuery.raw(`explain query plan ${compiled.sql}`, [...compiled.parameters]),
    );
    const depth = new Map<number, number>([[0, 0]]);
    const plan = rows.rows.map((row) => {
      const level = (depth.get(row.parent) ?? 0) + 1;
      depth.set(row.id, level);
      return `${"  ".repeat(level - 1)}${row.detail}`;
    });
    return { sql: compiled.sql, parameters: compiled.parameters, plan };
  }
  const rows = await catalog.db.executeQuery<{ "QUERY PLAN": string }>(
    CompiledQuery.raw(`explain ${compiled.sql}`, [...compiled.parameters]),
  );
  return { sql: compiled.sql, parameters: compiled.parameters, plan: rows.rows.map((row) => row["QUERY PLAN"]) };
}

function countQuery(catalog: CatalogDb, where: SqlExpression<SqlBool>) {
  return catalog.db
    .selectFrom("files as f")
    .select([sql<number>`count(*)`.as("files"), sql<number>`coalesce(sum(f.size), 0)`.as("bytes")])
    .where(where);
}

async function selection(catalog: CatalogDb, query: FindQuery, options: FindOptions) {
  const where = await condition(catalog, query, options);
  let select = catalog.db
    .selectFrom("files as f")
    .innerJoin("locations as l", "l.id", "f.location_id")
    .selectAll("f")
    .select("l.name as location_name")
    .$if(options.withCopies === true, (q) => q.select(sql<number>`${verifiedCopies}`.as("verified_copies")))
    .where(where);
  for (const key of query.sort) select = select.orderBy(sortExpression(key, catalog), key.descending ? "desc" : "asc");
  // Location and path last: a total order (they are unique together), the files index's own.
  select = select.orderBy("f.location_id").orderBy("f.path");
  if (query.limit !== undefined) select = select.limit(query.limit);
  return select;
}

function sortExpression(key: SortKey, catalog: CatalogDb): SqlExpression<unknown> {
  switch (key.field) {
    case "location":
      return sql.ref("l.name");
    case "path":
      return sql.ref("f.path");
    case "name":
      return baseName(catalog.dialect);
    case "size":
      return sql.ref("f.size");
    case "mtime":
    case "atime":
    case "ctime":
      return sql.ref(`f.${key.field}_us`);
    case "user":
      return sql.ref("f.uid");
    case "group":
      return sql.ref("f.gid");
  }
}

/** The WHERE of every find query: the scopes, deleted entries unless asked for, the expression. */
async function condition(catalog: CatalogDb, query: FindQuery, options: FindOptions): Promise<SqlExpression<SqlBool>> {
  const locations = await allLocations(catalog);
  const locationIds = new Map(locations.map((l) => [l.name, l.id]));
  const scopes = options.scopes ?? query.operands.map((operand) => scopeOf(operand, locationIds));
  const parts: SqlExpression<SqlBool>[] = [];
  if (scopes.length > 0) parts.push(sql<SqlBool>`(${sql.join(scopes.map(scopeCondition), sql` or `)})`);
  if (!mentionsState(query.expression)) parts.push(sql<SqlBool>`f.state <> 'deleted'`);
  if (query.expression !== undefined) {
    const context = { dialect: catalog.dialect, nowMs: options.nowMs ?? Date.now(), locationIds };
    parts.push(compileExpression(query.expression, context));
  }
  return parts.length === 0 ? sql<SqlBool>`1 = 1` : sql<SqlBool>`${sql.join(parts, sql` and `)}`;
}

/** `LOCATION[:PATH]` by the catalog's names alone (what a library caller without a config has). */
function scopeOf(operand: string, locationIds: ReadonlyMap<string, number>): FindScope {
  const colon = operand.indexOf(":");
  const name = colon < 0 ? operand : operand.slice(0, colon);
  const id = locationIds.get(name);
  if (id === undefined) {
    const known = [...locationIds.keys()].sort().join(", ") || "none yet";
    throw new UsageError(`find: ${JSON.stringify(operand)}: no location of that name in the catalog (known: ${known})`);
  }
  return { locationId: id, path: colon < 0 ? "" : operand.slice(colon + 1).replace(/^\/+|\/+$/g, "") };
}

/** The path itself, or its subtree: "dir/" <= path < "dir0" in byte order, which the files index serves. */
function scopeCondition(scope: FindScope): SqlExpression<SqlBool> {
  if (scope.path === "") return sql<SqlBool>`f.location_id = ${scope.locationId}`;
  return sql<SqlBool>`(f.location_id = ${scope.locationId} and (f.path = ${scope.path}
    or (f.path >= ${`${scope.path}/`} and f.path < ${`${scope.path}0`})))`;
}
