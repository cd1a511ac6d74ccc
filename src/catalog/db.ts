import { existsSync, mkdirSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, Migrator, PostgresDialect, type SqliteDatabase, SqliteDialect, sql } from "kysely";
import { UsageError } from "../config/errors.js";
import { type Dialect, migrations } from "./migrations.js";
import type { CatalogSchema } from "./schema.js";

export interface CatalogDb {
  db: Kysely<CatalogSchema>;
  dialect: Dialect;
  /** The URL as given, password included: for another connection to this catalog (a worker thread's), never for messages. */
  url: string;
  /** The URL with any password removed, safe for messages. */
  displayUrl: string;
  /** How long events are kept (ms): each run that changes something prunes older ones. Unset: forever. */
  eventsRetentionMs?: number;
  close(): Promise<void>;
  /**
   * Closes, and removes the catalog file if this process created it: a refused command or a dry
   * run leaves no catalog behind. A catalog that existed before is only closed.
   */
  discard(): Promise<void>;
}

/** What the config says of the catalog beyond where it is. */
export interface CatalogSettings {
  eventsRetentionMs?: number;
}

/** Opens (creating if needed) the catalog at `url` and brings its schema up to date. */
export async function openCatalog(url: string, settings: CatalogSettings = {}): Promise<CatalogDb> {
  const opened = await openEither(url);
  try {
    await opened.migrate();
  } catch (err) {
    await opened.catalog.discard();
    if (err instanceof UsageError) throw err;
    if (catalogFullCode(err)) throw new CatalogFullError(opened.catalog.displayUrl, err);
    throw new UsageError(`catalog ${opened.catalog.displayUrl}: ${(err as Error).message}`);
  }
  if (settings.eventsRetentionMs !== undefined) opened.catalog.eventsRetentionMs = settings.eventsRetentionMs;
  return opened.catalog;
}

/** What a connection of its own is for. */
export interface ConnectionOptions {
  /**
   * It writes batches of many rows (the scan's writer). SQLite then keeps each statement's
   * rollback journal in memory: written to a temporary file, one `pwrite` per page, it took a
   * fifth of a 1,000,000-file scan's writer thread. Not for every connection: the same setting
   * keeps large sorts in memory too. Its checkpoints are left to the connection that opened the
   * catalog (`checkpointPassively`, on another thread): copying its commits from the WAL back into
   * the database took a tenth of that writer thread. It starts one itself only past
   * BULK_WRITER_CHECKPOINT_BYTES of WAL, should that other connection fall behind.
   */
  bulkWrites?: boolean;
}

/** The bound on a bulk writer's WAL if nobody else checkpoints it. */
const BULK_WRITER_CHECKPOINT_BYTES = 64 * 1024 * 1024;

/**
 * The page size of a catalog this version creates (one made before keeps its own: SQLite fixes it
 * at creation). 16 KiB rather than SQLite's 4 KiB: a scan's transaction of 10,000 rows commits a
 * quarter as many pages, each a WAL write with its checksum, and its B-trees split and walk a
 * quarter as many pages. A 1,000,000-entry scan's commits took 0.82 → 0.62 s, the writer thread 7.0 → 6.6 s
 * of CPU, its checkpoints too; 64 KiB gained little more and held 15 MB more. A one-row commit
 * logs 16 KiB pages instead of 4 KiB: a sync's and a scan's rows go in batches, and release and
 * purge, which commit per file, spend their time on the file itself.
 */
const PAGE_SIZE = 16_384;

/**
 * Copies what other connections committed from the WAL back into the database, as far as no
 * reader still needs it, without waiting for anyone (SQLite's PASSIVE mode). A write transaction
 * that begins once everything is copied starts the WAL over from its beginning; a writer that
 * never pauses reaches its own bound first, and its checkpoint then finds little left to copy.
 * A no-op on PostgreSQL.
 */
export async function checkpointPassively(catalog: CatalogDb): Promise<void> {
  if (catalog.dialect === "sqlite") await sql`PRAGMA wal_checkpoint(PASSIVE)`.execute(catalog.db);
}

/**
 * A connection of its own (one, on PostgreSQL) to a catalog this process has already opened with
 * `openCatalog`, so its schema is current: for a worker thread that writes beside the main one.
 */
export async function openCatalogConnection(url: string, options: ConnectionOptions = {}): Promise<CatalogDb> {
  const opened = await openEither(url, 1, options);
  try {
    await opened.connect();
  } catch (err) {
    await opened.catalog.close();
    throw new UsageError(`catalog ${opened.catalog.displayUrl}: ${(err as Error).message}`);
  }
  return opened.catalog;
}

async function openEither(url: string, connections?: number, options: ConnectionOptions = {}): Promise<Opened> {
  if (!/^postgres(ql)?:\/\//i.test(url)) return openSqlite(url, options);
  return openPostgres(url, withoutPassword(url), connections);
}

/** SQLite's or PostgreSQL's code when the catalog's disk is full, to report the cause alone. */
export function catalogFullCode(err: unknown): string | undefined {
  for (let e = err; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (code === "SQLITE_FULL" || code === "ENOSPC") return code;
    if (code === "53100") return "PostgreSQL disk_full";
  }
  return undefined;
}

/** The catalog's disk filled up: the cause, in one line, is all a person needs. */
export class CatalogFullError extends Error {
  constructor(displayUrl: string, cause: unknown) {
    super(`catalog ${displayUrl}: disk full (${catalogFullCode(cause)}): ${(cause as Error).message}`, { cause });
  }
}

/** A catalog just opened, and how to bring its schema up to date under a lock (or only set the connection up). */
interface Opened {
  catalog: CatalogDb;
  migrate(): Promise<void>;
  /** The per-connection settings alone, for a catalog already migrated. */
  connect(): Promise<void>;
}

function openSqlite(url: string, options: ConnectionOptions): Opened {
  const path = url.replace(/^sqlite:(\/\/)?/, "");
  try {
    const existed = existsSync(path);
    const createdDir = mkdirSync(dirname(path), { recursive: true });
    const database = new SQLite(path);
    // Waits for another process's migration (or writes) instead of failing at once.
    database.pragma("busy_timeout = 30000");
    const db = new Kysely<CatalogSchema>({ dialect: new SqliteDialect({ database: new CachedStatements(database) }) });
    const catalog: CatalogDb = {
      db,
      dialect: "sqlite",
      url,
      displayUrl: path,
      close: () => db.destroy(),
      discard: async () => {
        await db.destroy();
        if (existed) return;
        for (const suffix of ["", "-wal", "-shm"]) rmSync(`${path}${suffix}`, { force: true });
        if (createdDir) rmSync(createdDir, { recursive: true, force: true });
      },
    };
    const connect = async () => {
      database.pragma("synchronous = NORMAL");
      database.pragma("foreign_keys = ON");
      if (options.bulkWrites) {
        database.pragma("temp_store = MEMORY");
        const pageSize = database.pragma("page_size", { simple: true }) as number;
        database.pragma(`wal_autocheckpoint = ${Math.ceil(BULK_WRITER_CHECKPOINT_BYTES / pageSize)}`);
      }
    };
    const migrate = async () => {
      // Checked before WAL is switched on: the journal mode is written into the file's header.
      await refuseForeign(catalog);
      database.pragma(`page_size = ${PAGE_SIZE}`);
      database.pragma("journal_mode = WAL");
      await connect();
      // One writer at a time from the first read on: a second process opening a new catalog
      // waits here, then finds the schema made, instead of creating the same tables again.
      database.exec("BEGIN IMMEDIATE");
      try {
        await refuseNewer(catalog);
        await migrateToLatest(catalog);
        database.exec("COMMIT");
      } finally {
        if (database.inTransaction) database.exec("ROLLBACK");
      }
    };
    return { catalog, migrate, connect };
  } catch (err) {
    throw new UsageError(`catalog ${path}: ${(err as Error).message}`);
  }
}

/** pg loads only for a PostgreSQL catalog: SQLite's commands and threads start without it. */
async function openPostgres(url: string, displayUrl: string, connections = 8): Promise<Opened> {
  const { default: pg } = await import("pg");
  // int8 columns (sizes, microsecond times, ids) arrive as strings by default; every value
  // Strata stores stays below 2^53, so numbers are exact.
  pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));
  const pool = new pg.Pool({ connectionString: url, max: connections, connectionTimeoutMillis: 10_000 });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on("error", () => {});
  const db = new Kysely<CatalogSchema>({ dialect: new PostgresDialect({ pool }) });
  const close = () => db.destroy();
  const catalog: CatalogDb = { db, dialect: "postgres", url, displayUrl, close, discard: close };
  const migrate = async () => {
    // A session lock on a connection of its own, so the migrations run on the others as usual;
    // a second process opening a new catalog waits here, then finds the schema made.
    const holder = await pool.connect();
    try {
      await holder.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
      await refuseForeign(catalog);
      await refuseNewer(catalog);
      await migrateToLatest(catalog);
    } finally {
      await holder.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]).catch(() => {});
      holder.release();
    }
  };
  // Nothing to set per connection; the first query connects.
  return { catalog, migrate, connect: async () => {} };
}

/** The advisory lock key of Strata's migrations ("STRATA" in ASCII), one per database. */
const MIGRATION_LOCK = "91754245837889";

/**
 * The longest SQL whose statement is kept among the many small ones. Longer SQL is a batch of
 * many rows (its text differs with each batch's row count) or one-time DDL: its compiled program
 * runs to hundreds of KB, and keeping every one made a 50,000-file upload's memory grow with the
 * file count (heaptrack: 37 MB of programs live at 20,000 files).
 */
const CACHED_SQL_MAX = 2_000;

/**
 * How many long statements are kept, the most recently used: a scan reuses its full-batch insert
 * and the bulk summaries for every batch (preparing them anew cost 2.8 s of a 1,000,000-file
 * scan's 25), while batches of odd sizes pass through without piling up.
 */
const LONG_STATEMENTS_KEPT = 8;

/**
 * Kysely's SQLite driver prepares every statement anew; preparing cost more than running the
 * small statements a sync issues per file. Those are reused by their SQL text.
 */
class CachedStatements implements SqliteDatabase {
  private readonly cache = new Map<string, SQLite.Statement>();
  /** Long statements, least recently used first. */
  private readonly long = new Map<string, SQLite.Statement>();

  constructor(private readonly database: SQLite.Database) {}

  prepare(sql: string): SQLite.Statement {
    // SQLite ends the transaction itself on SQLITE_FULL or an I/O error; a second rollback
    // would fail and its "no transaction is active" would replace the cause.
    if (sql === "rollback" && !this.database.inTransaction) return this.database.prepare("SELECT 1");
    // A deferred transaction that reads, then writes after another process wrote, fails at once
    // with "database is locked" (SQLite will not wait there: it could deadlock). Taking the write
    // lock at the start waits its turn under busy_timeout instead.
    if (sql === "begin") return this.prepare("begin immediate");
    if (sql.length > CACHED_SQL_MAX) return this.prepareLong(sql);
    let statement = this.cache.get(sql);
    if (!statement) {
      if (this.cache.size >= 500) this.cache.clear();
      statement = this.database.prepare(sql);
      this.cache.set(sql, statement);
    }
    return statement;
  }

  private prepareLong(sql: string): SQLite.Statement {
    const statement = this.long.get(sql) ?? this.database.prepare(sql);
    this.long.delete(sql);
    this.long.set(sql, statement);
    const oldest = this.long.keys().next().value;
    if (this.long.size > LONG_STATEMENTS_KEPT && oldest !== undefined) this.long.delete(oldest);
    return statement;
  }

  close(): void {
    this.cache.clear();
    this.long.clear();
    this.database.close();
  }
}

/** The name of the first migration: a database whose journal lacks it was migrated by someone else. */
const FIRST_MIGRATION = "0001_initial";

/**
 * A database that holds tables but no Strata migration journal belongs to another application:
 * migrating it would add Strata's tables among its own.
 */
async function refuseForeign(catalog: CatalogDb): Promise<void> {
  const tables = await tableNames(catalog);
  if (tables.length === 0) return;
  const applied = tables.includes("kysely_migration") ? await appliedMigrations(catalog) : [];
  if (applied.includes(FIRST_MIGRATION)) return;
  const shown = tables.slice(0, 5).join(", ") + (tables.length > 5 ? `, and ${tables.length - 5} more` : "");
  throw new UsageError(
    `catalog ${catalog.displayUrl} is not a Strata catalog (it holds tables ${shown}); ` +
      "give a new file or an empty database",
  );
}

/** Migrations this build does not know were made by a newer Strata: its schema may not be read. */
async function refuseNewer(catalog: CatalogDb): Promise<void> {
  if (!(await tableNames(catalog)).includes("kysely_migration")) return;
  const known = new Set(Object.keys(await migrations(catalog.dialect).getMigrations()));
  const unknown = (await appliedMigrations(catalog)).find((name) => !known.has(name));
  if (unknown !== undefined) {
    throw new UsageError(
      `catalog ${catalog.displayUrl} was written by a newer version of Strata (migration ${unknown}); ` +
        "upgrade Strata to use it",
    );
  }
}

async function tableNames({ db, dialect }: CatalogDb): Promise<string[]> {
  const query =
    dialect === "sqlite"
      ? sql<{ name: string }>`SELECT name FROM sqlite_master
          WHERE type IN ('table', 'view') AND substr(name, 1, 7) <> 'sqlite_' ORDER BY name`
      : sql<{ name: string }>`SELECT table_name AS name FROM information_schema.tables
          WHERE table_schema = current_schema() ORDER BY table_name`;
  return (await query.execute(db)).rows.map((r) => r.name);
}

async function appliedMigrations({ db }: CatalogDb): Promise<string[]> {
  const rows = await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(db);
  return rows.rows.map((r) => r.name);
}

async function migrateToLatest(catalog: CatalogDb): Promise<void> {
  const migrator = new Migrator({ db: catalog.db, provider: migrations(catalog.dialect) });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error;
}

function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "postgres://(unparseable URL)";
  }
}
