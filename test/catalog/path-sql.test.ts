import { join } from "node:path";
import Database from "better-sqlite3";
import { Migrator, sql } from "kysely";
import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { migrations } from "../../src/catalog/migrations.js";
import { sqliteBaseName, sqliteDirName } from "../../src/catalog/path-sql.js";
import { expectSummariesMatchRows } from "../query/summaries-check.js";
import { kyselyAt } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";

/** The spellings migration 0026 replaced, as the previous release wrote them into its triggers. */
const rtrimBaseName = (path: string) => `substr(${path}, length(rtrim(${path}, replace(${path}, '/', ''))) + 1)`;
const rtrimDirName = (path: string) => `rtrim(rtrim(${path}, replace(${path}, '/', '')), '/')`;

const TRICKY = [
  "",
  "a",
  "a/b",
  "a/b/c.txt",
  "a//b",
  "a/b/",
  "/a",
  "/",
  "//",
  "a b/é x",
  'quo"te/ba\\ck\\',
  "ctl\u0001/\u001f\u007f",
  "emoji/😀/file😀",
  "tab\t/new\nline",
  "json/[1,2]",
  'x/","/y',
  "x/\\u002f/y",
  `${"deep/".repeat(60)}leaf.nc`,
  "ünïcödé/名前/ファイル.txt",
  "\u2028/\u2029",
];

/** Random paths over characters that JSON escapes, multi-byte ones and slashes. */
function randomPaths(count: number): string[] {
  const pool = [
    "/",
    "/",
    "a",
    "Z",
    "0",
    ".",
    " ",
    '"',
    "\\",
    "\t",
    "\u0000".slice(1),
    "\u0002",
    "é",
    "名",
    "😀",
    "\u2028",
    "[",
    ",",
  ];
  let seed = 7;
  const next = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed;
  };
  return Array.from({ length: count }, () =>
    Array.from({ length: next() % 40 }, () => pool[next() % pool.length] as string).join(""),
  );
}

describe("a path's name and directory in SQLite's SQL", () => {
  it("give the same text as the rtrim spellings, and as JavaScript's split, for every path", () => {
    const db = new Database(":memory:");
    db.exec("CREATE TABLE p (path TEXT)");
    const insert = db.prepare("INSERT INTO p VALUES (?)");
    const paths = [...TRICKY, ...randomPaths(3_000)];
    for (const path of paths) insert.run(path);
    const rows = db
      .prepare(
        `SELECT path, ${sqliteBaseName("path")} AS name, ${sqliteDirName("path")} AS dir,
          ${rtrimBaseName("path")} AS oldName, ${rtrimDirName("path")} AS oldDir FROM p`,
      )
      .all() as { path: string; name: string; dir: string; oldName: string; oldDir: string }[];
    expect(rows).toHaveLength(paths.length);
    // A path another tool stored as a BLOB: named as its text, not refused by json_quote.
    const blob = db
      .prepare(`SELECT ${sqliteBaseName("p")} AS name, ${sqliteDirName("p")} AS dir FROM (SELECT ? AS p)`)
      .get(Buffer.from("a/é/ü.nc")) as { name: string; dir: string };
    expect(blob).toEqual({ name: "ü.nc", dir: "a/é" });
    for (const row of rows) {
      const last = row.path.lastIndexOf("/");
      const expected = {
        name: row.path.slice(last + 1),
        dir: row.path.slice(0, Math.max(0, last)).replace(/\/+$/, ""),
      };
      expect({ path: row.path, name: row.name, dir: row.dir }).toEqual({ path: row.path, ...expected });
      expect({ path: row.path, name: row.oldName, dir: row.oldDir }).toEqual({ path: row.path, ...expected });
    }
  });

  it("migration 0026 makes the previous release's triggers linear and keeps du and the name index exact", async () => {
    const work = tempDir();
    const url = join(work, "catalog.db");
    const db = kyselyAt("sqlite", url);
    try {
      const { error } = await new Migrator({ db, provider: migrations("sqlite") }).migrateTo(
        "0025_bulk_replica_inserts",
      );
      if (error) throw error;
      await withTriggersOfThePreviousRelease(url);
      const location = await db
        .insertInto("locations")
        .values({ name: "scratch", url: "file:///scratch", kind: "posix", created_at: 0 })
        .returning("id")
        .executeTakeFirstOrThrow();
      const paths = Array.from(
        { length: 60 },
        (_, i) => [`top${i}.dat`, `a/needle${i}.nc`, `a/b/c/needle${i}.h5`, `é x/名${i}`][i % 4],
      );
      // Row by row through the triggers (no bulk marker), as any writer but a scan's.
      await sql`INSERT INTO files (location_id, path, kind, size, mtime_us, atime_us, ctime_us, mode, uid, gid,
          inode, state, first_scan_id, seen_scan_id, changed_scan_id)
        SELECT ${location.id}, value, 'file', key * 1000, 0, 0, 0, 420, 1000, 100, key, 'present', 1, 1, 1
        FROM json_each(${JSON.stringify(paths)})`.execute(db);
    } finally {
      await db.destroy();
    }

    const catalog = await openCatalog(url);
    try {
      const { rows } = await sql<{ sql: string }>`SELECT sql FROM sqlite_master WHERE type = 'trigger'`.execute(
        catalog.db,
      );
      expect(
        rows.filter(
          (r) => r.sql.includes("replace(new.path, '/', '')") || r.sql.includes("replace(NEW.path, '/', '')"),
        ),
      ).toEqual([]);
      expect(rows.filter((r) => r.sql.includes("json_quote")).length).toBeGreaterThan(5);
      // Rows indexed and summed under the old spellings, renamed and deleted under the new ones.
      await sql`UPDATE files SET path = 'moved/' || path WHERE path LIKE 'a/needle%'`.execute(catalog.db);
      await sql`DELETE FROM files WHERE path LIKE 'a/b/c/needle%'`.execute(catalog.db);
      const needles = await sql<{ n: number }>`SELECT count(*) AS n FROM files_name_trigrams
        WHERE files_name_trigrams MATCH '"nee"'`.execute(catalog.db);
      expect(Number(needles.rows[0]?.n)).toBe(15);
    } finally {
      await catalog.close();
    }
    await expectSummariesMatchRows(url, work, "after migration 0026, a rename and a delete");
  });
});

/** The catalog's triggers spelled as before 0026, as a catalog the previous release made holds them. */
async function withTriggersOfThePreviousRelease(url: string): Promise<void> {
  const db = new Database(url);
  try {
    const triggers = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all() as {
      name: string;
      sql: string;
    }[];
    let changed = 0;
    for (const { name, sql: text } of triggers) {
      let old = text;
      for (const column of ["new.path", "old.path", "NEW.path", "OLD.path", "f.path", "n.path", "path"]) {
        old = old.split(sqliteDirName(column)).join(rtrimDirName(column));
        old = old.split(sqliteBaseName(column)).join(rtrimBaseName(column));
      }
      if (old === text) continue;
      changed++;
      db.exec(`DROP TRIGGER ${name}`);
      db.exec(old);
    }
    expect(changed).toBeGreaterThan(5);
  } finally {
    db.close();
  }
}
