import { type Kysely, type QueryExecutorProvider, sql } from "kysely";
import { postgresDirName, sqliteDirName } from "./path-sql.js";
import type { Dialect } from "./schema.js";

/**
 * Summary tables for `strata du`, kept exact by database triggers in the same transaction as
 * every write to files and replicas: a scan, a sync, an apply, a restore, a tag change all go
 * through those two tables, so none of them has to remember the summaries.
 *
 * A file's *contribution* is a function of its row and its replicas' rows. Every trigger takes
 * the old contribution away and adds the new one, so each table is, at every commit, the sum of
 * the contributions of the rows then in files and replicas. Rows that reach zero are deleted.
 */

/** Access times are kept per 30-day period since the epoch: absolute, so a bucket never goes stale. */
export const AGE_PERIOD_US = 30 * 86_400 * 1_000_000;

/** Upper bounds (exclusive) of the size buckets; a size at or over the last is in the last bucket. */
export const SIZE_BUCKET_BOUNDS = [
  1,
  4 * 1024,
  64 * 1024,
  1024 ** 2,
  16 * 1024 ** 2,
  256 * 1024 ** 2,
  4 * 1024 ** 3,
  64 * 1024 ** 3,
];

/** The bits of `flags` in the bucket tables: what a file's replicas make of it (the spec's -state words). */
export const FLAG = { archived: 1, restoring: 2, lost: 4 } as const;

/** The period an access time falls in, as the SQL does it (integer division truncates toward zero). */
export function agePeriod(atimeUs: number): number {
  return Math.trunc(atimeUs / AGE_PERIOD_US);
}

/** How a statement reaches the file whose contribution it writes. */
interface FileSource {
  /** Table references for FROM (none when the file is a trigger's OLD or NEW row). */
  from: string[];
  where: string[];
  col: (column: string) => string;
}

/** Which of the file's replicas count (conditions on the alias): all of them, or all but the row a trigger just inserted. */
type ReplicaFilter = (alias: string) => string[];

const andAll = (conditions: string[]) => conditions.map((c) => ` AND ${c}`).join("");

interface Part {
  table: string;
  keys: [string, string][];
  measures: [string, string][];
  from: string[];
  where: string[];
}

/**
 * How a copy's stored bytes are read: "stored" is coalesce(stored_size, size), the bytes its store
 * holds (a compressed object's frames, a pack member's frame); "logical" is its size, what the
 * summaries summed before migration 0020 (stored_size did not exist when 0009 made them).
 */
export type StoredBytes = "logical" | "stored";

const storedExpr = (r: string, stored: StoredBytes) =>
  stored === "stored" ? `COALESCE(${r}.stored_size, ${r}.size)` : `${r}.size`;

const verifiedExpr = (r: string) =>
  `CASE WHEN ${r}.state IN ('present', 'archived') AND ${r}.verified_at IS NOT NULL THEN 1 ELSE 0 END`;

class Contribution {
  constructor(
    private readonly dialect: Dialect,
    private readonly stored: StoredBytes,
  ) {}

  private dir(f: FileSource): string {
    const path = f.col("path");
    return this.dialect === "sqlite" ? sqliteDirName(path) : postgresDirName(path);
  }

  private period(f: FileSource): string {
    return `(${f.col("atime_us")} / ${AGE_PERIOD_US})`;
  }

  private sizeBucket(f: FileSource): string {
    const size = f.col("size");
    const steps = SIZE_BUCKET_BOUNDS.map((bound, i) => `WHEN ${size} < ${bound} THEN ${i}`).join(" ");
    return `(CASE ${steps} ELSE ${SIZE_BUCKET_BOUNDS.length} END)`;
  }

  /** Counted in files and logical bytes: a regular file not deleted at its location. */
  private counted(f: FileSource): string {
    return `(${f.col("kind")} = 'file' AND ${f.col("state")} <> 'deleted')`;
  }

  private flags(f: FileSource, keep: ReplicaFilter): string {
    const id = f.col("id");
    const state = f.col("state");
    const states = `(SELECT COALESCE(SUM(DISTINCT CASE x.state WHEN 'archived' THEN ${FLAG.archived} WHEN 'restoring' THEN ${FLAG.restoring} ELSE 0 END), 0)
      FROM replicas x WHERE x.file_id = ${id}${andAll(keep("x"))})`;
    const lost = `CASE WHEN ${state} = 'missing' OR (${state} <> 'present' AND NOT EXISTS (SELECT 1 FROM replicas y
      WHERE y.file_id = ${id} AND y.state IN ('present', 'archived', 'restoring')${andAll(keep("y"))})) THEN ${FLAG.lost} ELSE 0 END`;
    return `(${states} + ${lost})`;
  }

  private bucketKeys(f: FileSource, keep: ReplicaFilter): [string, string][] {
    return [
      ["location_id", f.col("location_id")],
      ["uid", f.col("uid")],
      ["gid", f.col("gid")],
      ["state", f.col("state")],
      ["flags", this.flags(f, keep)],
      ["size_bucket", this.sizeBucket(f)],
      ["age_period", this.period(f)],
    ];
  }

  private replicaJoin(f: FileSource, keep: ReplicaFilter): Pick<Part, "from" | "where"> {
    return {
      from: [...f.from, "replicas r"],
      where: [...f.where, `${f.col("kind")} = 'file'`, `r.file_id = ${f.col("id")}`, "r.state <> 'lost'", ...keep("r")],
    };
  }

  private tagPairs(f: FileSource): string {
    const tags = f.col("tags");
    return this.dialect === "sqlite"
      ? `json_each(CASE WHEN json_valid(${tags}) AND json_type(${tags}) = 'object' THEN ${tags} ELSE '{}' END) j`
      : `strata_tag_pairs(${tags}) j`;
  }

  /**
   * The file's contribution to each table, counting the replicas `keep` admits; du's state flags
   * (which move the file between bucket keys) are computed over those `flagsFrom` admits.
   */
  parts(f: FileSource, keep: ReplicaFilter, flagsFrom: ReplicaFilter = keep): Part[] {
    const counted = this.counted(f);
    const size = f.col("size");
    const copyMeasures: [string, string][] = [
      ["copies", "1"],
      ["verified", verifiedExpr("r")],
      ["stored_bytes", storedExpr("r", this.stored)],
    ];
    const replicaTotal = (measure: string) =>
      `(SELECT COALESCE(SUM(${measure}), 0) FROM replicas r WHERE r.file_id = ${f.col("id")} AND r.state <> 'lost'${andAll(keep("r"))})`;
    const tagValue = this.dialect === "sqlite" ? "CAST(j.value AS TEXT)" : "j.value";
    return [
      {
        table: "usage_dirs",
        keys: [
          ["location_id", f.col("location_id")],
          ["dir", this.dir(f)],
          ["age_period", this.period(f)],
        ],
        measures: [
          ["files", "1"],
          ["bytes", size],
        ],
        from: f.from,
        where: [...f.where, counted],
      },
      {
        table: "usage_dir_copies",
        keys: [
          ["location_id", f.col("location_id")],
          ["dir", this.dir(f)],
          ["replica_location_id", "r.location_id"],
          ["storage_class", "COALESCE(r.storage_class, '')"],
        ],
        measures: copyMeasures,
        ...this.replicaJoin(f, keep),
      },
      {
        table: "usage_buckets",
        keys: this.bucketKeys(f, flagsFrom),
        measures: [
          ["files", "1"],
          ["bytes", size],
        ],
        from: f.from,
        where: [...f.where, counted],
      },
      {
        table: "usage_bucket_copies",
        keys: [
          ...this.bucketKeys(f, flagsFrom),
          ["replica_location_id", "r.location_id"],
          ["storage_class", "COALESCE(r.storage_class, '')"],
        ],
        measures: copyMeasures,
        ...this.replicaJoin(f, keep),
      },
      {
        table: "usage_tags",
        keys: [
          ["location_id", f.col("location_id")],
          ["tag_key", "j.key"],
          ["tag_value", tagValue],
        ],
        measures: [
          ["files", `CASE WHEN ${counted} THEN 1 ELSE 0 END`],
          ["bytes", `CASE WHEN ${counted} THEN ${size} ELSE 0 END`],
          ["copies", replicaTotal("1")],
          ["verified", replicaTotal(verifiedExpr("r"))],
          ["stored_bytes", replicaTotal(storedExpr("r", this.stored))],
        ],
        from: [...f.from, this.tagPairs(f)],
        where: [...f.where, `${f.col("kind")} = 'file'`, `${f.col("tags")} IS NOT NULL`],
      },
    ];
  }
}

function selectOf(part: Part, measures: string[]): string {
  const from = part.from.length > 0 ? ` FROM ${part.from.join(", ")}` : "";
  const columns = [...part.keys.map(([, e]) => e), ...measures].join(", ");
  return `SELECT ${columns}${from} WHERE ${part.where.join(" AND ")}`;
}

/** Adds (sign 1) or takes away (sign -1) the contribution; a subtraction then drops rows left at zero. */
function applyPart(part: Part, sign: 1 | -1): string[] {
  const keyNames = part.keys.map(([k]) => k);
  const measureNames = part.measures.map(([m]) => m);
  const upsert =
    `INSERT INTO ${part.table} (${[...keyNames, ...measureNames].join(", ")}) ` +
    `${selectOf(
      part,
      part.measures.map(([, e]) => (sign === 1 ? `${e}` : `-(${e})`)),
    )} ` +
    `ON CONFLICT (${keyNames.join(", ")}) DO UPDATE SET ` +
    measureNames.map((m) => `${m} = ${part.table}.${m} + excluded.${m}`).join(", ");
  if (sign === 1) return [upsert];
  const keySelect = `SELECT ${part.keys.map(([, e]) => e).join(", ")}${part.from.length > 0 ? ` FROM ${part.from.join(", ")}` : ""} WHERE ${part.where.join(" AND ")}`;
  const cleanup =
    `DELETE FROM ${part.table} WHERE (${keyNames.join(", ")}) IN (${keySelect}) AND ` +
    measureNames.map((m) => `${m} = 0`).join(" AND ");
  return [upsert, cleanup];
}

const ALL_REPLICAS: ReplicaFilter = () => [];

function rowSource(row: "NEW" | "OLD"): FileSource {
  return { from: [], where: [], col: (c) => `${row}.${c}` };
}

/** The file of the trigger's OLD or NEW replica row (only when `only` holds, if given). */
function fileOfReplica(row: "NEW" | "OLD", only?: string): FileSource {
  return { from: ["files f"], where: [`f.id = ${row}.file_id`, ...(only ? [only] : [])], col: (c) => `f.${c}` };
}

/** Columns whose change moves a file's contribution; any other write (a rescan's seen_scan_id) leaves summaries alone. */
function fileChanged(dialect: Dialect): string {
  const distinct = dialect === "sqlite" ? "IS NOT" : "IS DISTINCT FROM";
  return [
    ...["location_id", "path", "kind", "state", "size", "uid", "gid"].map((c) => `OLD.${c} <> NEW.${c}`),
    `OLD.atime_us / ${AGE_PERIOD_US} <> NEW.atime_us / ${AGE_PERIOD_US}`,
    `OLD.tags ${distinct} NEW.tags`,
  ].join(" OR ");
}

function replicaChanged(dialect: Dialect, stored: StoredBytes): string {
  const distinct = dialect === "sqlite" ? "IS NOT" : "IS DISTINCT FROM";
  return [
    ...["file_id", "location_id", "state", "size"].map((c) => `OLD.${c} <> NEW.${c}`),
    `OLD.storage_class ${distinct} NEW.storage_class`,
    ...(stored === "stored" ? [`OLD.stored_size ${distinct} NEW.stored_size`] : []),
    "(OLD.verified_at IS NULL) <> (NEW.verified_at IS NULL)",
  ].join(" OR ");
}

interface TriggerSpec {
  name: string;
  timing: "BEFORE" | "AFTER";
  event: "INSERT" | "UPDATE" | "DELETE";
  table: "files" | "replicas";
  when?: string;
  statements: string[];
  /** Rows for which `condition` holds take these statements instead (same sums, fewer statements). */
  fast?: { condition: string; statements: string[] };
}

/**
 * A new replica that cannot change its file's du flags: not archived, restoring or lost, of a
 * file present or missing (whose "lost" flag no copy changes). Its file stays in the same bucket
 * keys, so the insert only adds this copy's own row: 3 statements instead of about 15 that take
 * the file's contribution away and add it back (most of a packed sync's catalog time).
 */
const KEEPS_FLAGS =
  "NEW.state IN ('present', 'released', 'replacing') AND " +
  "COALESCE((SELECT state FROM files WHERE id = NEW.file_id) IN ('present', 'missing'), FALSE)";

/** The insert of a replica that keeps its file's flags: its own copy added, files and bytes untouched. */
function addOwnCopy(c: Contribution): string[] {
  const onlyNew: ReplicaFilter = (alias) => [`${alias}.id = NEW.id`];
  return ownCopyParts(c, fileOfReplica("NEW"), onlyNew).flatMap((part) => applyPart(part, 1));
}

/** The parts a copy that keeps its file's flags adds: the copy tables' rows, without the file's own files and bytes. */
function ownCopyParts(c: Contribution, file: FileSource, onlyNew: ReplicaFilter): Part[] {
  const copyTables = new Set(["usage_dir_copies", "usage_bucket_copies", "usage_tags"]);
  return c
    .parts(file, onlyNew, ALL_REPLICAS)
    .filter((part) => copyTables.has(part.table))
    .map((part) => ({
      ...part,
      // usage_tags also counts the file itself, which this copy does not change.
      measures: part.measures.map(([m, e]): [string, string] => (m === "files" || m === "bytes" ? [m, "0"] : [m, e])),
    }));
}

/** `fastInsert`: the replica insert trigger takes the short way where it can (migration 0022). */
function triggerSpecs(dialect: Dialect, stored: StoredBytes, fastInsert = false): TriggerSpec[] {
  const c = new Contribution(dialect, stored);
  const add = (f: FileSource, keep: ReplicaFilter = ALL_REPLICAS) => c.parts(f, keep).flatMap((p) => applyPart(p, 1));
  const take = (f: FileSource, keep: ReplicaFilter = ALL_REPLICAS) => c.parts(f, keep).flatMap((p) => applyPart(p, -1));
  // A replica just inserted (or upserted: an upsert that updates fires the UPDATE triggers
  // instead) is left out of its file's previous contribution.
  const withoutNew: ReplicaFilter = (alias) => [`${alias}.id <> NEW.id`];
  // A replica moved to another file (nothing does so today) changes both files' contributions.
  const otherFile = (row: "NEW" | "OLD") => fileOfReplica(row, "NEW.file_id <> OLD.file_id");
  const on = (table: TriggerSpec["table"], timing: TriggerSpec["timing"], event: TriggerSpec["event"]) => ({
    name: `usage_${table}_${event.toLowerCase()}${table === "replicas" && event !== "INSERT" ? `_${timing.toLowerCase()}` : ""}`,
    table,
    timing,
    event,
  });
  return [
    { ...on("files", "AFTER", "INSERT"), statements: add(rowSource("NEW")) },
    // Added before taken away: a contribution that stays in place is never dropped and recreated.
    {
      ...on("files", "AFTER", "UPDATE"),
      when: fileChanged(dialect),
      statements: [...add(rowSource("NEW")), ...take(rowSource("OLD"))],
    },
    { ...on("files", "AFTER", "DELETE"), statements: take(rowSource("OLD")) },
    {
      ...on("replicas", "AFTER", "INSERT"),
      statements: [...add(fileOfReplica("NEW")), ...take(fileOfReplica("NEW"), withoutNew)],
      ...(fastInsert ? { fast: { condition: KEEPS_FLAGS, statements: addOwnCopy(c) } } : {}),
    },
    {
      ...on("replicas", "BEFORE", "UPDATE"),
      when: replicaChanged(dialect, stored),
      statements: [...take(fileOfReplica("OLD")), ...take(otherFile("NEW"))],
    },
    {
      ...on("replicas", "AFTER", "UPDATE"),
      when: replicaChanged(dialect, stored),
      statements: [...add(fileOfReplica("NEW")), ...add(otherFile("OLD"))],
    },
    { ...on("replicas", "BEFORE", "DELETE"), statements: take(fileOfReplica("OLD")) },
    { ...on("replicas", "AFTER", "DELETE"), statements: add(fileOfReplica("OLD")) },
  ];
}

const BUCKET_KEY: [string, string][] = [
  ["location_id", "bigint"],
  ["uid", "bigint"],
  ["gid", "bigint"],
  ["state", "text"],
  ["flags", "bigint"],
  ["size_bucket", "bigint"],
  ["age_period", "bigint"],
];

const TABLES: Record<string, { keys: [string, string][]; measures: string[] }> = {
  usage_dirs: {
    keys: [
      ["location_id", "bigint"],
      ["dir", "text"],
      ["age_period", "bigint"],
    ],
    measures: ["files", "bytes"],
  },
  usage_dir_copies: {
    keys: [
      ["location_id", "bigint"],
      ["dir", "text"],
      ["replica_location_id", "bigint"],
      ["storage_class", "text"],
    ],
    measures: ["copies", "verified", "stored_bytes"],
  },
  usage_buckets: {
    keys: BUCKET_KEY,
    measures: ["files", "bytes"],
  },
  usage_bucket_copies: {
    keys: [...BUCKET_KEY, ["replica_location_id", "bigint"], ["storage_class", "text"]],
    measures: ["copies", "verified", "stored_bytes"],
  },
  usage_tags: {
    keys: [
      ["location_id", "bigint"],
      ["tag_key", "text"],
      ["tag_value", "text"],
    ],
    measures: ["files", "bytes", "copies", "verified", "stored_bytes"],
  },
};

function createTable(dialect: Dialect, name: string): string {
  const { keys, measures } = TABLES[name] as (typeof TABLES)[string];
  // Directories sort by bytes, as files.path does, so a subtree is one range of the key.
  const column = ([key, type]: [string, string]) =>
    `${key} ${type} NOT NULL${key === "dir" && dialect === "postgres" ? ' COLLATE "C"' : ""}`;
  const columns = [...keys.map(column), ...measures.map((m) => `${m} bigint NOT NULL`)];
  const primaryKey = `PRIMARY KEY (${keys.map(([k]) => k).join(", ")})`;
  // No rowid: the key is the row, which halves the size of these tables on SQLite.
  return `CREATE TABLE ${name} (${[...columns, primaryKey].join(", ")})${dialect === "sqlite" ? " WITHOUT ROWID" : ""}`;
}

/**
 * Adds (or takes away) the contributions of many files at once, summed per key: the migration's
 * backfill over every file, and PostgreSQL's statement triggers over a statement's rows.
 */
function applyGrouped(part: Part, sign: 1 | -1): string[] {
  const keyNames = part.keys.map(([k]) => k);
  const measureNames = part.measures.map(([m]) => m);
  const inner =
    `SELECT ${[...part.keys.map(([k, e]) => `${e} AS ${k}`), ...part.measures.map(([m, e]) => `${e} AS ${m}`)].join(", ")}` +
    ` FROM ${part.from.join(", ")} WHERE ${part.where.join(" AND ")}`;
  const upsert =
    `INSERT INTO ${part.table} (${[...keyNames, ...measureNames].join(", ")}) ` +
    `SELECT ${[...keyNames, ...measureNames.map((m) => `${sign} * SUM(${m})`)].join(", ")} FROM (${inner}) c ` +
    `GROUP BY ${keyNames.join(", ")} HAVING ${measureNames.map((m) => `SUM(${m}) <> 0`).join(" OR ")} ` +
    `ON CONFLICT (${keyNames.join(", ")}) DO UPDATE SET ` +
    measureNames.map((m) => `${m} = ${part.table}.${m} + excluded.${m}`).join(", ");
  if (sign === 1) return [upsert];
  const cleanup =
    `DELETE FROM ${part.table} WHERE (${keyNames.join(", ")}) IN (SELECT ${keyNames.join(", ")} FROM (${inner}) c) AND ` +
    measureNames.map((m) => `${m} = 0`).join(" AND ");
  return [upsert, cleanup];
}

/**
 * PostgreSQL runs a plpgsql function per row of a row trigger: a first scan of 20,000 files
 * took four times as long. New files (a scan's batches of 1,000) go through a statement trigger
 * instead, which sums the statement's rows (its transition table) per key in one statement per
 * table. Updates keep the row trigger: its WHEN clause skips, without calling any function, the
 * rows a rescan rewrites without a change that counts, where a statement trigger would have to
 * join every batch's old and new rows to find the few that changed.
 */
function pgFilesInsertTrigger(stored: StoredBytes): string[] {
  const inserted: FileSource = { from: ["inserted n"], where: [], col: (column) => `n.${column}` };
  const statements = [
    // The locations' locks in one order, as the row triggers take theirs (see createTrigger).
    `PERFORM pg_advisory_xact_lock(${SUMMARY_LOCK}, l::integer) FROM (SELECT DISTINCT location_id AS l FROM inserted ORDER BY 1) s`,
    ...new Contribution("postgres", stored).parts(inserted, ALL_REPLICAS).flatMap((part) => applyGrouped(part, 1)),
  ];
  return [
    `CREATE FUNCTION usage_files_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${statements
      .map((s) => `${s};`)
      .join(" ")} RETURN NULL; END $$`,
    "CREATE TRIGGER usage_files_insert AFTER INSERT ON files REFERENCING NEW TABLE AS inserted " +
      "FOR EACH STATEMENT EXECUTE FUNCTION usage_files_insert()",
  ];
}

/**
 * SQLite's bulk path for a scan's new rows (src/catalog/files.ts, `FileUpserter`) as migration
 * 0023 made it: while a row of `files_bulk_insert` existed in the writing transaction, the files
 * insert triggers (du's and the name trigrams') skipped each row, and the writer added the whole
 * batch's contributions here, summed per key, as PostgreSQL's statement trigger does. Migration
 * 0028 took the marker and the WHEN out again: the bulk path now drops those triggers for its
 * inserts instead (`BULK_DONE_FILE_TRIGGERS`).
 */
export const BULK_INSERT_MARKER = "files_bulk_insert";

/** The WHEN of a files insert trigger from migration 0023 to 0028: the row is not one of a bulk batch. */
export const NOT_BULK = `NOT EXISTS (SELECT 1 FROM ${BULK_INSERT_MARKER})`;

/**
 * The files insert triggers whose work the bulk path does itself, once per batch (du's sums and
 * the name trigrams). It drops them for its inserts (files.ts, `withoutInsertTriggers`); a test
 * holds this list to every insert trigger the schema has on `files`.
 */
export const BULK_DONE_FILE_TRIGGERS = ["usage_files_insert", "files_name_trigrams_insert"] as const;

/** SQLite: the name and stored text of each trigger of BULK_DONE_FILE_TRIGGERS the catalog has. */
export async function bulkDoneFileTriggers(db: QueryExecutorProvider): Promise<{ name: string; sql: string }[]> {
  const { rows } = await sql<{ name: string; sql: string }>`SELECT name, sql FROM sqlite_master
    WHERE type = 'trigger' AND tbl_name = 'files' AND name IN (${sql.join([...BULK_DONE_FILE_TRIGGERS])})`.execute(db);
  return rows;
}

/**
 * Migration 0028's work on SQLite: the files insert triggers made again without 0023's WHEN (it
 * still cost each row inserted by anyone else a lookup), and the marker table dropped. Their
 * text is rewritten as stored, as 0026 rewrote it; a trigger spelled otherwise stops the migration.
 */
export async function dropBulkInsertMarker(db: Kysely<unknown>): Promise<void> {
  for (const trigger of await bulkDoneFileTriggers(db)) {
    const rewritten = trigger.sql.replace(MARKER_WHEN, "");
    if (rewritten === trigger.sql || rewritten.includes(BULK_INSERT_MARKER)) {
      throw new Error(`migration 0028: trigger ${trigger.name} names ${BULK_INSERT_MARKER} in a way it does not know`);
    }
    await sql`DROP TRIGGER ${sql.id(trigger.name)}`.execute(db);
    await sql.raw(rewritten).execute(db);
  }
  await sql`DROP TABLE ${sql.table(BULK_INSERT_MARKER)}`.execute(db);
}

/** NOT_BULK as 0023 wrote it into each trigger's WHEN, parenthesised or not. */
const MARKER_WHEN = /\s+WHEN\s+\(?NOT EXISTS \(SELECT 1 FROM files_bulk_insert\)\)?(?=\s+BEGIN\b)/;

/**
 * The statements that add the contributions of the files with `? < id <= ?` (bound in that
 * order), rows this transaction has just inserted. Such a row has no replicas yet (a replica
 * names a file id, and no one knew these before the insert), so none is read: the flags and the
 * copies' parts are computed over an empty set without a lookup per row.
 */
export function bulkInsertedFilesSummaries(): string[] {
  const inserted: FileSource = { from: ["files n"], where: ["n.id > ?", "n.id <= ?"], col: (c) => `n.${c}` };
  const noReplicas: ReplicaFilter = () => ["FALSE"];
  return new Contribution("sqlite", "stored").parts(inserted, noReplicas).flatMap((part) => applyGrouped(part, 1));
}

/**
 * SQLite's bulk path for new replicas (src/catalog/replicas.ts, `recordReplicasInBulk`: a pack's
 * members): while a row of `replicas_bulk_insert` exists in the writing transaction, the short
 * way of du's replica insert trigger (KEEPS_FLAGS) and the capacity trigger skip each row, and
 * the writer adds the batch's copies here, summed per key. A row that may move its file between
 * bucket keys still takes the long way, row by row. Migration 0025 adds the marker and the WHENs.
 */
export const BULK_REPLICAS_MARKER = "replicas_bulk_insert";

/** The WHEN of a replica insert trigger that a bulk batch adds up afterwards. */
export const NOT_BULK_REPLICAS = `NOT EXISTS (SELECT 1 FROM ${BULK_REPLICAS_MARKER})`;

/** KEEPS_FLAGS for the new replica `n` of the file `f`, over rows already inserted. */
const KEEPS_FLAGS_OF_NEW = "n.state IN ('present', 'released', 'replacing') AND f.state IN ('present', 'missing')";

/**
 * The statements that add du's copies of the replicas with `? < id <= ?` (bound in that order)
 * that keep their files' flags, rows this transaction has just inserted: what the short way of
 * the insert trigger adds row by row, summed per key.
 */
export function bulkInsertedReplicasSummaries(): string[] {
  const inserted: FileSource = {
    from: ["replicas n", "files f"],
    where: ["n.id > ?", "n.id <= ?", "f.id = n.file_id", KEEPS_FLAGS_OF_NEW],
    col: (c) => `f.${c}`,
  };
  const onlyNew: ReplicaFilter = (alias) => [`${alias}.id = n.id`];
  return ownCopyParts(new Contribution("sqlite", "stored"), inserted, onlyNew).flatMap((part) => applyGrouped(part, 1));
}

/** Migration 0025's work on SQLite: the marker table, and the short way of du's replica insert trigger made again with its WHEN. */
export async function skipBulkReplicaInserts(db: Kysely<unknown>): Promise<void> {
  const [insert] = triggerSpecs("sqlite", "stored", true).filter((s) => s.table === "replicas" && s.event === "INSERT");
  if (!insert?.fast) throw new Error("no replica insert trigger with a short way");
  const statements = [
    // At most one row, and only inside a bulk batch's transaction: never committed.
    `CREATE TABLE ${BULK_REPLICAS_MARKER} (only integer PRIMARY KEY CHECK (only = 1))`,
    `DROP TRIGGER ${insert.name}_fast`,
    ...createTrigger("sqlite", {
      ...insert,
      fast: undefined,
      name: `${insert.name}_fast`,
      when: `(${insert.fast.condition}) AND ${NOT_BULK_REPLICAS}`,
      statements: insert.fast.statements,
    }),
  ];
  for (const statement of statements) await sql.raw(statement).execute(db);
}

/** The largest id in `table` so far: a bulk batch's new rows are those past it (ids only grow, and the batch's transaction is the only writer). */
export async function largestId(db: QueryExecutorProvider, table: "files" | "replicas"): Promise<number> {
  const { rows } = await sql<{ id: number | null }>`SELECT max(id) AS id FROM ${sql.table(table)}`.execute(db);
  return Number(rows[0]?.id ?? 0);
}

/** Migration 0023's work on SQLite: the marker table, and du's files insert trigger made again with its WHEN. */
export async function skipBulkInserts(db: Kysely<unknown>): Promise<void> {
  const [insert] = triggerSpecs("sqlite", "stored").filter((s) => s.table === "files" && s.event === "INSERT");
  if (!insert) throw new Error("no files insert trigger");
  const statements = [
    // At most one row, and only inside a bulk batch's transaction: never committed.
    `CREATE TABLE ${BULK_INSERT_MARKER} (only integer PRIMARY KEY CHECK (only = 1))`,
    ...dropTrigger("sqlite", insert),
    ...createTrigger("sqlite", { ...insert, when: NOT_BULK }),
  ];
  for (const statement of statements) await sql.raw(statement).execute(db);
}

/**
 * PostgreSQL has no json_valid before 16: tags that are not one JSON object count as no tags,
 * as SQLite's guard in the trigger does, rather than failing the write that stored them.
 */
const PG_TAG_PAIRS = `CREATE FUNCTION strata_tag_pairs(tags text) RETURNS TABLE (key text, value text)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE parsed json;
BEGIN
  IF tags IS NULL THEN RETURN; END IF;
  BEGIN
    parsed := tags::json;
  EXCEPTION WHEN others THEN RETURN;
  END;
  IF json_typeof(parsed) <> 'object' THEN RETURN; END IF;
  RETURN QUERY SELECT p.key, p.value FROM json_each_text(parsed) p;
END $$`;

/** "SUMS": the first key of the PostgreSQL advisory locks taken on a location's summaries. */
export const SUMMARY_LOCK = 0x53554d53;

/** The location whose summary rows a trigger writes: the file's (a replica's file's) location. */
function summaryLocation(spec: TriggerSpec): string {
  const row = spec.event === "DELETE" ? "OLD" : "NEW";
  return spec.table === "files" ? `${row}.location_id` : `(SELECT location_id FROM files WHERE id = ${row}.file_id)`;
}

function createTrigger(dialect: Dialect, spec: TriggerSpec): string[] {
  if (dialect === "sqlite" && spec.fast) {
    // SQLite has no IF: two triggers whose conditions split the rows between them.
    const { fast, ...slow } = spec;
    const both = (condition: string) => (spec.when ? `(${spec.when}) AND ${condition}` : condition);
    return [
      ...createTrigger(dialect, {
        ...slow,
        name: `${spec.name}_fast`,
        when: both(`(${fast.condition})`),
        statements: fast.statements,
      }),
      ...createTrigger(dialect, { ...slow, when: both(`NOT (${fast.condition})`) }),
    ];
  }
  const when = spec.when ? ` WHEN (${spec.when})` : "";
  const head = `CREATE TRIGGER ${spec.name} ${spec.timing} ${spec.event} ON ${spec.table} FOR EACH ROW${when}`;
  if (dialect === "sqlite") return [`${head} BEGIN ${spec.statements.map((s) => `${s};`).join(" ")} END`];
  // Concurrent transactions (an apply's parallel transitions) would otherwise update the same
  // summary rows in different orders and deadlock: one lock per location, taken before any
  // summary row and held to commit, orders them. SQLite has one writer at a time already.
  const lock = `PERFORM pg_advisory_xact_lock(${SUMMARY_LOCK}, ${summaryLocation(spec)}::integer);`;
  // A BEFORE trigger's result is the row to write: NULL would cancel the change.
  const result = spec.timing === "AFTER" ? "NULL" : spec.event === "DELETE" ? "OLD" : "NEW";
  const body = (statements: string[]) => statements.map((s) => `${s};`).join(" ");
  // PostgreSQL allows no subquery in a trigger's WHEN: the function chooses.
  const statements = spec.fast
    ? `IF ${spec.fast.condition} THEN ${body(spec.fast.statements)} ELSE ${body(spec.statements)} END IF;`
    : body(spec.statements);
  return [
    `CREATE FUNCTION ${spec.name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${lock} ${statements} RETURN ${result}; END $$`,
    `${head} EXECUTE FUNCTION ${spec.name}()`,
  ];
}

/** A summary trigger dropped (and on PostgreSQL its function; on SQLite its fast twin, if any). */
function dropTrigger(dialect: Dialect, spec: TriggerSpec): string[] {
  if (dialect === "postgres") return [`DROP TRIGGER ${spec.name} ON ${spec.table}`, `DROP FUNCTION ${spec.name}()`];
  return [`DROP TRIGGER ${spec.name}`, ...(spec.fast ? [`DROP TRIGGER ${spec.name}_fast`] : [])];
}

/** The triggers and the backfill of every file's contribution, reading stored bytes as `stored` says. */
function triggersAndBackfill(dialect: Dialect, stored: StoredBytes): string[] {
  return [
    ...new Contribution(dialect, stored)
      .parts({ from: ["files f"], where: [], col: (c) => `f.${c}` }, ALL_REPLICAS)
      .flatMap((part) => applyGrouped(part, 1)),
    ...triggerSpecs(dialect, stored)
      .filter((spec) => dialect === "sqlite" || spec.table === "replicas" || spec.event !== "INSERT")
      .flatMap((spec) => createTrigger(dialect, spec)),
    ...(dialect === "postgres" ? pgFilesInsertTrigger(stored) : []),
  ];
}

/** Migration 0009's work: tables, triggers, and the summaries of the rows already in the catalog. */
export async function createSummaries(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const statements = [
    ...Object.keys(TABLES).map((name) => createTable(dialect, name)),
    ...(dialect === "postgres" ? [PG_TAG_PAIRS] : []),
    ...triggersAndBackfill(dialect, "logical"),
  ];
  for (const statement of statements) await sql.raw(statement).execute(db);
}

/**
 * Migration 0020's work: copies' stored bytes become coalesce(stored_size, size), so a compressed
 * copy or a pack member counts the bytes its store holds. Every trigger is made again and the
 * summaries summed again from the rows, in the migration's transaction.
 */
export async function sumStoredBytes(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const drops = triggerSpecs(dialect, "logical").flatMap((spec) => dropTrigger(dialect, spec));
  const statements = [
    ...drops,
    ...Object.keys(TABLES).map((name) => `DELETE FROM ${name}`),
    ...triggersAndBackfill(dialect, "stored"),
  ];
  for (const statement of statements) await sql.raw(statement).execute(db);
}

/**
 * Migration 0022's work: the replica insert trigger made again with its short way for copies
 * that cannot move their file between du's bucket keys (KEEPS_FLAGS). The sums do not change.
 */
export async function fastReplicaInserts(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const insert = (fast: boolean) =>
    triggerSpecs(dialect, "stored", fast).filter((spec) => spec.table === "replicas" && spec.event === "INSERT");
  const statements = [
    ...insert(false).flatMap((spec) => dropTrigger(dialect, spec)),
    ...insert(true).flatMap((spec) => createTrigger(dialect, spec)),
  ];
  for (const statement of statements) await sql.raw(statement).execute(db);
}
