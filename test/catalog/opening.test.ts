import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { freshCatalogUrl } from "../support/catalogs.js";
import { strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";

/** Names of the tables in a SQLite file, read without changing it. */
function sqliteTables(file: string): string[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
    return (rows as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
}

async function pgQuery<T>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end();
  }
}

/** A workspace with two configured locations, as the quick start sets up. */
function workspace(): string {
  const work = tempDir();
  writeTree(join(work, "data"), { "f1.txt": "one", "f2.txt": "two" });
  writeFileSync(
    join(work, "strata.yaml"),
    "locations:\n  scratch:\n    url: ./data\n  archive:\n    url: local:store\n",
  );
  return work;
}

describe("a catalog that is not what it seems", () => {
  it("refuses another application's SQLite database, naming it, and adds nothing to it", async () => {
    const work = tempDir();
    const file = join(work, "notes.db");
    const other = new Database(file);
    other.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes (text) VALUES ('mine')");
    other.close();

    const result = await strata(["--catalog", file, "ls"], { cwd: work });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/not a Strata catalog/);
    expect(result.stderr).toContain(file);
    expect(sqliteTables(file)).toEqual(["notes"]);
    // Not even the journal mode (kept in the file's header) was changed.
    const reopened = new Database(file, { readonly: true });
    expect(reopened.pragma("journal_mode", { simple: true })).toBe("delete");
    reopened.close();
  });

  it("refuses a PostgreSQL database that holds another application's tables", async () => {
    const url = await freshCatalogUrl("postgres", tempDir());
    await pgQuery(url, "CREATE TABLE invoices (id bigint PRIMARY KEY, total numeric)");

    const result = await strata(["--catalog", url, "ls"], { cwd: tempDir() });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/not a Strata catalog/);
    expect(result.stderr).toContain(new URL(url).pathname.slice(1));
    const tables = await pgQuery<{ table_name: string }>(
      url,
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    );
    expect(tables.map((t) => t.table_name)).toEqual(["invoices"]);
  });

  it("refuses a catalog written by a newer Strata as such", async () => {
    const work = tempDir();
    const file = join(work, "catalog.db");
    expect((await strata(["--catalog", file, "ls"], { cwd: work })).code).toBe(0);
    const db = new Database(file);
    db.prepare("INSERT INTO kysely_migration (name, timestamp) VALUES (?, ?)").run(
      "9999_from_the_future",
      new Date().toISOString(),
    );
    db.close();

    const result = await strata(["--catalog", file, "ls"], { cwd: work });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/written by a newer version of Strata \(migration 9999_from_the_future\); upgrade/);
    expect(result.stderr).not.toMatch(/corrupted/);
  });

  it("lets several processes open one new catalog at once (SQLite and PostgreSQL)", { timeout: 240_000 }, async () => {
    const work = tempDir();
    for (const round of [1, 2]) {
      const urls = [join(work, `new-${round}.db`), await freshCatalogUrl("postgres", work)];
      const results = await Promise.all(
        urls.flatMap((url) => Array.from({ length: 5 }, () => strata(["--catalog", url, "ls"], { cwd: work }))),
      );
      for (const r of results) {
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
      }
    }
  });
});

describe("a full disk under the catalog", () => {
  const mounts: string[] = [];
  afterAll(() => {
    for (const dir of mounts) execFileSync("umount", [dir]);
  });

  it("reports the cause in one line, without a stack trace", async () => {
    const work = tempDir();
    const tiny = join(work, "tiny");
    mkdirSync(tiny);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=600k", "tmpfs", tiny]);
    mounts.push(tiny);
    const files: Record<string, string> = {};
    for (let i = 0; i < 3000; i++) files[`file-with-a-rather-long-name-${i}.dat`] = "x";
    writeTree(join(work, "big"), files);

    const result = await strata(["--catalog", join(tiny, "catalog.db"), "scan", "big"], { cwd: work });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/disk (is )?full/i);
    expect(result.stderr).toContain(join(tiny, "catalog.db"));
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("refused commands and dry runs change nothing", () => {
  it("creates no catalog for a refused command or a dry run", async () => {
    const work = workspace();
    const refused = await strata(["--catalog", "fresh.db", "sync", "scratch", "archiv"], { cwd: work });
    expect(refused.code).toBe(2);
    const dry = await strata(["--catalog", "fresh.db", "sync", "scratch", "archive", "-n"], { cwd: work });
    expect(dry.stdout).toMatch(/copy +2 files/);
    expect(dry.code).toBe(0);
    expect(readdirSync(work).sort()).toEqual(["data", "strata.yaml"]);
  });

  it("registers no location for a refused command or a dry run", async () => {
    const work = workspace();
    const catalog = join(work, "catalog.db");
    expect((await strata(["sync", "scratch", "archive"], { cwd: work, env: { STRATA_CATALOG: catalog } })).code).toBe(
      0,
    );
    const env = { STRATA_CATALOG: catalog };
    const badClass = await strata(["sync", "scratch", "./elsewhere", "--class", "NOPE"], { cwd: work, env });
    expect(badClass.code).toBe(2);
    const dry = await strata(["sync", "scratch", "./other", "-n"], { cwd: work, env });
    expect(dry.code).toBe(0);
    const badRef = await strata(["ls", "nowhere:x"], { cwd: work, env });
    expect(badRef.code).toBe(2);

    const db = new Database(catalog, { readonly: true });
    const names = db.prepare("SELECT name FROM locations ORDER BY name").all() as { name: string }[];
    db.close();
    expect(names.map((n) => n.name)).toEqual(["archive", "scratch"]);
  });
});
