import { type RawBuilder, type SqlBool, type Expression as SqlExpression, sql } from "kysely";
import type { Dialect } from "../../catalog/migrations.js";
import { postgresBaseName, sqliteBaseName } from "../../catalog/path-sql.js";
import { UsageError } from "../../config/errors.js";
import type { Comparison, Expression, FindState, Test, TimeField } from "./expression.js";
import { nameLiterals, parseGlob, postgresRegex, sqliteGlob, trigramQuery } from "./glob.js";

/**
 * The expression as one SQL condition over `files as f`, exact on both databases: no test is
 * left for JavaScript, so a limit, a count and a sort are the database's. Where a trigram index
 * can narrow a pattern, the condition also names the index; the pattern itself still decides.
 */

export interface CompileContext {
  dialect: Dialect;
  nowMs: number;
  /** Catalog ids of location names, for -at and -not-at. */
  locationIds: ReadonlyMap<string, number>;
}

type Condition = SqlExpression<SqlBool>;

const FALSE = sql<SqlBool>`1 = 0`;
const DAY_US = 86_400_000_000;
/** Replica states that hold the file's bytes, readable now or after a thaw. */
const HOLDING = ["present", "archived", "restoring"] as const;
/** The agreed meaning of a copy: present or archived; verified when its checksum was checked. */
const COPY = ["present", "archived"] as const;

/** How many verified copies a file has: the agreed meaning of -copies and %C. */
export const verifiedCopies = sql<number>`(select count(*) from replicas r
  where r.file_id = f.id and r.state in (${sql.join([...COPY])}) and r.verified_at is not null)`;

export function compileExpression(expression: Expression, context: CompileContext): Condition {
  switch (expression.op) {
    case "and":
      return sql<SqlBool>`(${compileExpression(expression.left, context)} and ${compileExpression(expression.right, context)})`;
    case "or":
      return sql<SqlBool>`(${compileExpression(expression.left, context)} or ${compileExpression(expression.right, context)})`;
    case "not":
      return sql<SqlBool>`(not ${compileExpression(expression.operand, context)})`;
    case "test":
      return compileTest(expression.test, context);
  }
}

/** A file's last path component, spelled as the trigram index's expression is. */
export function baseName(dialect: Dialect): RawBuilder<string> {
  return sql.raw(dialect === "sqlite" ? sqliteBaseName("f.path") : postgresBaseName("f.path"));
}

function compileTest(test: Test, context: CompileContext): Condition {
  switch (test.kind) {
    case "name":
      return patternTest(baseName(context.dialect), test.pattern, test.caseless, false, context.dialect);
    case "path":
      return patternTest(sql.ref("f.path"), test.pattern, test.caseless, true, context.dialect);
    case "size":
      return sizeTest(test.comparison, test.count, test.unit);
    case "age":
      return ageTest(test.field, test.comparison, test.days, context.nowMs);
    case "newer":
      return sql<SqlBool>`${timeColumn(test.field)} > ${test.afterMs * 1000}`;
    case "user":
      return sql<SqlBool>`f.uid = ${test.uid}`;
    case "group":
      return sql<SqlBool>`f.gid = ${test.gid}`;
    case "type":
      return sql<SqlBool>`f.kind in (${sql.join(test.kinds)})`;
    case "empty":
      return emptyTest();
    case "class":
      return replicaExists(HOLDING, sql`r.storage_class = ${test.storageClass}`);
    case "state":
      return stateTest(test.state);
    case "at":
      return replicaExists(COPY, sql`r.location_id = ${locationId(test.location, context)}`);
    case "copies":
      return compare(verifiedCopies, test.comparison, test.count);
    case "tag":
      return neverNull(tagTest(test.key, test.value, context.dialect));
    case "hash":
      return neverNull(sql<SqlBool>`substr(f.hash, 1, ${test.prefix.length}) = ${test.prefix}`);
    case "codec":
      return replicaExists(HOLDING, test.codec === null ? sql`r.codec is null` : sql`r.codec = ${test.codec}`);
  }
}

/**
 * -name and -path. `-iname` folds ASCII letters only, on both databases (SQLite's lower() and
 * PostgreSQL's case-insensitive match under the C collation of paths), as GNU find in the C locale.
 */
function patternTest(
  subject: SqlExpression<string>,
  pattern: string,
  caseless: boolean,
  wholePath: boolean,
  dialect: Dialect,
): Condition {
  const parts = parseGlob(pattern);
  if (dialect === "postgres") {
    // The pg_trgm index on the base name serves `~` and `~*` itself.
    return caseless
      ? sql<SqlBool>`${subject} ~* ${postgresRegex(parts)}`
      : sql<SqlBool>`${subject} ~ ${postgresRegex(parts)}`;
  }
  const exact = caseless
    ? sql<SqlBool>`lower(${subject}) glob ${asciiLower(sqliteGlob(parts))}`
    : sql<SqlBool>`${subject} glob ${sqliteGlob(parts)}`;
  const trigrams = trigramQuery(nameLiterals(parts, wholePath));
  if (trigrams === undefined) return exact;
  return sql<SqlBool>`(f.id in (select rowid from files_name_trigrams where files_name_trigrams match ${trigrams}) and ${exact})`;
}

function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** GNU's -size: the size in units rounded up, compared with N (so `-size -1M` is the empty files). */
function sizeTest(comparison: Comparison, count: number, unit: number): Condition {
  switch (comparison) {
    case "more":
      return sql<SqlBool>`f.size > ${count * unit}`;
    case "less":
      return sql<SqlBool>`f.size <= ${(count - 1) * unit}`;
    case "exactly":
      return sql<SqlBool>`(f.size > ${(count - 1) * unit} and f.size <= ${count * unit})`;
  }
}

/** GNU's -mtime N: whole days of age, fractions dropped; +N more than N, -N less than N. */
function ageTest(field: TimeField, comparison: Comparison, days: number, nowMs: number): Condition {
  const column = timeColumn(field);
  const nowUs = nowMs * 1000;
  switch (comparison) {
    case "more":
      return sql<SqlBool>`${column} <= ${nowUs - (days + 1) * DAY_US}`;
    case "less":
      return sql<SqlBool>`${column} > ${nowUs - days * DAY_US}`;
    case "exactly":
      return sql<SqlBool>`(${column} > ${nowUs - (days + 1) * DAY_US} and ${column} <= ${nowUs - days * DAY_US})`;
  }
}

function timeColumn(field: TimeField): RawBuilder<number> {
  return sql.ref(`f.${field}_us`) as unknown as RawBuilder<number>;
}

function compare(value: SqlExpression<unknown>, comparison: Comparison, count: number): Condition {
  const operator = { more: ">", less: "<", exactly: "=" }[comparison];
  return sql<SqlBool>`${value} ${sql.raw(operator)} ${count}`;
}

/** GNU: an empty regular file, or a directory with nothing (not deleted) beneath it. */
function emptyTest(): Condition {
  return sql<SqlBool>`((f.kind = 'file' and f.size = 0) or (f.kind = 'dir' and not exists (
    select 1 from files c where c.location_id = f.location_id
      and c.path > f.path || '/' and c.path < f.path || '0' and c.state <> 'deleted')))`;
}

function stateTest(state: FindState): Condition {
  switch (state) {
    case "present":
    case "released":
    case "deleted":
      return sql<SqlBool>`f.state = ${state}`;
    case "archived":
    case "restoring":
      return replicaExists([state], undefined);
    case "lost":
      // The agreed meaning: stub gone, or no copy holds the bytes of a file not on disk.
      return sql<SqlBool>`(f.state = 'missing' or (f.state <> 'present' and not ${replicaExists(HOLDING, undefined)}))`;
  }
}

function replicaExists(states: readonly string[], also: SqlExpression<unknown> | undefined): Condition {
  return sql<SqlBool>`exists (select 1 from replicas r where r.file_id = f.id and r.state in (${sql.join([...states])})${
    also === undefined ? sql`` : sql` and ${also}`
  })`;
}

function tagTest(key: string, value: string | undefined, dialect: Dialect): Condition {
  // Keys are checked against TAG_KEY (no quotes), so the JSON path needs no escaping.
  const tag = dialect === "sqlite" ? sql`json_extract(f.tags, ${`$."${key}"`})` : sql`(f.tags::jsonb ->> ${key})`;
  return value === undefined ? sql<SqlBool>`${tag} is not null` : sql<SqlBool>`${tag} = ${value}`;
}

/** A test that is NULL on a file without tags or hash must read as false, or `-not` would drop the file too. */
function neverNull(condition: Condition): Condition {
  return sql<SqlBool>`coalesce(${condition}, ${FALSE})`;
}

function locationId(name: string, context: CompileContext): number {
  const id = context.locationIds.get(name);
  if (id === undefined) {
    const known = [...context.locationIds.keys()].sort().join(", ") || "none yet";
    throw new UsageError(`find: -at ${name}: no location of that name in the catalog (known: ${known})`);
  }
  return id;
}
