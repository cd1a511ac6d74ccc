import { createHash } from "node:crypto";
import {
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { sql } from "kysely";
import { beforeAll, describe, expect, it } from "vitest";
import { bytesToKey, printablePath } from "../../src/backends/keys.js";
import { openCatalog } from "../../src/catalog/db.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { type CliResult, strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";

/**
 * `strata find` against a brute force: a real tree (odd names, sizes on GNU's unit edges, ages
 * set with utimes, owners changed with lchown), scanned and partly synced to the embedded store;
 * each expression's output is compared with a walk of the same tree filtered in plain
 * TypeScript, and Strata's own tests with what this test did to the catalog.
 */

const DAY_MS = 86_400_000;
const NOW_MS = Date.now();
const OTHER_UID = 4242;
const OTHER_GID = 4343;
const LATIN1_NAME = Buffer.from([0x72, 0xe9, 0x73, 0x75, 0x6c, 0x74, 0x61, 0x74, 0x2e, 0x64, 0x61, 0x74]); // résultat.dat

interface TreeFile {
  /** Relative path as bytes (a Latin-1 name is not UTF-8). */
  path: Buffer;
  size: number;
  /** Ages in days; half days keep every -mtime boundary twelve hours away. */
  mtimeDays: number;
  atimeDays: number;
  owned?: boolean;
}

const file = (path: string, size: number, mtimeDays: number, atimeDays = mtimeDays * 2 + 0.5, owned = false) => ({
  path: Buffer.from(path),
  size,
  mtimeDays,
  atimeDays,
  owned,
});

const FILES: TreeFile[] = [
  file("alpha.h5", 100, 0.5),
  file("Run_Foo_01.dat", 1025, 1.5, 1.5, true),
  file("run_foo_02.dat", 513, 3.5),
  file("sample 1.csv", 0, 2.5),
  file("données été.csv", 2000, 10.5),
  file("notes.TXT", 511, 400.5, 400.5),
  file("ab", 512, 2.5),
  file("x", 1, 0.5),
  { path: LATIN1_NAME, size: 1024, mtimeDays: 5.5, atimeDays: 5.5 },
  file("two\nlines.txt", 10, 7.5),
  file("big.bin", 1_048_577, 40.5, 200.5, true),
  file("deep/a/b/c/foo_bar.nc", 3000, 20.5, 20.5, true),
  file("deep/a/unverified.nc", 4000, 1.5),
  file("deep/a/b/data[1].dat", 50, 0.5),
  file("deep/kept.h5", 10_240, 30.5),
  file("deep/gone.dat", 70, 3.5),
  file("top-gone.txt", 7, 3.5),
];
/** Removed after the first scan and sync: one with a copy (deleted), one without (deleted and lost). */
const DELETED = ["deep/gone.dat", "top-gone.txt"];
const UNVERIFIED = "deep/a/unverified.nc";
const TAGS: Record<string, Record<string, string>> = {
  "alpha.h5": { project: "x" },
  "deep/a/b/c/foo_bar.nc": { project: "y", owner: "z" },
};

/** One entry as the brute force sees it: lstat, and what this test did in the catalog. */
interface Entry {
  key: string;
  name: string;
  kind: "file" | "dir" | "symlink";
  size: number;
  mtimeMs: number;
  atimeMs: number;
  uid: number;
  gid: number;
  state: "present" | "deleted";
  /** Copies at the archive, and whether each was verified. */
  atArchive: boolean;
  verifiedCopies: number;
  tags: Record<string, string> | undefined;
  sha256: string | undefined;
}

function buildTree(root: string): void {
  for (const f of FILES) {
    const full = Buffer.concat([Buffer.from(`${root}/`), f.path]);
    mkdirSync(join(full.toString("latin1"), ".."), { recursive: true });
    writeFileSync(full, Buffer.alloc(f.size, 0x61 + (f.size % 26)));
  }
  mkdirSync(join(root, "emptydir"));
  symlinkSync("alpha.h5", join(root, "link"));
  setTimesAndOwners(root);
}

function setTimesAndOwners(root: string): void {
  for (const f of FILES) {
    const full = Buffer.concat([Buffer.from(`${root}/`), f.path]);
    lutimesSync(full, (NOW_MS - f.atimeDays * DAY_MS) / 1000, (NOW_MS - f.mtimeDays * DAY_MS) / 1000);
    if (f.owned) lchownSync(full, OTHER_UID, OTHER_GID);
  }
  for (const dir of ["deep/a/b/c", "deep/a/b", "deep/a", "deep", "emptydir"]) {
    lutimesSync(join(root, dir), (NOW_MS - 6.5 * DAY_MS) / 1000, (NOW_MS - 5.5 * DAY_MS) / 1000);
  }
  lutimesSync(join(root, "link"), (NOW_MS - 9.5 * DAY_MS) / 1000, (NOW_MS - 8.5 * DAY_MS) / 1000);
}

/** Every entry beneath the root, as lstat sees it. */
function walk(root: string, relative: Buffer = Buffer.alloc(0)): Entry[] {
  const here = Buffer.concat([Buffer.from(root), relative.length ? Buffer.from("/") : Buffer.alloc(0), relative]);
  const entries: Entry[] = [];
  for (const name of readdirSync(here, { encoding: "buffer" })) {
    const rel = relative.length ? Buffer.concat([relative, Buffer.from("/"), name]) : name;
    const full = Buffer.concat([here, Buffer.from("/"), name]);
    const stat = lstatSync(full);
    const kind = stat.isDirectory() ? "dir" : stat.isSymbolicLink() ? "symlink" : "file";
    const key = bytesToKey(rel);
    const synced = kind === "file" && key.startsWith("deep/");
    entries.push({
      key,
      name: key.slice(key.lastIndexOf("/") + 1),
      kind,
      size: stat.size,
      mtimeMs: stat.mtimeMs,
      atimeMs: stat.atimeMs,
      uid: stat.uid,
      gid: stat.gid,
      state: "present",
      atArchive: synced,
      verifiedCopies: synced && key !== UNVERIFIED ? 1 : 0,
      tags: TAGS[key],
      sha256: synced ? createHash("sha256").update(readFileSync(full)).digest("hex") : undefined,
    });
    if (kind === "dir") entries.push(...walk(root, rel));
  }
  return entries;
}

const ageDays = (ms: number) => Math.floor((NOW_MS - ms) / DAY_MS);
/** GNU's -size: the size in units rounded up. */
const units = (e: Entry, unit: number) => Math.ceil(e.size / unit);

type Predicate = (e: Entry) => boolean;

/** Expressions and the same question in plain TypeScript. */
const CASES: [string[], Predicate][] = [
  [[], () => true],
  [["-name", "*foo*"], (e) => e.name.includes("foo")],
  [["-iname", "*FOO*"], (e) => e.name.toLowerCase().includes("foo")],
  [["-name", "*.h5"], (e) => e.name.endsWith(".h5")],
  [["-name", "?b"], (e) => [...e.name].length === 2 && e.name.endsWith("b")],
  [["-name", "données*"], (e) => e.name.startsWith("données")],
  [["-name", "r?sultat.dat"], (e) => /^r.sultat\.dat$/u.test(e.name)],
  [["-name", "*[0-9].dat"], (e) => /[0-9]\.dat$/.test(e.name)],
  [["-name", "data\\[1\\].dat"], (e) => e.name === "data[1].dat"],
  [["-name", "*lines*"], (e) => e.name.includes("lines")],
  [["-path", "*/b/*"], (e) => e.key.includes("/b/")],
  [["-path", "deep/*.nc"], (e) => e.key.startsWith("deep/") && e.key.endsWith(".nc")],
  [["-ipath", "DEEP/A*"], (e) => e.key.toLowerCase().startsWith("deep/a")],
  [["-size", "+1k"], (e) => units(e, 1024) > 1],
  [["-size", "-2"], (e) => units(e, 512) < 2],
  [["-size", "513c"], (e) => e.size === 513],
  [["-size", "1k"], (e) => units(e, 1024) === 1],
  [["-size", "+1M"], (e) => units(e, 1024 ** 2) > 1],
  [["-size", "-1M"], (e) => units(e, 1024 ** 2) < 1],
  [["-mtime", "+3"], (e) => ageDays(e.mtimeMs) > 3],
  [["-mtime", "-2"], (e) => ageDays(e.mtimeMs) < 2],
  [["-mtime", "1"], (e) => ageDays(e.mtimeMs) === 1],
  [["-atime", "+100"], (e) => ageDays(e.atimeMs) > 100],
  [["-newermt", new Date(NOW_MS - 5 * DAY_MS).toISOString()], (e) => e.mtimeMs > NOW_MS - 5 * DAY_MS],
  [
    ["-newerat", new Date(NOW_MS - 9 * DAY_MS).toISOString().slice(0, 10)],
    (e) => e.atimeMs > localMidnight(NOW_MS - 9 * DAY_MS),
  ],
  [["-type", "d"], (e) => e.kind === "dir"],
  [["-type", "f,l"], (e) => e.kind === "file" || e.kind === "symlink"],
  [["-empty"], (e) => (e.kind === "file" && e.size === 0) || (e.kind === "dir" && e.key === "emptydir")],
  [["-user", String(OTHER_UID)], (e) => e.uid === OTHER_UID],
  [["-not", "-user", String(OTHER_UID), "-type", "f"], (e) => e.uid !== OTHER_UID && e.kind === "file"],
  [["-group", String(OTHER_GID), "-size", "+2k"], (e) => e.gid === OTHER_GID && units(e, 1024) > 2],
  [
    ["(", "-name", "*.csv", "-o", "-name", "*.nc", ")", "-size", "-10k"],
    (e) => (e.name.endsWith(".csv") || e.name.endsWith(".nc")) && units(e, 1024) < 10,
  ],
  [["!", "-name", "*.dat", "-a", "-type", "f"], (e) => !e.name.endsWith(".dat") && e.kind === "file"],
  [
    ["-name", "*.dat", "-or", "-type", "d", "-and", "-mtime", "+5"],
    (e) => e.name.endsWith(".dat") || (e.kind === "dir" && ageDays(e.mtimeMs) > 5),
  ],
  [["-at", "archive"], (e) => e.atArchive],
  [["-not-at", "archive", "-type", "f"], (e) => !e.atArchive && e.kind === "file"],
  [["-copies", "1"], (e) => e.verifiedCopies === 1],
  [["-copies", "-1"], (e) => e.verifiedCopies < 1],
  [["-at", "archive", "-copies", "0"], (e) => e.atArchive && e.verifiedCopies === 0],
  [["-class", "STANDARD"], (e) => e.atArchive],
  [["-codec", "none", "-name", "*.nc"], (e) => e.atArchive && e.name.endsWith(".nc")],
  [["-tag", "project"], (e) => e.tags?.project !== undefined],
  [["-tag", "project=y"], (e) => e.tags?.project === "y"],
  [["-not", "-tag", "project=y", "-type", "f"], (e) => e.tags?.project !== "y" && e.kind === "file"],
  [["-state", "present", "-type", "f"], (e) => e.state === "present" && e.kind === "file"],
  [["-state", "deleted"], (e) => e.state === "deleted"],
  [["-state", "lost"], (e) => e.state === "deleted" && !e.atArchive],
  [["-state", "archived"], () => false],
];

function localMidnight(ms: number): number {
  const d = new Date(ms);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

function lines(result: CliResult): string[] {
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return result.stdout.split("\n").filter((line) => line !== "");
}

const printed = (e: Entry) => `scratch:${printablePath(e.key)}`;

describe.each(CATALOG_KINDS)("strata find against a walk of the tree (%s catalog)", (kind) => {
  const work = tempDir();
  const root = join(work, "tree");
  let catalogUrl = "";
  let entries: Entry[] = [];
  const find = (args: string[]) =>
    strata(["--catalog", catalogUrl, "--config", join(work, "strata.yaml"), "find", ...args], { cwd: work });

  beforeAll(async () => {
    catalogUrl = await freshCatalogUrl(kind, work);
    writeFileSync(
      join(work, "strata.yaml"),
      "locations:\n  scratch:\n    url: ./tree\n  archive:\n    url: local:store\n",
    );
    buildTree(root);
    const cli = (args: string[]) =>
      strata(["--catalog", catalogUrl, "--config", join(work, "strata.yaml"), ...args], { cwd: work });
    expect((await cli(["scan", "scratch"])).code).toBe(0);
    expect((await cli(["sync", "scratch", "archive", "--include", "deep/**"])).code).toBe(0);
    const gone = walk(root).filter((e) => DELETED.includes(e.key));
    for (const path of DELETED) rmSync(join(root, path));
    // The sync read deep/ and the deletions changed directories; what the tree says now is the
    // truth. A first walk lets reading settle (relatime moves an atime only while it is older than
    // the mtime), so the walk that counts sees what the scan will.
    walk(root);
    entries = walk(root);
    expect((await cli(["scan", "scratch"])).code).toBe(0);
    entries.push(...gone.map((e) => ({ ...e, state: "deleted" as const })));

    // What only the catalog holds: tags, and one copy whose checksum was never checked.
    const catalog = await openCatalog(catalogUrl);
    try {
      for (const [path, tags] of Object.entries(TAGS)) {
        await catalog.db
          .updateTable("files")
          .set({ tags: JSON.stringify(tags) })
          .where("path", "=", path)
          .execute();
      }
      const unverified = await catalog.db
        .selectFrom("files")
        .select("id")
        .where("path", "=", UNVERIFIED)
        .executeTakeFirstOrThrow();
      await catalog.db
        .updateTable("replicas")
        .set({ verified_at: null })
        .where("file_id", "=", unverified.id)
        .execute();
    } finally {
      await catalog.close();
    }
  });

  it.each(CASES)("find %j", async (args, predicate) => {
    const asksState = args.includes("-state");
    const expected = entries.filter((e) => (asksState || e.state !== "deleted") && predicate(e)).map(printed);
    expect(lines(await find(["scratch", ...args])).sort()).toEqual(expected.sort());
  });

  it("a directory operand selects its subtree; -hash finds a file by a prefix of its content's hash", async () => {
    // As GNU find lists its starting point, the directory itself is selected too.
    const subtree = entries
      .filter((e) => (e.key === "deep/a" || e.key.startsWith("deep/a/")) && e.state === "present")
      .map(printed);
    expect(lines(await find(["scratch:deep/a"])).sort()).toEqual(subtree.sort());
    const kept = entries.find((e) => e.key === "deep/kept.h5") as Entry;
    const prefix = (kept.sha256 as string).slice(0, 7);
    const withPrefix = entries.filter((e) => e.state === "present" && e.sha256?.startsWith(prefix)).map(printed);
    expect(lines(await find(["-hash", prefix.toUpperCase()]))).toEqual(withPrefix);
  });

  it("prints -print0, -printf, -count, --ndjson, --csv and --json, sorted and limited", async () => {
    const files = entries.filter((e) => e.state === "present" && e.kind === "file");
    const raw = await find(["scratch", "-type", "f", "-print0"]);
    const names = raw.stdout.split("\0").filter((n) => n !== "");
    // The raw bytes of a Latin-1 name are not UTF-8: this test's reader sees U+FFFD for each.
    const raw8 = (e: Entry) => `scratch:${e.key.replace(/[\uF780-\uF7FF]/g, "\uFFFD")}`;
    expect(names.sort()).toEqual(files.map(raw8).sort());

    const formatted = lines(await find(["scratch", "-type", "f", "-name", "*.nc", "-printf", "%f|%s|%C|%S|%U|%h\\n"]));
    const nc = files.filter((e) => e.name.endsWith(".nc"));
    expect(formatted.sort()).toEqual(
      nc
        .map(
          (e) => `${e.name}|${e.size}|${e.verifiedCopies}|present|${e.uid}|${e.key.slice(0, e.key.lastIndexOf("/"))}`,
        )
        .sort(),
    );

    expect(lines(await find(["-type", "f", "-count"]))).toEqual([String(files.length)]);
    const ndjson = lines(await find(["-type", "f", "--ndjson"])).map(
      (l) => JSON.parse(l) as { path: string; size: number; copies: number },
    );
    expect(ndjson.map((r) => [r.path, r.size, r.copies]).sort()).toEqual(
      files.map((e) => [e.key, e.size, e.verifiedCopies]).sort(),
    );
    const csv = lines(await find(["-type", "f", "-name", "*.csv", "--csv"]));
    expect(csv[0]).toMatch(/^location,path,kind,size,/);
    expect(
      csv
        .slice(1)
        .map((l) => l.split(",").slice(0, 4).join(","))
        .sort(),
    ).toEqual(
      files
        .filter((e) => e.name.endsWith(".csv"))
        .map((e) => `scratch,${e.key},file,${e.size}`)
        .sort(),
    );
    const json = JSON.parse(
      (await strata(["--catalog", catalogUrl, "--json", "find", "-tag", "project"], { cwd: work })).stdout,
    ) as {
      files: { path: string; tags: Record<string, string> }[];
    };
    expect(json.files.map((f) => [f.path, f.tags]).sort()).toEqual(Object.entries(TAGS).sort());

    const largest = [...files]
      .sort((a, b) => b.size - a.size || (a.key < b.key ? -1 : 1))
      .slice(0, 3)
      .map(printed);
    expect(lines(await find(["-type", "f", "--sort", "-size", "--limit", "3"]))).toEqual(largest);
    const oldestRead = [...files]
      .sort((a, b) => a.atimeMs - b.atimeMs)
      .slice(0, 2)
      .map(printed);
    expect(lines(await find(["--sort", "atime", "--limit", "2", "-type", "f"]))).toEqual(oldestRead);
  });

  it.each([
    [["-nme", "x"], '"-nme"'],
    [["-name"], "-name: missing argument"],
    [["-size", "10x"], "-size 10x"],
    [["-size", "+1.5G"], "-size +1.5G"],
    [["-mtime", "soon"], "-mtime soon"],
    [["-newermt", "2024-02-31"], "-newermt 2024-02-31"],
    [["(", "-name", "x"], '"("'],
    [["-name", "x", ")"], '")"'],
    [["-name", "x", "-o"], "-o"],
    [["-state", "gone"], "-state gone"],
    [["-type", "q"], "-type q"],
    [["-tag", "bad key=1"], "-tag bad key=1"],
    [["-hash", "xyz"], "-hash xyz"],
    [["-at", "nowhere"], "-at nowhere"],
    [["-user", "no-such-user-here"], "-user no-such-user-here"],
    [["-printf", "%Q"], "%Q"],
    [["nowhere:x", "-name", "x"], "nowhere:x"],
    [["--limit", "0"], "--limit 0"],
    [["--sort", "colour"], "colour"],
  ])("refuses %j naming the word, exit 2", async (args, word) => {
    const result = await find(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain(word);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe.each(CATALOG_KINDS)("a leading wildcard reads the trigram index, not every row (%s catalog)", (kind) => {
  it("-name '*needle*' is planned through files_name_trigrams, -user -size through files_owner_size", async () => {
    const work = tempDir();
    const url = await freshCatalogUrl(kind, work);
    const catalog = await openCatalog(url);
    const rows = 20_000;
    try {
      const location = await catalog.db
        .insertInto("locations")
        .values({ name: "synthetic", url: "file:///synthetic", kind: "posix", default_class: null, created_at: 0 })
        .returning("id")
        .executeTakeFirstOrThrow();
      const numbers =
        kind === "sqlite"
          ? sql`with recursive g(n) as (select 1 union all select n + 1 from g where n < ${rows}) select n from g`
          : sql`select n from generate_series(1, ${rows}) as g(n)`;
      // Every 1,000th file is a needle; the directory names hold "needle" too, which -name must ignore.
      await sql`insert into files (location_id, path, kind, size, mtime_us, atime_us, ctime_us, mode, uid, gid, inode,
          state, first_scan_id, seen_scan_id, changed_scan_id)
        select ${location.id}, 'needles' || (n % 50) || '/file_' || n || (case when n % 1000 = 0 then '_needle' else '' end) || '.dat',
          'file', n, 0, 0, 0, 33188, 1000 + (n % 100), 1000, n, 'present', 1, 1, 1 from (${numbers}) as numbers`.execute(
        catalog.db,
      );
      // As autovacuum would: PostgreSQL's GIN index keeps new rows in a pending list, which its
      // planner prices as a scan of the list, until a vacuum folds them into the index.
      await sql.raw(kind === "sqlite" ? "analyze" : "vacuum analyze files").execute(catalog.db);
    } finally {
      await catalog.close();
    }
    const explained = await strata(["--catalog", url, "find", "-name", "*needle*", "--explain"], { cwd: work });
    expect(explained.code).toBe(0);
    expect(explained.stdout).toContain("files_name_trigrams");
    const plan = explained.stdout.slice(explained.stdout.indexOf("plan ("));
    expect(plan).not.toMatch(/SCAN f\b|Seq Scan on files/);

    const found = lines(await strata(["--catalog", url, "find", "-name", "*needle*"], { cwd: work }));
    const needles = Array.from({ length: rows / 1000 }, (_, i) => (i + 1) * 1000).map(
      (n) => `synthetic:needles${n % 50}/file_${n}_needle.dat`,
    );
    expect(found.sort()).toEqual(needles.sort());

    // One owner's large files: equality on uid, a range on size, from files(uid, size).
    const selective = await strata(["--catalog", url, "find", "-user", "1007", "-size", "+19000c", "--explain"], {
      cwd: work,
    });
    expect(selective.stdout).toContain("files_owner_size");
    const big = lines(await strata(["--catalog", url, "find", "-user", "1007", "-size", "+19000c"], { cwd: work }));
    const expected = Array.from({ length: rows }, (_, i) => i + 1)
      .filter((n) => n % 100 === 7 && n > 19_000)
      .map((n) => `synthetic:needles${n % 50}/file_${n}${n % 1000 === 0 ? "_needle" : ""}.dat`);
    expect(big.sort()).toEqual(expected.sort());
  });
});
