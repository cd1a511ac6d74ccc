import Database from "better-sqlite3";

/**
 * Rows of a SQLite catalog, read beside a running Strata as an operator would: read-only, so a
 * test looking cannot change what it looks at. Throws while the file or its tables do not exist yet.
 */
export function catalogRows<T>(catalogFile: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(catalogFile, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}
