import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../support/bytes.js";
import { CATALOG_KINDS } from "../support/catalogs.js";
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
  withStore,
} from "../support/packs.js";
import { randomTree, writeTree } from "../support/trees.js";

/**
 * Issue 15: a policy placement with `pack: { below, size, codec }` packs the small files it
 * copies through the same pack writer sync uses; larger files stay whole objects.
 */

/** strata.yaml: `scratch` (the tree) placed at `archive` (the store) with the given placement lines. */
function writePackPolicy(p: Project, place: string[], policy: string[] = []): void {
  const lines = [
    "locations:",
    "  scratch:",
    "    url: ./tree",
    "  archive:",
    "    url: local:store",
    "policies:",
    "  - name: to-archive",
    "    from: [scratch]",
    "    place:",
    "      - to: archive",
    ...place.map((line) => `        ${line}`),
    ...policy.map((line) => `    ${line}`),
    "",
  ];
  writeFileSync(join(p.work, "strata.yaml"), lines.join("\n"));
}

describe.each(CATALOG_KINDS)("a policy placement with pack: (%s catalog)", (kind) => {
  it("packs the small files it copies (tar reads the pack), copies large ones whole, and converges", async () => {
    const p = await project(kind);
    writeTree(p.tree, {
      "data/a.csv": "x,y\n1,2\n",
      "data/b.txt": "beta content",
      "data/rand.bin": randomBytes(20_000),
      "big/large.bin": randomBytes(300_000),
    });
    writePackPolicy(p, ["pack: { below: 64KiB, size: 1MiB, codec: gzip }"]);
    ok(await p.run("scan", "scratch"));
    const applied = ok(await p.run("--json", "apply"));
    expect(JSON.parse(applied.stdout).result.kinds.copy.files).toBe(4);

    const packKeys = await keysUnder(p.store, ".strata-packs/");
    const pack = packKeys.find((k) => !k.endsWith(INDEX)) as string;
    expect(packKeys.sort()).toEqual([pack, `${pack}${INDEX}`].sort());
    expect(pack.endsWith(".tar.gz")).toBe(true);
    const packFile = join(p.work, "pack.tar.gz");
    writeFileSync(packFile, await objectBytes(p.store, pack));
    const out = join(p.work, "extracted");
    mkdirSync(out);
    execFileSync("sh", ["-c", `gzip -dc "${packFile}" | tar -xf - -C "${out}"`]);
    const small = filesUnder(p.tree);
    small.delete("big/large.bin");
    const extracted = filesUnder(out);
    expect([...extracted.keys()].sort()).toEqual([...small.keys()].sort());
    for (const [path, content] of small)
      expect(sha256Hex(extracted.get(path) as Buffer), path).toBe(sha256Hex(content));

    const { members, packs } = await catalogRows(p.catalogUrl);
    expect(packs).toHaveLength(1);
    expect(packs[0]).toMatchObject({ key: pack, members: 3, codec: "gzip" });
    expect(members.filter((m) => m.pack_id !== null).map((m) => m.path)).toEqual([...small.keys()].sort());
    expect(members.find((m) => m.path === "big/large.bin")).toMatchObject({ key: "big/large.bin", pack_id: null });
    await expectMembersHeld(p);

    // Done: a plan right after has nothing to copy, and every copy verifies.
    const again = ok(await p.run("--json", "apply"));
    expect(JSON.parse(again.stdout).plan).toEqual([]);
    const verified = ok(await p.run("--json", "verify", "local:store"));
    expect(JSON.parse(verified.stdout).verified).toBe(4);
  });

  it("carries pack: through a plan file", async () => {
    const p = await project(kind);
    writeTree(p.tree, { "a.txt": "alpha", "b.txt": "beta" });
    writePackPolicy(p, ["pack: { below: 1MiB }"]);
    ok(await p.run("scan", "scratch"));
    const planFile = join(p.work, "plan.json");
    ok(await p.run("plan", "--out", planFile));
    const plan = JSON.parse(readFileSync(planFile, "utf8"));
    expect(plan.actions[0].pack).toEqual({ below: 1024 ** 2, size: 256 * 1024 ** 2, codec: "none" });
    ok(await p.run("apply", planFile));
    const { members, packs } = await catalogRows(p.catalogUrl);
    expect(packs).toHaveLength(1);
    expect(members.map((m) => m.key)).toEqual([packs[0]?.key, packs[0]?.key]);
  });

  it("refuses pack: on a POSIX tree, naming the file and key (exit 2)", async () => {
    const p = await project(kind);
    writeFileSync(
      join(p.work, "strata.yaml"),
      [
        "locations:",
        "  scratch:",
        "    url: ./tree",
        "  copy:",
        "    url: ./copy",
        "policies:",
        "  - name: to-copy",
        "    from: [scratch]",
        "    place:",
        "      - to: copy",
        "        pack: { below: 1MiB }",
        "",
      ].join("\n"),
    );
    const refused = await p.run("plan");
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("strata.yaml");
    expect(refused.stderr).toContain("pack");
    expect(refused.stderr).toContain("copy is a POSIX tree");
  });

  it("releases a file whose only other copy is a checked member of a policy-made pack, and restores it", async () => {
    const p = await project(kind);
    writeTree(p.tree, { "keep/a.txt": "alpha content", "keep/b.txt": "beta content" });
    writePackPolicy(p, ["pack: { below: 1MiB, codec: gzip }"], ["then: release"]);
    ok(await p.run("scan", "scratch"));
    ok(await p.run("apply"));
    const { members, packs } = await catalogRows(p.catalogUrl);
    expect(packs).toHaveLength(1);
    expect(members.every((m) => m.pack_id === packs[0]?.id)).toBe(true);
    for (const name of ["keep/a.txt", "keep/b.txt"]) {
      expect(readFileSync(join(p.tree, name), "utf8")).toContain("strata stub v1");
    }
    ok(await p.run("restore", "scratch:keep"));
    expect(readFileSync(join(p.tree, "keep/a.txt"), "utf8")).toBe("alpha content");
    expect(readFileSync(join(p.tree, "keep/b.txt"), "utf8")).toBe("beta content");
  });
});

describe("cost of a packed location", () => {
  it("bills a pack in GLACIER as ONE object: 40 KiB of per-object overhead per pack, not per member", async () => {
    const p = await project("sqlite");
    const files = randomTree(p.tree, 60, 4096);
    writeFileSync(
      join(p.work, "strata.yaml"),
      [
        "locations:",
        "  scratch:",
        "    url: ./tree",
        "  archive:",
        "    url: local:store",
        "    price: { profile: aws }",
        "  flat:",
        "    url: local:flat",
        "    price: { profile: aws }",
        "policies:",
        "  - name: packed",
        "    from: [scratch]",
        "    place:",
        "      - to: archive",
        "        class: GLACIER",
        "        pack: { below: 1MiB, codec: gzip }",
        "      - to: flat",
        "        class: GLACIER",
        "",
      ].join("\n"),
    );
    ok(await p.run("scan", "scratch"));
    ok(await p.run("apply"));
    const { packs } = await catalogRows(p.catalogUrl);
    expect(packs).toHaveLength(1);
    // In GLACIER the pack reads only after a thaw; its size is the store's.
    const packSize = (await withStore(p.store, (store) => store.stat(packs[0]?.key as string)))?.size ?? 0;
    expect(packSize).toBeGreaterThan(0);
    const cost = ok(await p.run("--json", "cost", "--by", "location,class"));
    const lines: { group: { location: string }; objects: number; storedBytes: number; billableBytes: number }[] =
      JSON.parse(cost.stdout).lines;
    const at = (name: string) => lines.find((l) => l.group.location === name) as (typeof lines)[0];
    // S3 Glacier Flexible Retrieval bills 32 KiB in the class and 8 KiB at STANDARD per object.
    const overhead = 40 * 1024;
    expect(at("archive")).toMatchObject({ objects: 1, storedBytes: packSize, billableBytes: packSize + overhead });
    const logical = Object.values(files).reduce((n, b) => n + b.length, 0);
    expect(at("flat")).toMatchObject({ objects: 60, storedBytes: logical, billableBytes: logical + 60 * overhead });
  });
});

describe.each(CATALOG_KINDS)("a policy's packing killed with SIGKILL (%s catalog)", (kind) => {
  it("converges: nothing lost, no member recorded in a pack that does not hold it, no pack left unrecorded", async () => {
    const p = await project(kind);
    const files = randomTree(p.tree, 1500, 4096);
    writePackPolicy(p, ["pack: { below: 8KiB, size: 48KiB, codec: gzip }"]);
    ok(await p.run("scan", "scratch"));
    await killAfterTenPacks(p, ["apply"]);
    await expectMembersHeld(p);

    const rerun = await p.run("--json", "apply");
    expect(rerun.stderr).toBe("");
    expect(rerun.code).toBe(0);
    expect(JSON.parse(rerun.stdout).result.failures).toEqual([]);
    await expectPackingConverged(p, files);
  });
});
