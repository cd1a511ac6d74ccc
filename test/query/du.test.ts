import { chownSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { type CliResult, strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";
import { bruteDu, catalogRows, duArgs, duRows, type Request } from "./du-brute.js";

const DAY_S = 86_400;
const GROUPINGS = ["owner", "group", "class", "state", "location", "age", "size", "tag:project"];

/** A tree of several directories, sizes from empty to 200 KiB, access times from days to years ago. */
function initialFiles(): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 24; i++) {
    const dir = ["old/runs/a", "old/runs/b", "old/logs", "new", "new/deep/er/still"][i % 5] as string;
    files[`${dir}/f${i}.dat`] = Buffer.alloc([0, 10, 5000, 70_000, 200_000, 300][i % 6] as number, i);
  }
  files["top.txt"] = Buffer.from("at the root");
  return files;
}

/** Access 5 days to 4 years ago, modification a year ago; a third of the files to another owner (when root). */
function age(tree: string, path: string, i: number): void {
  const now = Date.now() / 1000;
  const atime = now - ([5, 45, 100, 200, 400, 1500][i % 6] as number) * DAY_S;
  utimesSync(join(tree, path), atime, now - 365 * DAY_S);
  if (process.getuid?.() === 0 && i % 3 === 1) chownSync(join(tree, path), 4242, 777);
}

function workspace(catalog: string) {
  const dir = tempDir("strata-du-");
  const config = join(dir, "strata.yaml");
  writeFileSync(
    config,
    [
      `catalog: ${catalog}`,
      "locations:",
      "  scratch:",
      "    url: ./tree",
      "  archive:",
      "    url: local:store",
      "  vault:",
      "    url: local:vault",
      "    class: GLACIER",
      "    restoreDelay: 1h",
      "policies:",
      "  - name: release-old",
      "    from: [scratch]",
      '    match: { path: ["old/runs/**"] }',
      "    place: [{ to: archive, class: STANDARD_IA }]",
      "    then: release",
      "",
    ].join("\n"),
  );
  const tree = join(dir, "tree");
  const files = initialFiles();
  writeTree(tree, files);
  for (const [i, path] of Object.keys(files).entries()) age(tree, path, i);
  return { dir, tree, files, run: (...args: string[]) => strata(["--config", config, ...args], { cwd: dir }) };
}

function expectOk(result: CliResult, what: string): void {
  expect(`${what}: exit ${result.code}\n${result.stderr}`).toBe(`${what}: exit 0\n`);
}

const REQUESTS: Request[] = [
  { operands: [] },
  { operands: [{ location: "scratch", path: "" }], depth: 1 },
  { operands: [{ location: "scratch", path: "" }], depth: 2 },
  {
    operands: [
      { location: "scratch", path: "old" },
      { location: "scratch", path: "new/deep" },
    ],
    depth: 9,
  },
  {
    operands: [
      { location: "scratch", path: "old/runs" },
      { location: "archive", path: "" },
    ],
  },
  { operands: [{ location: "scratch", path: "old" }], by: "class" },
  ...GROUPINGS.map((by, i) => ({ operands: i % 2 ? [] : [{ location: "scratch", path: "" }], by })),
];

describe.each(CATALOG_KINDS)("strata du answers as summing the catalog's rows does (%s catalog)", (kind) => {
  it("after scans, rescans, syncs, verify, tags, a releasing apply, restore and deletions", async () => {
    const url = await freshCatalogUrl(kind, tempDir());
    const ws = workspace(url);

    /** Every request against the brute force over the rows, and the whole tree against what is on disk. */
    const check = async (step: string, onDisk: Record<string, Buffer>) => {
      const rows = await catalogRows(url);
      for (const request of REQUESTS) {
        const answer = duRows(await ws.run(...duArgs(request)));
        expect(answer, `${step}: du ${duArgs(request).join(" ")}`).toEqual(bruteDu(rows, request));
      }
      // The tree as written: each file once, at its logical size, released or not.
      const whole = duRows(await ws.run("--json", "du", "scratch"))["scratch:"];
      const sizes = Object.values(onDisk).map((b) => b.length);
      expect([whole?.files, whole?.bytes], step).toEqual([sizes.length, sizes.reduce((a, b) => a + b, 0)]);
    };

    expectOk(await ws.run("scan", "scratch"), "scan");
    await check("scan", ws.files);

    // Added, removed, grown, read again.
    const files = { ...ws.files };
    files["new/added.dat"] = Buffer.alloc(12_345, 1);
    files["old/logs/f2.dat"] = Buffer.alloc(99_999, 2);
    writeTree(ws.tree, { "new/added.dat": files["new/added.dat"], "old/logs/f2.dat": files["old/logs/f2.dat"] });
    rmSync(join(ws.tree, "new/f3.dat"));
    delete files["new/f3.dat"];
    utimesSync(join(ws.tree, "old/runs/a/f0.dat"), Date.now() / 1000 - 3000 * DAY_S, Date.now() / 1000 - 400 * DAY_S);
    expectOk(await ws.run("scan", "scratch"), "rescan");
    await check("rescan with changes", files);

    expectOk(await ws.run("sync", "scratch", "archive"), "sync");
    expectOk(await ws.run("sync", "--include", "new/**", "scratch", "vault"), "sync to the archive class");
    await check("sync", files);
    expectOk(await ws.run("verify", "archive"), "verify");
    await check("verify", files);

    // Tags are changed by ordinary UPDATEs of files.tags, as `strata tag` does.
    const catalog = await openCatalog(url);
    await catalog.db
      .updateTable("files")
      .set({ tags: '{"project":"alpha","kind":"x"}' })
      .where("path", "like", "old/%")
      .execute();
    await catalog.db
      .updateTable("files")
      .set({ tags: '{"project":"beta"}' })
      .where("path", "like", "new/deep/%")
      .execute();
    await catalog.db.updateTable("files").set({ tags: "not json" }).where("path", "=", "top.txt").execute();
    // Nothing in the engine moves a copy to 'archived' yet; a store's lifecycle rule would, with an UPDATE like this.
    const vault = catalog.db.selectFrom("locations").select("id").where("name", "=", "vault");
    await catalog.db.updateTable("replicas").set({ state: "archived" }).where("location_id", "=", vault).execute();
    await catalog.close();
    await check("tags and archived copies", files);

    expectOk(await ws.run("apply"), "apply");
    const rows = await catalogRows(url);
    expect(rows.files.filter((f) => f.state === "released").length).toBeGreaterThan(0);
    await check("apply (release)", files);

    expectOk(await ws.run("restore", "scratch:old/runs/a"), "restore");
    await check("restore", files);

    for (const path of ["old/logs/f7.dat", "new/f8.dat", "top.txt"]) {
      rmSync(join(ws.tree, path));
      delete files[path];
    }
    // A released file whose stub is gone is missing, not deleted: still counted, its data in its copies.
    rmSync(join(ws.tree, "old/runs/b/f1.dat"));
    const rescan = await ws.run("scan", "scratch");
    expect(rescan.code, rescan.stderr).toBe(0);
    expect(rescan.stderr).toContain("1 released files lost their stubs");
    await check("deletion rescan", files);
    // The steps reached every state du tells apart.
    const states = bruteDu(await catalogRows(url), { operands: [], by: "state" });
    expect(Object.keys(states).sort()).toEqual(["archived", "deleted", "lost", "present", "released"]);
    expectOk(await ws.run("sync", "--delete", "--force", "scratch", "archive"), "sync --delete");
    await check("sync --delete", files);
  }, 300_000);

  it("--top, human output and bad input", async () => {
    const url = await freshCatalogUrl(kind, tempDir());
    const ws = workspace(url);
    expectOk(await ws.run("scan", "scratch"), "scan");
    const rows = await catalogRows(url);

    const owners = Object.values(bruteDu(rows, { operands: [], by: "owner" }));
    const top = JSON.parse((await ws.run("--json", "du", "--by", "owner", "--top", "1")).stdout).rows;
    expect(top).toHaveLength(1);
    expect(top[0].bytes).toBe(Math.max(...owners.map((o) => o.bytes ?? 0)));

    // Without --by: the directories holding the most bytes themselves, not counting below.
    const own = new Map<string, number>();
    for (const f of rows.files.filter((x) => x.kind === "file")) {
      const dir = f.path.includes("/") ? f.path.slice(0, f.path.lastIndexOf("/")) : "";
      own.set(`scratch:${dir}`, (own.get(`scratch:${dir}`) ?? 0) + Number(f.size));
    }
    const expected = [...own].sort((a, b) => b[1] - a[1]).slice(0, 2);
    const dirs = JSON.parse((await ws.run("--json", "du", "scratch", "--top", "2")).stdout).rows;
    expect(dirs.map((d: { name: string; bytes: number }) => [d.name, d.bytes])).toEqual(expected);

    const human = await ws.run("du", "scratch", "-d", "1");
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^\s+FILES\s+LOGICAL\s+STORED/);
    expect(human.stdout).toContain("scratch:old");

    for (const [args, word] of [
      [["du", "--by", "colour"], "colour"],
      [["du", "--by", "tag:bad key"], "tag:bad key"],
      [["du", "-d", "deep"], "deep"],
      [["du", "nowhere:x"], "nowhere:x"],
      [["du", "scratch:old", "--by", "owner"], "scratch:old"],
    ] as const) {
      const result = await ws.run(...args);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(word);
    }
  }, 120_000);
});
