import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Kysely, sql } from "kysely";
import { describe, expect, it } from "vitest";
import type { CatalogSchema } from "../../src/catalog/schema.js";
import { bruteDu, catalogRows, duArgs, duRows, type Request } from "../query/du-brute.js";
import { CATALOG_KINDS, type CatalogKind, freshCatalogUrl, kyselyAt } from "../support/catalogs.js";
import { type CliResult, strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { killScanOnceCommitted } from "./kill-scan.js";

/** More entries than one writer transaction (10,000), so a kill can land between two commits. */
const FILES = 20_000;
const PER_DIR = 500;

/** A tree of `count` small files; returns each file's path and size. */
function bigTree(root: string, count = FILES): Map<string, number> {
  const sizes = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const dir = `d${Math.floor(i / PER_DIR)}`;
    if (i % PER_DIR === 0) mkdirSync(join(root, dir), { recursive: true });
    const path = `${dir}/f${i}.txt`;
    const content = "x".repeat(i % 97);
    writeFileSync(join(root, path), content);
    sizes.set(path, content.length);
  }
  return sizes;
}

function expectOk(result: CliResult, what: string): void {
  expect(result.code, `${what}: ${result.stderr}`).toBe(0);
}

describe.each(CATALOG_KINDS)("scan's catalog writer thread on %s", (kind: CatalogKind) => {
  it("converges on a re-scan after a SIGKILL between two of the writer's commits", { timeout: 240_000 }, async () => {
    const work = tempDir();
    const tree = join(work, "tree");
    const url = await freshCatalogUrl(kind, work);
    const files = bigTree(tree);
    expectOk(await strata(["--catalog", url, "scan", tree], { cwd: work }), "first scan");

    // What the killed scan must not lose: files gone (deleted), new ones, changed sizes.
    for (let i = 0; i < FILES; i += 10) {
      const path = `d${Math.floor(i / PER_DIR)}/f${i}.txt`;
      rmSync(join(tree, path));
      files.delete(path);
    }
    for (let i = 1; i < FILES; i += 10) {
      const path = `d${Math.floor(i / PER_DIR)}/f${i}.txt`;
      writeFileSync(join(tree, path), "changed, and longer than before: ".repeat(4));
      files.set(path, 4 * "changed, and longer than before: ".length);
    }
    writeTree(tree, files, ["new/one.txt", "new/two.txt"]);

    await killScanOnceCommitted(kind, url, ["scan", tree], work);

    expectOk(await strata(["--catalog", url, "scan", tree], { cwd: work }), "re-scan");
    const rows = await catalogRows(url);
    const present = rows.files.filter((f) => f.state === "present" && f.kind === "file");
    expect(new Map(present.map((f) => [f.path, Number(f.size)]))).toEqual(files);
    expect(rows.files.filter((f) => f.state === "deleted")).toHaveLength(FILES / 10);
    // du's summaries, kept by triggers on the writer's connection, match the rows exactly.
    for (const request of [{ operands: [] }, { operands: [], depth: 1 }] satisfies Request[]) {
      const answer = duRows(await strata(["--catalog", url, ...duArgs(request)], { cwd: work }));
      expect(answer).toEqual(bruteDu(rows, request));
    }
    rmSync(tree, { recursive: true });
  });

  it("stops at a catalog write error with one clear message and a non-zero exit", { timeout: 120_000 }, async () => {
    const work = tempDir();
    const tree = join(work, "tree");
    const url = await freshCatalogUrl(kind, work);
    const files = bigTree(tree, 2_000);
    expectOk(await strata(["--catalog", url, "scan", tree], { cwd: work }), "first scan");
    // The catalog refuses one row, as a full or read-only database would refuse them all.
    const db = kyselyAt(kind, url);
    try {
      await refusePoison(db, kind);
    } finally {
      await db.destroy();
    }
    writeTree(tree, files, ["d3/poison.txt"]);
    rmSync(join(tree, "d0"), { recursive: true });

    const result = await strata(["--catalog", url, "scan", tree], { cwd: work });

    expect(result.code).not.toBe(0);
    expect(result.stderr.match(/the catalog refuses poison/g)).toHaveLength(1);
    const rows = await catalogRows(url);
    expect(
      rows.files.filter((f) => f.state === "deleted"),
      "nothing marked deleted",
    ).toEqual([]);
    const check = kyselyAt(kind, url);
    try {
      const scans = await check.selectFrom("scans").select("status").orderBy("id").execute();
      expect(scans.map((s) => s.status)).toEqual(["done", "failed"]);
    } finally {
      await check.destroy();
    }
  });
});

/** Adds new files to the tree and to `files` (their sizes). */
function writeTree(root: string, files: Map<string, number>, paths: string[]): void {
  for (const path of paths) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), path);
    files.set(path, path.length);
  }
}

/** A trigger that refuses any file named poison: a real write error, raised by the database itself. */
async function refusePoison(db: Kysely<CatalogSchema>, kind: CatalogKind): Promise<void> {
  if (kind === "sqlite") {
    await sql`CREATE TRIGGER refuse_poison BEFORE INSERT ON files WHEN NEW.path LIKE '%poison%'
      BEGIN SELECT RAISE(ABORT, 'the catalog refuses poison'); END`.execute(db);
    return;
  }
  await sql`CREATE FUNCTION refuse_poison() RETURNS trigger AS $$
    BEGIN IF NEW.path LIKE '%poison%' THEN RAISE EXCEPTION 'the catalog refuses poison'; END IF; RETURN NEW; END
    $$ LANGUAGE plpgsql`.execute(db);
  await sql`CREATE TRIGGER refuse_poison BEFORE INSERT ON files FOR EACH ROW EXECUTE FUNCTION refuse_poison()`.execute(
    db,
  );
}
