import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import { Kysely, Migrator, PostgresDialect, type SqliteDatabase, SqliteDialect } from "kysely";
import pg from "pg";
import { UsageError } from "../config/errors.js";
import { type Dialect, migrations } from "./migrations.js";
import type { CatalogSchema } from "./schema.js";

export interface CatalogDb {
  db: Kysely<CatalogSchema>;
  dialect: Dialect;
  /** The URL with any password removed, safe for messages. */
  displayUrl: string;
  close(): Promise<void>;
}

// int8 columns (sizes, microsecond times, ids) arrive as strings by default; every value
// Strata stores stays below 2^53, so numbers are exact.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

/** Opens (creating if needed) the catalog at `url` and brings its schema up to date. */
export async function openCatalog(url: string): Promise<CatalogDb> {
  const isPostgres = /^postgres(ql)?:\/\//i.test(url);
  const displayUrl = isPostgres ? withoutPassword(url) : url;
  const catalog = isPostgres ? openPostgres(url, displayUrl) : openSqlite(url);
  try {
    await migrate(catalog);
  } catch (err) {
    await catalog.close();
    throw new UsageError(`catalog ${displayUrl}: ${(err as Error).message}`);
  }
  return catalog;
}

function openSqlite(url: string): CatalogDb {
  const path = url.replace(/^sqlite:(\/\/)?/, "");
  try {
    mkdirSync(dirname(path), { recursive: true });
    const database = new SQLite(path);
    database.pragma("journal_mode = WAL");
    database.pragma("synchronous = NORMAL");
    database.pragma("busy_timeout = 30000");
    database.pragma("foreign_keys = ON");
    const db = new Kysely<CatalogSchema>({ dialect: new SqliteDialect({ database: new CachedStatements(database) }) });
    return { db, dialect: "sqlite", displayUrl: path, close: () => db.destroy() };
  } catch (err) {
    throw new UsageError(`catalog ${path}: ${(err as Error).message}`);
  }
}

function openPostgres(url: string, displayUrl: string): CatalogDb {
  const pool = new pg.Pool({ connectionString: url, max: 8, connectionTimeoutMillis: 10_000 });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on("error", () => {});
  const db = new Kysely<CatalogSchema>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: "postgres", displayUrl, close: () => db.destroy() };
}

/**
 * Kysely's SQLite driver prepares every statement anew; preparing cost more than running the
 * small statements a sync issues per file. Statements are reused by their SQL text.
 */
class CachedStatements implements SqliteDatabase {
  private readonly cache = new Map<string, SQLite.Statement>();

  constructor(private readonly database: SQLite.Database) {}

  prepare(sql: string): SQLite.Statement {
    let statement = this.cache.get(sql);
    if (!statement) {
      if (this.cache.size >= 500) this.cache.clear();
      statement = this.database.prepare(sql);
      this.cache.set(sql, statement);
    }
    return statement;
  }

  close(): void {
    this.cache.clear();
    this.database.close();
  }
}

async function migrate(catalog: CatalogDb): Promise<void> {
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
