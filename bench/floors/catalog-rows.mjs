// The floor of writing a scan into the SQLite catalog: the rows of every entry of a tree and
// their name trigrams, as the catalog defines them (contentless FTS5, detail=none,
// columnsize=0, automerge 16; the base name by the catalog's SQL expression), 10,000 rows a
// transaction in 500-row INSERTs on one thread. No walk, no du summaries, no other index.
// Prints the milliseconds the writes took.
//
//   node bench/floors/catalog-rows.mjs LIST DB     (LIST: `find DIR -printf '%P\t%s\t%T@\n'`)
import { readFileSync, rmSync } from "node:fs";
import Database from "better-sqlite3";

const [list, path] = process.argv.slice(2);
const entries = readFileSync(list, "utf8")
  .split("\n")
  .filter(Boolean)
  .map((line) => line.split("\t"));
for (const suffix of ["", "-wal", "-shm"]) rmSync(`${path}${suffix}`, { force: true });
const db = new Database(path);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = NORMAL");
db.exec(`CREATE TABLE files (id INTEGER PRIMARY KEY, location_id INTEGER NOT NULL, path TEXT NOT NULL,
  kind INTEGER, size INTEGER, mtime_us INTEGER, ctime_us INTEGER, mode INTEGER, uid INTEGER, gid INTEGER,
  inode INTEGER, seen_scan_id INTEGER, UNIQUE (location_id, path))`);
db.exec(
  `CREATE VIRTUAL TABLE names USING fts5(name, tokenize = 'trigram', detail = 'none', content = '', columnsize = 0)`,
);
db.exec(`INSERT INTO names (names, rank) VALUES ('automerge', 16)`);

const ROWS = 500;
const TRANSACTION = 10_000;
const values = (count) => Array(count).fill("(1, ?, 0, ?, ?, ?, 420, 0, 0, ?, 1)").join(", ");
const insertInto = (count) =>
  db.prepare(`INSERT INTO files (location_id, path, kind, size, mtime_us, ctime_us, mode, uid, gid, inode, seen_scan_id)
    VALUES ${values(count)}`);
const fullInsert = insertInto(ROWS);
const baseName = `json_extract('[' || replace(json_quote(CAST(path AS TEXT)), '/', '","') || ']', '$[#-1]')`;
const trigrams = db.prepare(`INSERT INTO names (rowid, name) SELECT id, ${baseName} FROM files WHERE id > ?`);
const lastId = db.prepare("SELECT coalesce(max(id), 0) AS id FROM files").pluck();

const started = process.hrtime.bigint();
for (let start = 0; start < entries.length; start += TRANSACTION) {
  db.transaction(() => {
    const before = lastId.get();
    const end = Math.min(start + TRANSACTION, entries.length);
    for (let first = start; first < end; first += ROWS) {
      const batch = entries.slice(first, Math.min(first + ROWS, end));
      const args = batch.flatMap(([rel, size, mtime], i) => {
        const us = Math.round(Number(mtime) * 1e6);
        return [rel, Number(size), us, us, first + i];
      });
      (batch.length === ROWS ? fullInsert : insertInto(batch.length)).run(args);
    }
    trigrams.run(before);
  })();
}
const ms = Number(process.hrtime.bigint() - started) / 1e6;
process.stdout.write(`${JSON.stringify({ rows: entries.length, ms: Math.round(ms) })}\n`);
db.close();
