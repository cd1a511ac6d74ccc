import SQLite from "better-sqlite3";
import { Kysely, Migrator, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import { openCatalog } from "../../src/catalog/db.js";
import { type Dialect, migrations } from "../../src/catalog/migrations.js";
import type { CatalogSchema } from "../../src/catalog/schema.js";
import {
  GENERATED_NOW_US,
  LOCATIONS,
  type SyntheticFile,
  type SyntheticOptions,
  type SyntheticReplica,
  syntheticCatalog,
} from "./synthetic-catalog.js";

/**
 * Loads a synthetic catalog into a fresh SQLite or PostgreSQL catalog through Strata's own
 * migrations. `bulk`: the rows go in at the schema before the query indexes and summaries
 * (0007), and the migrations after it then build the trigram index and fill the summaries from
 * them set-wise, as they do when an existing catalog is upgraded: the way to load ten million
 * rows in minutes. Otherwise the rows go into the whole schema, so every trigger pays its price
 * row by row, as a first scan and sync of a tree do (used on a sample to measure that price).
 */

const FILE_COLUMNS = [
  "id",
  "path",
  "kind",
  "size",
  "mtime_us",
  "atime_us",
  "ctime_us",
  "mode",
  "uid",
  "gid",
  "inode",
  "hash",
  "file_type",
  "tags",
  "state",
  "stub_size",
  "stub_mtime_us",
  "stub_inode",
] as const satisfies ReadonlyArray<keyof SyntheticFile>;

const REPLICA_COLUMNS = [
  "file_id",
  "location_id",
  "key",
  "size",
  "hash",
  "storage_class",
  "state",
  "source_size",
  "source_mtime_us",
  "created_at",
  "verified_at",
] as const satisfies ReadonlyArray<keyof SyntheticReplica>;

// Every file was seen by the one scan of the one POSIX location.
const FILE_CONSTANTS = { location_id: 1, first_scan_id: 1, seen_scan_id: 1, changed_scan_id: 1 };

export interface LoadResult {
  files: number;
  replicas: number;
  /** Writing the rows. */
  rowsSeconds: number;
  /** The migrations after the rows (bulk only): the trigram index and the summaries filled. */
  upgradeSeconds: number;
}

/** The last migration before find's indexes and du's summaries. */
const BEFORE_QUERY_TABLES = "0007_engine_events";

export async function loadCatalog(url: string, options: SyntheticOptions, bulk: boolean): Promise<LoadResult> {
  const dialect: Dialect = /^postgres(ql)?:/.test(url) ? "postgres" : "sqlite";
  await createAt(url, dialect, bulk ? BEFORE_QUERY_TABLES : undefined);
  const rowsStarted = process.hrtime.bigint();
  // Row by row, the transactions are as small as a sync's recorder makes them (256 outcomes):
  // PostgreSQL keeps every version of a summary row a transaction updated, so one transaction of
  // thousands of writes to the same summary rows reads longer and longer version chains.
  const batch = bulk ? (dialect === "sqlite" ? 50_000 : 20_000) : 256;
  const counts = dialect === "sqlite" ? loadSqlite(url, options, batch) : await loadPostgres(url, options, batch);
  const upgradeStarted = process.hrtime.bigint();
  await (await openCatalog(url)).close();
  const done = process.hrtime.bigint();
  await analyze(url, dialect);
  return {
    ...counts,
    rowsSeconds: Number(upgradeStarted - rowsStarted) / 1e9,
    upgradeSeconds: Number(done - upgradeStarted) / 1e9,
  };
}

/** A catalog at `migration` (the latest when undefined) with the synthetic locations and scan. */
async function createAt(url: string, dialect: Dialect, migration: string | undefined): Promise<void> {
  const db = new Kysely<CatalogSchema>({
    dialect:
      dialect === "sqlite"
        ? new SqliteDialect({ database: new SQLite(url) })
        : new PostgresDialect({ pool: new pg.Pool({ connectionString: url }) }),
  });
  try {
    const migrator = new Migrator({ db, provider: migrations(dialect) });
    const { error } = migration ? await migrator.migrateTo(migration) : await migrator.migrateToLatest();
    if (error) throw error;
    await db
      .insertInto("locations")
      .values(LOCATIONS.map((l) => ({ ...l, created_at: GENERATED_NOW_US / 1000, root_device: null })))
      .execute();
    await db
      .insertInto("scans")
      .values({
        location_id: 1,
        started_at: GENERATED_NOW_US / 1000,
        finished_at: GENERATED_NOW_US / 1000,
        status: "done",
        files: 0,
        bytes: 0,
        new_files: 0,
        changed_files: 0,
        deleted_files: 0,
        errors: 0,
      })
      .execute();
  } finally {
    await db.destroy();
  }
}

/** Fresh statistics, as a catalog in use has them (autovacuum, or SQLite's ANALYZE). */
async function analyze(url: string, dialect: Dialect): Promise<void> {
  if (dialect === "sqlite") {
    const db = new SQLite(url);
    db.exec("ANALYZE");
    db.pragma("wal_checkpoint(TRUNCATE)");
    db.close();
    return;
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("VACUUM ANALYZE");
  } finally {
    await client.end();
  }
}

type Counts = Pick<LoadResult, "files" | "replicas">;

function loadSqlite(path: string, options: SyntheticOptions, batchRows: number): Counts {
  const db = new SQLite(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  const constantNames = Object.keys(FILE_CONSTANTS);
  const insertFile = db.prepare(
    `INSERT INTO files (${[...constantNames, ...FILE_COLUMNS].join(", ")})
     VALUES (${[...Object.values(FILE_CONSTANTS), ...FILE_COLUMNS.map((c) => `@${c}`)].join(", ")})`,
  );
  const insertReplica = db.prepare(
    `INSERT INTO replicas (${REPLICA_COLUMNS.join(", ")}) VALUES (${REPLICA_COLUMNS.map((c) => `@${c}`).join(", ")})`,
  );
  let files = 0;
  let replicas = 0;
  const writeBatch = db.transaction((batch: { files: SyntheticFile[]; replicas: SyntheticReplica[] }) => {
    for (const f of batch.files) insertFile.run(f);
    for (const r of batch.replicas) insertReplica.run(r);
  });
  for (const batch of syntheticCatalog(options, batchRows)) {
    writeBatch(batch);
    files += batch.files.length;
    replicas += batch.replicas.length;
  }
  db.close();
  return { files, replicas };
}

const PG_TYPES: Record<string, string> = {
  path: "text",
  kind: "text",
  hash: "text",
  file_type: "text",
  tags: "text",
  state: "text",
  key: "text",
  storage_class: "text",
};

/** One INSERT … SELECT FROM unnest($1::type[], …) per batch: one round trip for 20,000 rows. */
function unnestInsert(table: string, columns: readonly string[], constants: Record<string, number> = {}): string {
  const arrays = columns.map((c, i) => `$${i + 1}::${PG_TYPES[c] ?? "bigint"}[]`).join(", ");
  const names = [...Object.keys(constants), ...columns].join(", ");
  const values = [...Object.values(constants).map(String), ...columns].join(", ");
  return `INSERT INTO ${table} (${names}) SELECT ${values} FROM unnest(${arrays}) AS t(${columns.join(", ")})`;
}

async function loadPostgres(url: string, options: SyntheticOptions, batchRows: number): Promise<Counts> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const insertFiles = unnestInsert("files", FILE_COLUMNS, FILE_CONSTANTS);
    const insertReplicas = unnestInsert("replicas", REPLICA_COLUMNS);
    let files = 0;
    let replicas = 0;
    for (const batch of syntheticCatalog(options, batchRows)) {
      await client.query("BEGIN");
      await client.query(
        insertFiles,
        FILE_COLUMNS.map((c) => batch.files.map((f) => f[c])),
      );
      await client.query(
        insertReplicas,
        REPLICA_COLUMNS.map((c) => batch.replicas.map((r) => r[c])),
      );
      await client.query("COMMIT");
      files += batch.files.length;
      replicas += batch.replicas.length;
    }
    for (const table of ["files", "replicas"]) {
      await client.query(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), (SELECT max(id) FROM ${table}))`);
    }
    return { files, replicas };
  } finally {
    await client.end();
  }
}
