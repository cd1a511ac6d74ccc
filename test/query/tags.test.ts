/**
 * Issue 12, tags: `strata tag set|rm|ls` through the CLI on a real tree synced to the embedded
 * store, on SQLite and PostgreSQL. What `tag ls` prints and what the store's own index holds
 * are compared with a model kept in plain TypeScript (the same set/rm applied to the tree's
 * paths); a rescan keeps tags; a copy whose object is gone fails alone, with the catalog changed.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { strata } from "../support/cli.js";
import { sqliteRows } from "../support/sqlite-rows.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";

const TREE: Record<string, string> = {
  "climate/t2m.nc": "temperature",
  "climate/deep/u10.nc": "wind",
  "climate-x/decoy.nc": "not under climate/",
  "seq/r1.fastq.gz": "reads",
  "seq/notes.txt": "notes",
  "top.csv": "a,b",
};

type Tags = Record<string, Record<string, string>>;

/** The model: tags per path after `set` or `rm` on a file or a directory of the tree. */
function applyModel(model: Tags, operand: string, change: { set?: Record<string, string>; remove?: string[] }) {
  for (const path of Object.keys(TREE)) {
    if (operand !== "" && path !== operand && !path.startsWith(`${operand}/`)) continue;
    const tags = { ...(model[path] ?? {}) };
    for (const name of change.remove ?? []) delete tags[name];
    Object.assign(tags, change.set ?? {});
    model[path] = tags;
  }
}

function tagged(model: Tags): Tags {
  return Object.fromEntries(Object.entries(model).filter(([, tags]) => Object.keys(tags).length > 0));
}

async function work(kind: (typeof CATALOG_KINDS)[number]) {
  const dir = tempDir("strata-tags-");
  const catalog = await freshCatalogUrl(kind, dir);
  writeTree(join(dir, "tree"), TREE);
  writeFileSync(
    join(dir, "strata.yaml"),
    [
      `catalog: ${catalog}`,
      "locations:",
      "  scratch: { url: ./tree }",
      "  archive: { url: local:store, tags: { site: lab } }",
      "",
    ].join("\n"),
  );
  const run = (...args: string[]) => strata(args, { cwd: dir });
  /** What `strata tag ls --json` says, as path → tags. */
  const listed = async (...operands: string[]): Promise<Tags> => {
    const result = await run("--json", "tag", "ls", ...operands);
    expect(result.code, result.stderr).toBe(0);
    const files = JSON.parse(result.stdout).files as { location: string; path: string; tags: Record<string, string> }[];
    expect(files.every((f) => f.location === "scratch")).toBe(true);
    return Object.fromEntries(files.map((f) => [f.path, f.tags]));
  };
  /** The tags each object carries in the embedded store's own index. */
  const objectTags = (): Tags =>
    Object.fromEntries(
      sqliteRows<{ key: string; tags: string }>(join(dir, "store", "index.db"), "SELECT key, tags FROM objects").map(
        (r) => [r.key, JSON.parse(r.tags)],
      ),
    );
  return { dir, catalog, run, listed, objectTags };
}

describe.each(CATALOG_KINDS)("strata tag on the embedded store (%s catalog)", (kind) => {
  it("sets and removes tags on files and directories, in the catalog and on each copy; ls shows them", async () => {
    const { catalog, run, listed, objectTags } = await work(kind);
    expect((await run("sync", "scratch", "archive")).code).toBe(0);
    const model: Tags = {};
    const steps: [string[], string, { set?: Record<string, string>; remove?: string[] }][] = [
      [
        ["set", "scratch:climate", "--tag", "project=climate", "--tag", "owner=alice"],
        "climate",
        { set: { project: "climate", owner: "alice" } },
      ],
      [
        ["set", "scratch:seq/r1.fastq.gz", "--tag", "project=genomics"],
        "seq/r1.fastq.gz",
        { set: { project: "genomics" } },
      ],
      [["rm", "scratch:climate/deep", "--tag", "owner"], "climate/deep", { remove: ["owner"] }],
      [["set", "scratch", "--tag", "site:room=B 12"], "", { set: { "site:room": "B 12" } }],
      [["rm", "scratch:top.csv", "--tag", "site:room"], "top.csv", { remove: ["site:room"] }],
    ];
    for (const [args, operand, change] of steps) {
      const result = await run("tag", ...args);
      expect(result.stderr, args.join(" ")).toBe("");
      expect(result.code).toBe(0);
      applyModel(model, operand, change);
      expect(await listed()).toEqual(tagged(model));
      // Each copy carries the file's tags beside the location's own.
      const expectedObjects = Object.fromEntries(
        Object.keys(TREE).map((p) => [p, { site: "lab", ...(model[p] ?? {}) }]),
      );
      expect(objectTags()).toEqual(expectedObjects);
    }
    expect(await listed("scratch:climate")).toEqual(
      Object.fromEntries(Object.entries(tagged(model)).filter(([p]) => p.startsWith("climate/"))),
    );

    // A file left with no tags is NULL in the catalog, not "{}".
    const db = await openCatalog(catalog);
    try {
      const row = await db.db
        .selectFrom("files")
        .select("tags")
        .where("path", "=", "top.csv")
        .executeTakeFirstOrThrow();
      expect(row.tags).toBeNull();
    } finally {
      await db.close();
    }
  });

  it("a rescan keeps tags, of unchanged and changed files alike, and fills the detected type", async () => {
    const { dir, catalog, run, listed } = await work(kind);
    expect((await run("scan", "scratch")).code).toBe(0);
    expect((await run("tag", "set", "scratch:climate", "--tag", "project=climate")).code).toBe(0);
    writeFileSync(join(dir, "tree", "climate/t2m.nc"), "temperature, rewritten and longer");
    const rescan = await run("scan", "scratch");
    expect(rescan.code, rescan.stderr).toBe(0);
    expect(await listed()).toEqual({
      "climate/t2m.nc": { project: "climate" },
      "climate/deep/u10.nc": { project: "climate" },
    });
    const db = await openCatalog(catalog);
    try {
      const rows = await db.db.selectFrom("files").select(["path", "file_type"]).where("kind", "=", "file").execute();
      expect(Object.fromEntries(rows.map((r) => [r.path, r.file_type]))).toEqual({
        "climate/t2m.nc": "netcdf",
        "climate/deep/u10.nc": "netcdf",
        "climate-x/decoy.nc": "netcdf",
        "seq/r1.fastq.gz": "fastq",
        "seq/notes.txt": "text",
        "top.csv": "csv",
      });
    } finally {
      await db.close();
    }
  });

  it("a copy whose object is gone fails alone: one warning, exit 1, the catalog and the other copies changed", async () => {
    const { dir, run, listed, objectTags } = await work(kind);
    expect((await run("sync", "scratch", "archive")).code).toBe(0);
    const index = new Database(join(dir, "store", "index.db"));
    index.prepare("DELETE FROM objects WHERE key = ?").run("seq/notes.txt");
    index.close();
    const result = await run("tag", "set", "scratch:seq", "--tag", "project=genomics");
    expect(result.code).toBe(1);
    const warnings = result.stderr.trim().split("\n");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^strata: scratch:seq\/notes\.txt: tags not written to its copy archive:seq\/notes\.txt: /,
    );
    expect(await listed()).toEqual({
      "seq/notes.txt": { project: "genomics" },
      "seq/r1.fastq.gz": { project: "genomics" },
    });
    expect(objectTags()["seq/r1.fastq.gz"]).toEqual({ site: "lab", project: "genomics" });
  });

  it("tags a directory of 1,201 files in batches: every file and every copy, none outside it", async () => {
    const { dir, run, listed, objectTags } = await work(kind);
    const many = Object.fromEntries(Array.from({ length: 1201 }, (_, i) => [`bulk/d${i % 7}/f${i}.csv`, `${i}`]));
    writeTree(join(dir, "tree"), many);
    expect((await run("sync", "scratch", "archive")).code).toBe(0);
    const result = await run("--json", "tag", "set", "scratch:bulk", "--tag", "batch=1");
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ files: 1201, objects: 1201, failures: [] });
    const expected = Object.fromEntries(Object.keys(many).map((p) => [p, { batch: "1" }]));
    expect(await listed()).toEqual(expected);
    const objects = objectTags();
    for (const path of Object.keys(TREE)) expect(objects[path]).toEqual({ site: "lab" });
    for (const path of Object.keys(many)) expect(objects[path]).toEqual({ site: "lab", batch: "1" });
  });

  it("selects with a find expression after the operands: set, ls and rm touch exactly the files it matches", async () => {
    const { run, listed, objectTags } = await work(kind);
    expect((await run("sync", "scratch", "archive")).code).toBe(0);
    const matches = (path: string) => path.endsWith(".nc") && !path.startsWith("climate-x/");
    const set = await run(
      "tag",
      "set",
      "scratch",
      "-name",
      "*.nc",
      "-not",
      "-path",
      "climate-x/*",
      "--tag",
      "grid=yes",
    );
    expect(set.stderr).toBe("");
    expect(set.code).toBe(0);
    const model: Tags = {};
    for (const path of Object.keys(TREE).filter(matches)) model[path] = { grid: "yes" };
    expect(await listed()).toEqual(model);
    expect(await listed("-tag", "grid=yes")).toEqual(model);
    expect(objectTags()).toEqual(
      Object.fromEntries(Object.keys(TREE).map((p) => [p, { site: "lab", ...(model[p] ?? {}) }])),
    );
    // An expression alone (no operand) selects across every location; rm takes it likewise.
    expect((await run("tag", "rm", "-path", "climate/deep/*", "--tag", "grid")).code).toBe(0);
    delete model["climate/deep/u10.nc"];
    expect(await listed()).toEqual(model);
    // Neither an operand nor an expression: refused, nothing changed.
    const bare = await run("tag", "set", "--limit", "5", "--tag", "x=y");
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain("LOCATION[:PATH]");
    expect(await listed()).toEqual(model);
    const badWord = await run("tag", "set", "scratch", "-nmae", "*.nc", "--tag", "x=y");
    expect(badWord.code).toBe(2);
    expect(badWord.stderr).toContain("-nmae");
    expect(await listed()).toEqual(model);
  });

  it("refuses bad input before changing anything: exit 2, naming the word at fault", async () => {
    const { run, listed } = await work(kind);
    expect((await run("scan", "scratch")).code).toBe(0);
    const cases: [string[], RegExp][] = [
      [["set", "scratch:climate", "scratch:nope", "--tag", "a=b"], /scratch:nope/],
      [["set", "nowhere:x", "--tag", "a=b"], /nowhere:x/],
      [["set", "scratch:climate", "--tag", "no-equals"], /no-equals/],
      [["set", "scratch:climate", "--tag", "bad key=v"], /bad key=v/],
      [["rm", "scratch:climate", "--tag", "bad/name"], /bad\/name/],
      [["set", "scratch:climate"], /--tag/],
    ];
    for (const [args, named] of cases) {
      const result = await run("tag", ...args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).toMatch(named);
    }
    expect(await listed()).toEqual({});
  });
});
