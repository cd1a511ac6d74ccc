import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { tarMember } from "../../src/codec/pack/tar.js";
import { sha256Hex } from "../support/bytes.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { strata } from "../support/cli.js";
import {
  catalogRows,
  expectMembersHeld,
  expectPackingConverged,
  filesUnder,
  INDEX,
  keysUnder,
  killAfterTenPacks,
  objectBytes,
  ok,
  type Project,
  project,
  putObject,
} from "../support/packs.js";
import { oddTree, randomTree, writeTree } from "../support/trees.js";

/**
 * Issue 15, packs, on the embedded store: small files written into standard tar packs that `tar`
 * (and `gzip -dc | tar`) alone extract byte for byte, members restored and verified one by one,
 * relinked by `catalog rebuild` from the index objects, and hostile packs refused with a message
 * naming the pack and the member.
 */

/** strata.yaml with `scratch` (the tree), `archive` (the store) and one policy placing scratch there. */
function writePolicy(p: Project, extra: string[]): void {
  const policy = [
    "- name: to-archive",
    "  from: [scratch]",
    "  place:",
    "    - to: archive",
    ...extra.map((l) => `  ${l}`),
  ];
  const locations = ["  scratch:", "    url: ./tree", "  archive:", "    url: local:store"];
  const lines = ["locations:", ...locations, "policies:", ...policy.map((line) => `  ${line}`), ""];
  writeFileSync(join(p.work, "strata.yaml"), lines.join("\n"));
}

/** A tree with the odd names (not UTF-8, a newline, 255 bytes, 100 levels deep), small files and one large. */
function packTree(tree: string): { small: Map<string, Buffer>; large: string } {
  oddTree(tree);
  writeTree(tree, {
    "data/a.csv": "x,y\n1,2\n",
    "data/empty": "",
    "data/rand.bin": randomBytes(20_000),
    "data/more.bin": randomBytes(10_000),
  });
  writeTree(tree, { "big/large.bin": randomBytes(300_000) });
  const small = filesUnder(tree);
  small.delete("big/large.bin");
  return { small, large: "big/large.bin" };
}

describe.each(CATALOG_KINDS)("packs on the embedded store (%s catalog)", (kind) => {
  for (const codec of ["none", "gzip"] as const) {
    it(`writes a ${codec} pack that tar alone extracts byte for byte, large files whole`, async () => {
      const p = await project(kind);
      const { small, large } = packTree(p.tree);
      const synced = ok(
        await p.run("--json", "sync", "tree", "local:store", "--pack-below", "64KiB", "--pack-codec", codec),
      );
      expect(JSON.parse(synced.stdout).result.copied.files).toBe(small.size + 1);

      const packKeys = await keysUnder(p.store, ".strata-packs/");
      const pack = packKeys.find((k) => !k.endsWith(INDEX)) as string;
      expect(packKeys.sort()).toEqual([pack, `${pack}${INDEX}`].sort());
      expect(pack.endsWith(codec === "gzip" ? ".tar.gz" : ".tar")).toBe(true);

      const out = join(p.work, "extracted");
      mkdirSync(out);
      const packFile = join(p.work, "pack");
      writeFileSync(packFile, await objectBytes(p.store, pack));
      if (codec === "gzip") execFileSync("sh", ["-c", `gzip -dc "${packFile}" | tar -xf - -C "${out}"`]);
      else execFileSync("tar", ["-xf", packFile, "-C", out]);
      const extracted = filesUnder(out);
      expect([...extracted.keys()].sort()).toEqual([...small.keys()].sort());
      for (const [path, content] of small) {
        expect(sha256Hex(extracted.get(path) as Buffer), path).toBe(sha256Hex(content));
        const at = (root: string) => Buffer.concat([Buffer.from(`${root}/`), Buffer.from(path, "latin1")]);
        expect(Math.floor(statSync(at(out)).mtimeMs / 1000)).toBe(Math.floor(statSync(at(p.tree)).mtimeMs / 1000));
        expect(statSync(at(out)).mode & 0o777).toBe(statSync(at(p.tree)).mode & 0o777);
      }
      // The large file is an object of its own, not in the pack.
      expect(sha256Hex(await objectBytes(p.store, large))).toBe(sha256Hex(readFileSync(join(p.tree, large))));

      const { members, packs } = await catalogRows(p.catalogUrl);
      expect(packs).toHaveLength(1);
      expect(packs[0]).toMatchObject({ key: pack, members: small.size, codec });
      const packed = members.filter((m) => m.pack_id !== null);
      expect(packed).toHaveLength(small.size);
      for (const m of packed) expect(m).toMatchObject({ key: pack, codec, state: "present" });
      expect(members.find((m) => m.path === large)).toMatchObject({ key: large, pack_id: null, codec: null });

      const again = ok(await p.run("--json", "sync", "tree", "local:store", "--pack-below", "64KiB"));
      expect(JSON.parse(again.stdout).result.copied.files).toBe(0);
      const verified = ok(await p.run("--json", "verify", "local:store"));
      expect(JSON.parse(verified.stdout).verified).toBe(small.size + 1);
    });
  }

  it("restores members from the pack, and a lost catalog is rebuilt from the index objects", async () => {
    const p = await project(kind);
    const { small, large } = packTree(p.tree);
    ok(
      await p.run(
        "sync",
        "tree",
        "local:store",
        "--pack-below",
        "24KiB",
        "--pack-size",
        "24KiB",
        "--pack-codec",
        "gzip",
      ),
    );
    const packs = (await keysUnder(p.store, ".strata-packs/")).filter((k) => !k.endsWith(INDEX));
    expect(packs.length).toBeGreaterThan(1);

    const into = join(p.work, "restored");
    ok(await p.run("restore", `${p.tree}/data`, "--to", into));
    for (const name of ["a.csv", "empty", "rand.bin", "more.bin"]) {
      expect(readFileSync(join(into, "data", name)).equals(small.get(`data/${name}`) as Buffer)).toBe(true);
    }

    // A fresh catalog, from the tree and the store alone.
    const rebuilt = await freshCatalogUrl(kind, p.work);
    const rebuild = await strata(["--catalog", rebuilt, "--json", "catalog", "rebuild", "tree", "local:store"], {
      cwd: p.work,
    });
    expect(rebuild.code).toBe(0);
    const { members } = await catalogRows(rebuilt);
    expect(members.filter((m) => m.pack_id !== null)).toHaveLength(small.size);
    const all = join(p.work, "all");
    const restore = await strata(["--catalog", rebuilt, "restore", p.tree, "--to", all], { cwd: p.work });
    expect(restore.code).toBe(0);
    const back = filesUnder(all);
    for (const [path, content] of small) expect(back.get(path)?.equals(content), path).toBe(true);
    expect(back.get(large)?.equals(readFileSync(join(p.tree, large)))).toBe(true);
    const again = await strata(["--catalog", rebuilt, "--json", "catalog", "rebuild", "tree", "local:store"], {
      cwd: p.work,
    });
    expect(again.code).toBe(0);
    expect((await catalogRows(rebuilt)).members).toEqual(members);
  });

  it("refuses a truncated pack and a pack that disagrees with the catalog, naming pack and member", async () => {
    const p = await project(kind);
    writeTree(p.tree, { "one.txt": "first member", "two.txt": "second member", "three.txt": "third member" });
    ok(await p.run("sync", "tree", "local:store", "--pack-below", "1KiB"));
    const { members } = await catalogRows(p.catalogUrl);
    const pack = members[0]?.key as string;
    const last = members.reduce((a, b) => ((a.pack_offset ?? 0) > (b.pack_offset ?? 0) ? a : b));
    const whole = await objectBytes(p.store, pack);

    // Cut short inside the last member's frame.
    await putObject(p.store, pack, whole.subarray(0, (last.pack_offset ?? 0) + 700));
    const into = join(p.work, "out");
    const cut = await p.run("restore", `${p.tree}/${last.path}`, "--to", into);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toContain(pack);
    expect(cut.stderr).toContain(JSON.stringify(last.path));
    expect(existsSync(join(into, last.path))).toBe(false);

    // Whole again, but the catalog says another member lies where this one does.
    await putObject(p.store, pack, whole);
    const [first, second] = members as [(typeof members)[0], (typeof members)[0]];
    const catalog = await openCatalog(p.catalogUrl);
    await catalog.db
      .updateTable("replicas")
      .set({ pack_offset: second.pack_offset, pack_length: second.pack_length })
      .where("key", "=", pack)
      .where("pack_offset", "=", first.pack_offset)
      .execute();
    await catalog.close();
    const swapped = await p.run("restore", `${p.tree}/${first.path}`, "--to", into);
    expect(swapped.code).toBe(1);
    expect(swapped.stderr).toContain(`pack ${pack}, member ${JSON.stringify(first.path)}`);
    expect(swapped.stderr).toContain(`holds ${JSON.stringify(second.path)}`);
    expect(existsSync(join(into, first.path))).toBe(false);
  });

  it("never relinks members of a hostile index: ../x, absolute, NUL; nor an index that disagrees with its pack", async () => {
    const p = await project(kind);
    writeTree(p.tree, { "ok.txt": "fine" });
    ok(await p.run("sync", "tree", "local:store"));
    const origin = `file://${p.tree}`;
    const hostile = async (name: string, memberPath: string, tamper?: (header: Record<string, unknown>) => void) => {
      const data = Buffer.from("evil");
      const records = Buffer.concat([
        tarMember({ path: Buffer.from(memberPath), mtimeUs: 0, mode: 0o644, uid: 0, gid: 0 }, data),
        Buffer.alloc(1024),
      ]);
      const key = `.strata-packs/hostile/${name}.tar`;
      await putObject(p.store, key, records);
      const header: Record<string, unknown> = {
        format: "strata-pack-index",
        version: 1,
        pack: key,
        origin,
        codec: "none",
        size: records.length,
        sha256: sha256Hex(records),
        members: 1,
      };
      tamper?.(header);
      const member = { path: memberPath, offset: 0, length: records.length - 1024, size: 4, sha256: sha256Hex(data) };
      const index = `${JSON.stringify(header)}\n${JSON.stringify({ ...member, mtimeUs: 0, mode: 420, uid: 0, gid: 0 })}\n`;
      await putObject(p.store, `${key}${INDEX}`, Buffer.from(index));
      return key;
    };
    const escapes = [
      await hostile("dotdot", "../x"),
      await hostile("absolute", "/tmp/x"),
      await hostile("nul", "a\0b"),
    ];
    const wrongSize = await hostile("size", "y", (h) => {
      h.size = (h.size as number) + 512;
    });
    const wrongHash = await hostile("hash", "z", (h) => {
      h.sha256 = "0".repeat(64);
    });

    const rebuilt = await freshCatalogUrl(kind, p.work);
    const rebuild = await strata(["--catalog", rebuilt, "--json", "catalog", "rebuild", "tree", "local:store"], {
      cwd: p.work,
    });
    const report = JSON.parse(rebuild.stdout);
    const unlinked: { key: string; reason: string }[] = report.rebuild.stores[0].unlinked;
    for (const key of [...escapes, wrongSize, wrongHash]) {
      expect(
        unlinked.map((u) => u.key),
        key,
      ).toContain(key);
    }
    expect(unlinked.find((u) => u.key === escapes[0])?.reason).toContain('"../x"');
    expect(unlinked.find((u) => u.key === wrongSize)?.reason).toMatch(/says \d+ bytes, the pack has \d+/);
    expect(unlinked.find((u) => u.key === wrongHash)?.reason).toContain(`says SHA-256 ${"0".repeat(64)}`);
    const { members, packs } = await catalogRows(rebuilt);
    expect(packs).toEqual([]);
    expect(members.map((m) => m.path)).toEqual(["ok.txt"]);
    expect(existsSync(join(p.work, "x"))).toBe(false);
  });

  it("releases a file whose copy is a checked pack member, and brings it back from the pack; a damaged member frees nothing", async () => {
    const p = await project(kind);
    writeTree(p.tree, { "keep/a.txt": "alpha content", "keep/b.txt": "beta content", "bad/c.txt": "gamma content" });
    writePolicy(p, ["then: release"]);
    ok(await p.run("sync", "scratch", "archive", "--pack-below", "1MiB"));
    const { members } = await catalogRows(p.catalogUrl);
    const bad = members.find((m) => m.path === "bad/c.txt") as (typeof members)[0];
    // The pack as the store holds it, with bad/c.txt's bytes changed inside its frame.
    const whole = await objectBytes(p.store, bad.key);
    const damaged = Buffer.from(whole);
    const at = damaged.indexOf("gamma content", bad.pack_offset as number);
    damaged.write("GAMMA", at);
    await putObject(p.store, bad.key, damaged);

    const applied = await p.run("apply");
    expect(applied.code).toBe(1);
    expect(applied.stderr).toContain("bad/c.txt");
    expect(applied.stderr).toContain("a damaged member");
    expect(readFileSync(join(p.tree, "bad/c.txt"), "utf8")).toBe("gamma content");
    expect((await catalogRows(p.catalogUrl)).members.find((m) => m.path === "bad/c.txt")?.state).toBe("lost");
    for (const name of ["keep/a.txt", "keep/b.txt"]) {
      expect(readFileSync(join(p.tree, name), "utf8")).toContain("strata stub v1");
    }

    await putObject(p.store, bad.key, whole);
    ok(await p.run("restore", "scratch:keep"));
    expect(readFileSync(join(p.tree, "keep/a.txt"), "utf8")).toBe("alpha content");
    expect(readFileSync(join(p.tree, "keep/b.txt"), "utf8")).toBe("beta content");
  });

  it("a policy that finds a touched file's content in its pack member leaves the member in its pack", async () => {
    const p = await project(kind);
    writeTree(p.tree, { "a.txt": "alpha content", "b.txt": "beta content" });
    writePolicy(p, []);
    ok(await p.run("sync", "scratch", "archive", "--pack-below", "1MiB"));
    const before = (await catalogRows(p.catalogUrl)).members;
    // A chmod moves the ctime: the next scan clears the hash, and apply compares by content.
    chmodSync(join(p.tree, "a.txt"), 0o640);
    ok(await p.run("scan", "scratch"));
    ok(await p.run("apply"));
    const after = (await catalogRows(p.catalogUrl)).members;
    expect(after).toEqual(before);
    rmSync(join(p.tree, "a.txt"));
    const into = join(p.work, "back");
    ok(await p.run("restore", "scratch:a.txt", "--to", into));
    expect(readFileSync(join(into, "a.txt"), "utf8")).toBe("alpha content");
  });

  it("refuses pack options that make no sense, naming the flag (exit 2)", async () => {
    const p = await project(kind);
    writeTree(p.tree, { "a.txt": "a" });
    const toTree = await p.run("sync", "tree", join(p.work, "copy"), "--pack-below", "1MiB");
    expect(toTree.code).toBe(2);
    expect(toTree.stderr).toContain("--pack-below");
    const tooSmall = await p.run("sync", "tree", "local:store", "--pack-below", "1MiB", "--pack-size", "1KiB");
    expect(tooSmall.code).toBe(2);
    expect(tooSmall.stderr).toContain("--pack-size");
    const alone = await p.run("sync", "tree", "local:store", "--pack-size", "1MiB");
    expect(alone.code).toBe(2);
  });
});

describe.each(CATALOG_KINDS)("packing killed with SIGKILL (%s catalog)", (kind) => {
  it("converges: nothing lost, no member recorded in a pack that does not hold it, no pack left unrecorded", async () => {
    const p = await project(kind);
    const files = randomTree(p.tree, 1500, 4096);
    const sync = [
      "sync",
      "tree",
      "local:store",
      "--pack-below",
      "8KiB",
      "--pack-size",
      "48KiB",
      "--pack-codec",
      "gzip",
    ];
    await killAfterTenPacks(p, sync);
    // The killed process's packs in the making stay in TMPDIR (up to --pack-size each) ...
    const leftBehind = readdirSync(p.tmp);

    // Every member on record is in a pack on record that holds it, whole.
    await expectMembersHeld(p);

    const rerun = await p.run("--json", "sync", ...sync.slice(1));
    expect(rerun.stderr).toBe("");
    expect(rerun.code).toBe(0);
    expect(JSON.parse(rerun.stdout).result.failures).toEqual([]);
    await expectPackingConverged(p, files);
    // ... until the next run, which removes them with its own.
    expect(leftBehind.length).toBeGreaterThan(0);
    expect(leftBehind.every((name) => name.startsWith("strata-pack-"))).toBe(true);
    expect(readdirSync(p.tmp)).toEqual([]);
  });
});
