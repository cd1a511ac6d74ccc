import Database from "better-sqlite3";

/**
 * Rows of a SQLite file Strata writes (a catalog, the embedded store's index), read beside a
 * running Strata as an operator would: read-only, so a test looking cannot change what it looks
 * at. Throws while the file or its tables do not exist yet.
 */
export function sqliteRows<T>(file: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}
