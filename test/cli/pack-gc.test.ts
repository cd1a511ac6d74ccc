import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { CATALOG_KINDS, type CatalogKind, freshCatalogUrl } from "../support/catalogs.js";
import { type CliResult, finished, spawnStrata } from "../support/cli.js";
import {
  catalogRows,
  expectMembersHeld,
  INDEX,
  keysUnder,
  ok,
  type Project,
  projectAt,
  putObject,
  withStore,
} from "../support/packs.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";

/**
 * Issue 15, packs age: `strata pack gc` on the embedded store. A pack most of whose members were
 * deleted is rewritten with the rest (when that pays), a pack nobody references is deleted, one
 * not worth rewriting (a minimum storage duration not served) or in an archive class is kept
 * with the reason; a gc killed with SIGKILL at any moment converges on its re-run.
 */

/** Many CLI processes per test: minutes, not the default minute, on a loaded machine. */
const CLI_RUNS = 240_000;
const KILL_RUNS = 480_000;
const PACKS = ".strata-packs/";

/** `scratch` (the tree) and `archive` (the embedded store), with the archive's extra config lines. */
async function project(kind: CatalogKind, archive: string[] = []): Promise<Project> {
  const work = tempDir("strata-pack-gc-");
  const lines = ["locations:", "  scratch:", "    url: ./tree", "  archive:", "    url: local:store", ...archive, ""];
  writeFileSync(join(work, "strata.yaml"), lines.join("\n"));
  return projectAt(work, await freshCatalogUrl(kind, work));
}

/** `count` files of random (incompressible) bytes of one size under `dir`. */
function files(dir: string, count: number, size: number): Record<string, Buffer> {
  const made: Record<string, Buffer> = {};
  for (let i = 0; i < count; i++) made[`${dir}/${String(i).padStart(3, "0")}.bin`] = randomBytes(size);
  return made;
}

interface Verdict {
  key: string;
  decision: string;
  reason?: string;
  liveShare: number;
  newKey?: string;
  cost?: { earlyDeletion: number; saving: number };
}

function verdicts(result: CliResult): Map<string, Verdict> {
  const packs: Verdict[] = JSON.parse(result.stdout).packs;
  return new Map(packs.map((v) => [v.key, v]));
}

/** Each pack object in the store and its index, with the pack rows: every key recorded, every row's objects there. */
async function expectNoOrphanPack(p: Project): Promise<void> {
  const { packs } = await catalogRows(p.catalogUrl);
  const recorded = new Set(packs.map((pack) => pack.key));
  const stored = await keysUnder(p.store, PACKS);
  for (const key of stored)
    expect(recorded.has(key.endsWith(INDEX) ? key.slice(0, -INDEX.length) : key), key).toBe(true);
  for (const key of recorded) expect(stored, key).toEqual(expect.arrayContaining([key, `${key}${INDEX}`]));
}

/** Restores `scratch:<dir>` into a fresh directory and compares every file with `expected`. */
async function expectRestored(p: Project, dir: string, expected: Record<string, Buffer>): Promise<void> {
  const into = join(p.work, `back-${Date.now()}`);
  ok(await p.run("restore", `scratch:${dir}`, "--to", into));
  for (const [path, content] of Object.entries(expected)) {
    expect(readFileSync(join(into, path)).equals(content), path).toBe(true);
  }
}

describe.each(CATALOG_KINDS)("strata pack gc on the embedded store (%s catalog)", (kind) => {
  it(
    "repacks a pack most of whose members were deleted, deletes an unreferenced one; --dry-run changes nothing",
    async () => {
      const p = await project(kind);
      const keep = files("keep", 5, 3000);
      const gone = files("gone", 7, 3000);
      writeTree(p.tree, { ...keep, ...gone });
      ok(await p.run("sync", "scratch", "archive", "--pack-below", "64KiB", "--pack-codec", "gzip"));
      const later = files("later", 4, 3000);
      writeTree(p.tree, later);
      ok(await p.run("sync", "scratch", "archive", "--pack-below", "64KiB", "--pack-codec", "gzip"));
      const [first, second] = (await catalogRows(p.catalogUrl)).packs.map((pack) => pack.key) as [string, string];

      rmSync(join(p.tree, "gone"), { recursive: true });
      rmSync(join(p.tree, "later"), { recursive: true });
      ok(await p.run("sync", "scratch", "archive", "--delete", "--force"));
      const keysBefore = (await keysUnder(p.store, PACKS)).sort();
      const rowsBefore = await catalogRows(p.catalogUrl);
      expect(keysBefore).toHaveLength(4);

      const dry = verdicts(ok(await p.run("--json", "pack", "gc", "--dry-run")));
      expect(dry.get(first)).toMatchObject({ decision: "repack" });
      expect(dry.get(first)?.liveShare).toBeLessThan(0.5);
      expect(dry.get(second)).toMatchObject({ decision: "delete", liveShare: 0 });
      expect((await keysUnder(p.store, PACKS)).sort()).toEqual(keysBefore);
      expect(await catalogRows(p.catalogUrl)).toEqual(rowsBefore);

      const done = verdicts(ok(await p.run("--json", "pack", "gc")));
      expect(done.get(first)).toMatchObject({ decision: "repack" });
      expect(done.get(second)).toMatchObject({ decision: "delete" });
      const fresh = done.get(first)?.newKey as string;
      expect(fresh.endsWith(".tar.gz")).toBe(true);
      expect((await keysUnder(p.store, PACKS)).sort()).toEqual([fresh, `${fresh}${INDEX}`].sort());
      const { members, packs } = await catalogRows(p.catalogUrl);
      expect(packs.map((pack) => pack.key)).toEqual([fresh]);
      expect(packs[0]?.members).toBe(5);
      expect(members.map((m) => [m.path, m.key])).toEqual(Object.keys(keep).map((path) => [path, fresh]));
      await expectMembersHeld(p);

      await expectRestored(p, "keep", keep);
      ok(await p.run("verify", "archive"));
      ok(await p.run("catalog", "check"));
      const again = verdicts(ok(await p.run("--json", "pack", "gc")));
      expect(again.get(fresh)).toMatchObject({ decision: "keep" });
    },
    CLI_RUNS,
  );

  it(
    "keeps a pack whose rewrite does not pay, and skips one in an archive class, saying why",
    async () => {
      // A class billed like an archive's but read directly: a year's minimum, so deleting the pack
      // now costs a year of all of it, more than a year of the share a rewrite would save.
      const p = await project(kind, [
        "    price:",
        "      classes:",
        "        STANDARD: { storagePerGBMonth: 0.004, minStorageDays: 365 }",
      ]);
      const keep = files("keep", 4, 3000);
      writeTree(p.tree, { ...keep, ...files("gone", 6, 3000) });
      ok(await p.run("sync", "scratch", "archive", "--pack-below", "64KiB"));
      writeTree(p.tree, files("cold", 6, 3000));
      ok(
        await p.run(
          "sync",
          "scratch",
          "archive",
          "--include",
          "cold/**",
          "--pack-below",
          "64KiB",
          "--class",
          "GLACIER",
        ),
      );
      const [standard, glacier] = (await catalogRows(p.catalogUrl)).packs.map((pack) => pack.key) as [string, string];
      rmSync(join(p.tree, "gone"), { recursive: true });
      for (const name of ["000", "001", "002", "003"]) rmSync(join(p.tree, `cold/${name}.bin`));
      ok(await p.run("sync", "scratch", "archive", "--delete", "--force"));
      const keysBefore = (await keysUnder(p.store, PACKS)).sort();

      const result = await p.run("pack", "gc");
      expect(result.code).toBe(0);
      const lines = result.stdout.split("\n");
      const line = (key: string) => lines.find((l) => l.includes(key)) ?? "";
      expect(line(standard)).toMatch(/^kept\t/);
      expect(line(standard)).toContain("early deletion");
      expect(line(standard)).toContain("minimum storage duration is not served");
      expect(line(glacier)).toMatch(/^skipped\t/);
      expect(line(glacier)).toContain("without a thaw");
      expect((await keysUnder(p.store, PACKS)).sort()).toEqual(keysBefore);

      // Over a horizon long enough, the same pack pays for its rewrite.
      const json = verdicts(ok(await p.run("--json", "pack", "gc", "--horizon", "5y")));
      expect(json.get(standard)).toMatchObject({ decision: "repack" });
      expect(json.get(standard)?.cost?.earlyDeletion).toBeGreaterThan(0);
      await expectRestored(p, "keep", keep);
    },
    CLI_RUNS,
  );

  it(
    "catalog check reports pack problems, read-only: member in no pack row, outside its pack, memberless pack, orphan pack",
    async () => {
      const p = await project(kind);
      for (const dir of ["a", "b", "c", "e"]) {
        writeTree(p.tree, files(dir, 3, 2000));
        ok(await p.run("sync", "scratch", "archive", "--pack-below", "64KiB"));
      }
      ok(await p.run("catalog", "check"));
      rmSync(join(p.tree, "b"), { recursive: true });
      ok(await p.run("sync", "scratch", "archive", "--delete", "--force"));
      const { packs } = await catalogRows(p.catalogUrl);
      const [a, b, c, e] = packs as [(typeof packs)[0], (typeof packs)[0], (typeof packs)[0], (typeof packs)[0]];
      const catalog = await openCatalog(p.catalogUrl);
      try {
        const member = (path: string) =>
          catalog.db.selectFrom("files").select("id").where("path", "=", path).executeTakeFirstOrThrow();
        const first = await member("a/000.bin");
        await catalog.db.updateTable("replicas").set({ pack_id: c.id }).where("file_id", "=", first.id).execute();
        const second = await member("a/001.bin");
        await catalog.db
          .updateTable("replicas")
          .set({ pack_offset: a.size - 100 })
          .where("file_id", "=", second.id)
          .execute();
      } finally {
        await catalog.close();
      }
      await withStore(p.store, (backend) => backend.delete([e.key]));
      const stray = ".strata-packs/2026-01-01/stray.tar";
      await putObject(p.store, stray, Buffer.alloc(1024));
      await putObject(p.store, `${stray}${INDEX}`, Buffer.from("{}\n"));
      const rowsBefore = await catalogRows(p.catalogUrl);

      const checked = await p.run("--json", "catalog", "check");
      expect(checked.code).toBe(1);
      const problems: { kind: string; key: string; detail: string }[] = JSON.parse(checked.stdout).check.problems;
      const at = (kind: string, key: string) => problems.filter((x) => x.kind === kind && x.key === key);
      expect(at("pack", a.key).map((x) => x.detail)).toEqual(
        expect.arrayContaining([
          expect.stringMatching(new RegExp(`a/000\\.bin is recorded in pack #${c.id}, which lies at`)),
          expect.stringMatching(
            new RegExp(`a/001\\.bin lies at bytes ${a.size - 100}–\\d+ of the pack, which has ${a.size}`),
          ),
        ]),
      );
      expect(at("pack", b.key).map((x) => x.detail)).toEqual([expect.stringContaining("pack records no member")]);
      expect(at("missing", e.key)).toHaveLength(3);
      expect(at("orphan", stray)[0]?.detail).toContain("no pack row records");
      expect(at("orphan", `${stray}${INDEX}`)[0]?.detail).toContain("no pack row records");
      // Nothing else: the sound packs and their indexes are not called orphans or the wrong size.
      expect(problems).toHaveLength(8);
      expect(await catalogRows(p.catalogUrl)).toEqual(rowsBefore);
    },
    CLI_RUNS,
  );

  it(
    "a policy whose placement says pack.gc repacks its location's packs when it applies",
    async () => {
      const p = await project(kind);
      const policy = [
        "policies:",
        "  - name: to-archive",
        "    from: [scratch]",
        "    place:",
        "      - to: archive",
        "        pack: { below: 64KiB, gc: { liveBelow: 0.6, horizon: 12mo } }",
        "",
      ];
      writeFileSync(
        join(p.work, "strata.yaml"),
        `${readFileSync(join(p.work, "strata.yaml"), "utf8")}${policy.join("\n")}`,
      );
      const keep = files("keep", 4, 3000);
      writeTree(p.tree, { ...keep, ...files("gone", 4, 3000) });
      ok(await p.run("sync", "scratch", "archive", "--pack-below", "64KiB"));
      const [old] = (await catalogRows(p.catalogUrl)).packs.map((pack) => pack.key);
      rmSync(join(p.tree, "gone"), { recursive: true });
      ok(await p.run("sync", "scratch", "archive", "--delete", "--force"));

      const applied = ok(await p.run("--json", "apply"));
      expect(JSON.parse(applied.stdout).result.packGc).toEqual([
        expect.objectContaining({ location: "archive", repacked: 1 }),
      ]);
      const { members, packs } = await catalogRows(p.catalogUrl);
      expect(packs.map((pack) => pack.key)).not.toContain(old);
      expect(members.map((m) => m.key)).toEqual(Object.keys(keep).map(() => packs[0]?.key));
      await expectMembersHeld(p);
      await expectRestored(p, "keep", keep);

      writeFileSync(
        join(p.work, "strata.yaml"),
        readFileSync(join(p.work, "strata.yaml"), "utf8").replace("liveBelow: 0.6", "liveBelow: 2"),
      );
      const refused = await p.run("apply");
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain("liveBelow");
    },
    CLI_RUNS,
  );

  it("refuses a threshold or horizon that makes no sense, naming the flag (exit 2)", async () => {
    const p = await project(kind);
    for (const [flag, value] of [
      ["--live-below", "1.5"],
      ["--live-below", "half"],
      ["--horizon", "soon"],
    ] as const) {
      const refused = await p.run("pack", "gc", flag, value);
      expect(refused.code, `${flag} ${value}`).toBe(2);
      expect(refused.stderr).toContain(flag);
    }
  });
});

describe.each(CATALOG_KINDS)("pack gc killed with SIGKILL (%s catalog)", (kind) => {
  it(
    "converges at every moment: nothing lost, no member in a pack that does not hold it, no pack unrecorded",
    async () => {
      const p = await project(kind);
      const keep = files("keep", 240, 2048);
      const gone = files("gone", 240, 2048);
      // Interleaved names, so every pack holds some of each.
      const tree: Record<string, Buffer> = {};
      for (const [i, path] of Object.keys(keep).entries()) {
        tree[path.replace("keep/", `d${i % 60}/k`)] = keep[path] as Buffer;
        const other = Object.keys(gone)[i] as string;
        tree[other.replace("gone/", `d${i % 60}/g`)] = gone[other] as Buffer;
      }
      writeTree(p.tree, tree);
      ok(await p.run("sync", "scratch", "archive", "--pack-below", "8KiB", "--pack-size", "16KiB"));
      for (const path of Object.keys(tree).filter((path) => path.includes("/g"))) rmSync(join(p.tree, path));
      ok(await p.run("sync", "scratch", "archive", "--delete", "--force"));
      const original = new Set((await catalogRows(p.catalogUrl)).packs.map((pack) => pack.key));
      expect(original.size).toBeGreaterThan(40);

      const gc = ["--catalog", p.catalogUrl, "pack", "gc", "--live-below", "0.9"];
      // New packs uploaded (some unrecorded yet), then old packs being deleted, then later still.
      const moments = [
        (s: StoreState) => s.fresh >= 3,
        (s: StoreState) => s.removed >= 10,
        (s: StoreState) => s.removed >= 25,
      ];
      for (const moment of moments) {
        const child = spawnStrata(gc, { cwd: p.work, env: { TMPDIR: p.tmp } });
        const done = finished(child);
        let reached = false;
        for (let i = 0; i < 3000 && !reached; i++) {
          await sleep(5);
          reached = moment(storeState(p.store, original));
        }
        child.kill("SIGKILL");
        const ended = await done;
        expect(reached, ended.stderr).toBe(true);
        expect(ended.signal).toBe("SIGKILL");
        await expectMembersHeld(p);
      }

      const rerun = await p.run("--json", "pack", "gc", "--live-below", "0.9");
      expect(rerun.stderr).toBe("");
      expect(rerun.code).toBe(0);
      await expectMembersHeld(p);
      await expectNoOrphanPack(p);
      const { members, packs } = await catalogRows(p.catalogUrl);
      expect(packs.filter((pack) => original.has(pack.key))).toEqual([]);
      const kept = Object.keys(tree).filter((path) => !path.includes("/g"));
      expect(members.map((m) => m.path).sort()).toEqual(kept.sort());
      ok(await p.run("catalog", "check"));
      ok(await p.run("verify", "archive"));
      const into = join(p.work, "back");
      ok(await p.run("restore", "scratch:d*/k*", "--to", into));
      for (const path of kept) expect(readFileSync(join(into, path)).equals(tree[path] as Buffer), path).toBe(true);
      // The killed runs' packs in the making are gone from TMPDIR: the rerun sweeps them as it
      // settles what they left in the catalog, and removes its own. SQLite's own temp files
      // (`etilqs_…`, unlinked just after their open) are not Strata's: a kill between the two
      // leaves one, which no process may remove while another SQLite could be using it.
      expect(readdirSync(p.tmp).filter((name) => !name.startsWith("etilqs_"))).toEqual([]);
    },
    KILL_RUNS,
  );
});

interface StoreState {
  /** Pack objects not among the original ones, and original ones gone. */
  fresh: number;
  removed: number;
}

/** Counted from the embedded store's own index, read-only, while a gc runs. */
function storeState(store: string, original: ReadonlySet<string>): StoreState {
  const file = join(store, "index.db");
  if (!existsSync(file)) return { fresh: 0, removed: 0 };
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare("SELECT key FROM objects WHERE key LIKE '.strata-packs/%'").all() as { key: string }[];
    const packs = rows.map((r) => r.key).filter((key) => !key.endsWith(INDEX));
    const present = new Set(packs);
    return {
      fresh: packs.filter((key) => !original.has(key)).length,
      removed: [...original].filter((key) => !present.has(key)).length,
    };
  } catch {
    return { fresh: 0, removed: 0 };
  } finally {
    db.close();
  }
}
