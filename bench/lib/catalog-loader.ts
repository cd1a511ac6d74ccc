import SQLite from "better-sqlite3";
import pg from "pg";
import { openCatalog } from "../../src/catalog/db.js";
import {
  GENERATED_NOW_US,
  LOCATIONS,
  type SyntheticFile,
  type SyntheticOptions,
  type SyntheticReplica,
  syntheticCatalog,
} from "./synthetic-catalog.js";

/**
 * Loads a synthetic catalog into a fresh SQLite or PostgreSQL catalog. The schema (and every
 * index and trigger that keeps the query tables) comes from Strata's own migrations; the rows go
 * in through the drivers in large batches, as a first scan of a big tree would write them, so
 * the triggers and indexes pay their full price during the load.
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
  seconds: number;
}

export async function loadCatalog(url: string, options: SyntheticOptions): Promise<LoadResult> {
  const catalog = await openCatalog(url);
  try {
    await catalog.db
      .insertInto("locations")
      .values(LOCATIONS.map((l) => ({ ...l, created_at: GENERATED_NOW_US / 1000, root_device: null })))
      .execute();
    await catalog.db
      .insertInto("scans")
      .values({
        location_id: 1,
        started_at: GENERATED_NOW_US / 1000,
        finished_at: GENERATED_NOW_US / 1000,
        status: "done",
        files: options.files,
        bytes: 0,
        new_files: options.files,
        changed_files: 0,
        deleted_files: 0,
        errors: 0,
      })
      .execute();
  } finally {
    await catalog.close();
  }
  const started = process.hrtime.bigint();
  const counts = catalog.dialect === "sqlite" ? loadSqlite(url, options) : await loadPostgres(url, options);
  return { ...counts, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

function loadSqlite(path: string, options: SyntheticOptions): Omit<LoadResult, "seconds"> {
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
  for (const batch of syntheticCatalog(options, 50_000)) {
    writeBatch(batch);
    files += batch.files.length;
    replicas += batch.replicas.length;
  }
  db.exec("ANALYZE");
  db.pragma("wal_checkpoint(TRUNCATE)");
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

async function loadPostgres(url: string, options: SyntheticOptions): Promise<Omit<LoadResult, "seconds">> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const insertFiles = unnestInsert("files", FILE_COLUMNS, FILE_CONSTANTS);
    const insertReplicas = unnestInsert("replicas", REPLICA_COLUMNS);
    let files = 0;
    let replicas = 0;
    for (const batch of syntheticCatalog(options, 20_000)) {
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
    await client.query("VACUUM ANALYZE");
    return { files, replicas };
  } finally {
    await client.end();
  }
}
