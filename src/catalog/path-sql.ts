import { type Kysely, sql } from "kysely";

/**
 * A path's last name and its directory, as SQL over a path column. du's summaries group by the
 * directory and the find index holds the name's trigrams, so every new row of a scan computes
 * both, in SQL (triggers and bulk statements alike).
 *
 * SQLite has no "last index of". The first spelling trimmed every character but '/' from the
 * right (`rtrim(path, replace(path, '/', ''))`), which compares each character of the name with
 * the whole path: 0.8 µs a row at 32 characters, 2.4 µs at 100, twice per new row. The path is
 * now quoted as a JSON string, its slashes made the separators of a JSON array, and the array's
 * last element taken: linear, 0.4 and 0.7 µs. json_quote escapes '"', '\' and control
 * characters, never '/', so the split is exact, and both spellings give the same text for every
 * valid UTF-8 path, all that Strata writes (test/catalog/path-sql.test.ts), which the trigram
 * index's deletes rely on. Text with an embedded NUL, or invalid UTF-8 just before a '/', can
 * differ: the rtrim spelling was wrong there.
 */
export function sqliteBaseName(path: string): string {
  // As text: json_quote refuses a BLOB, which another tool may have written as a path.
  return `json_extract('[' || replace(json_quote(CAST(${path} AS TEXT)), '/', '","') || ']', '$[#-1]')`;
}

/** What precedes a path's last name, trailing slashes trimmed: "a/b/c" → "a/b", "a//c" → "a", "c" → "". */
export function sqliteDirName(path: string): string {
  const text = `CAST(${path} AS TEXT)`;
  return `rtrim(substr(${text}, 1, length(${text}) - length(${sqliteBaseName(path)})), '/')`;
}

/** PostgreSQL's spelling of the name, which its find index is built on. */
export function postgresBaseName(path: string): string {
  return `substring(${path} from '[^/]*$')`;
}

/** PostgreSQL's spelling of the directory (its rtrim, unchanged since du's summaries began). */
export function postgresDirName(path: string): string {
  return `rtrim(rtrim(${path}, replace(${path}, '/', '')), '/')`;
}

/** A column reference as the generated SQL writes it: `path`, `new.path`, `f.path`. */
const COLUMN = String.raw`((?:\w+\.)?path)`;
const QUADRATIC_DIR = new RegExp(String.raw`rtrim\(rtrim\(${COLUMN}, replace\(\1, '/', ''\)\), '/'\)`, "gi");
const QUADRATIC_NAME = new RegExp(
  String.raw`substr\(${COLUMN}, length\(rtrim\(\1, replace\(\1, '/', ''\)\)\) \+ 1\)`,
  "gi",
);

/** A trigger's SQL with the rtrim spellings of the name and the directory replaced by the linear ones. */
export function withLinearPathNames(triggerSql: string): string {
  return triggerSql
    .replace(QUADRATIC_NAME, (_match, column: string) => sqliteBaseName(column))
    .replace(QUADRATIC_DIR, (_match, column: string) => sqliteDirName(column));
}

/**
 * Migration 0026 on SQLite: every trigger made with the rtrim spellings (du's summaries, the find
 * index) made again with the linear ones, nothing else changed. Fails rather than leave one
 * behind: a spelling it did not recognise.
 */
export async function useLinearPathNames(db: Kysely<unknown>): Promise<void> {
  const { rows } = await sql<{ name: string; sql: string }>`
    SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%replace(%'`.execute(db);
  for (const trigger of rows) {
    const rewritten = withLinearPathNames(trigger.sql);
    if (/replace\([\w.]*path, '\/', ''\)/i.test(rewritten)) {
      throw new Error(`migration 0026: trigger ${trigger.name} spells a path's name in a way it does not know`);
    }
    if (rewritten === trigger.sql) continue;
    await sql`DROP TRIGGER ${sql.id(trigger.name)}`.execute(db);
    await sql.raw(rewritten).execute(db);
  }
}
