/**
 * Issue 12: policy selectors `type:` and `match: tags` select files once a scan has detected
 * types and `strata tag` has set tags (before, nothing filled those columns). Through the CLI
 * on a real tree, on SQLite and PostgreSQL: the files each policy plans to copy are exactly
 * those a plain-TypeScript filter over the same tree picks, with each file's type as this test
 * declares it and its tags as the same tag commands leave them.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { PolicyAction } from "../../src/policy/actions.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";

/** Each file with the type family its name should be detected as (null: none). */
const TREE: Record<string, string | null> = {
  "climate/t2m.nc": "netcdf",
  "climate/T2M.NC4": "netcdf",
  "climate/old.cdf": "netcdf",
  "climate/grid.h5": "hdf5",
  "seq/r1.fastq.gz": "fastq",
  "seq/r2.fq": "fastq",
  "seq/r3.fq.bz2": "fastq",
  "seq/notes.txt": "text",
  "misc/data.nc.bak": null,
  "misc/nc": null,
  "misc/.nc": null,
  "misc/.hidden.nc": "netcdf",
  "misc/bundle.tar.gz": "archive",
  "misc/blob.gz": "compressed",
};

/** The tag commands run, as operand (a file or a directory) and change. */
const TAGGING: { operand: string; set?: Record<string, string>; remove?: string[] }[] = [
  { operand: "climate", set: { project: "climate" } },
  { operand: "seq/r2.fq", set: { project: "climate" } },
  { operand: "climate/grid.h5", remove: ["project"] },
  { operand: "misc", set: { project: "misc", keep: "yes" } },
];

function modelTags(): Map<string, Record<string, string>> {
  const tags = new Map<string, Record<string, string>>();
  for (const { operand, set, remove } of TAGGING) {
    for (const path of Object.keys(TREE)) {
      if (path !== operand && !path.startsWith(`${operand}/`)) continue;
      const next = { ...(tags.get(path) ?? {}) };
      for (const name of remove ?? []) delete next[name];
      tags.set(path, Object.assign(next, set ?? {}));
    }
  }
  return tags;
}

/** A selector's meaning, in plain TypeScript: a type names a detected family or an extension. */
const isType = (path: string, types: string[]) =>
  types.some((t) => TREE[path] === t || path.toLowerCase().endsWith(`.${t}`));
const hasTags = (path: string, wanted: Record<string, string>, tags: Map<string, Record<string, string>>) =>
  Object.entries(wanted).every(([k, v]) => tags.get(path)?.[k] === v);

const POLICIES: {
  name: string;
  match: string;
  expected: (path: string, tags: Map<string, Record<string, string>>) => boolean;
}[] = [
  { name: "by-type", match: "{ type: [netcdf, fastq] }", expected: (p) => isType(p, ["netcdf", "fastq"]) },
  { name: "by-extension", match: "{ type: [gz] }", expected: (p) => isType(p, ["gz"]) },
  {
    name: "by-tag",
    match: "{ tags: { project: climate } }",
    expected: (p, tags) => hasTags(p, { project: "climate" }, tags),
  },
  {
    name: "by-two-tags",
    match: "{ tags: { project: misc, keep: 'yes' } }",
    expected: (p, tags) => hasTags(p, { project: "misc", keep: "yes" }, tags),
  },
  {
    name: "type-not-tag",
    match: "{ all: [{ type: fastq }, { not: { tags: { project: climate } } }] }",
    expected: (p, tags) => isType(p, ["fastq"]) && !hasTags(p, { project: "climate" }, tags),
  },
];

describe.each(CATALOG_KINDS)("policy selectors type: and tags: after scan and tag (%s catalog)", (kind) => {
  it("each policy plans exactly the files a plain filter over the tree picks", async () => {
    const dir = tempDir("strata-type-tags-");
    const catalog = await freshCatalogUrl(kind, dir);
    writeTree(join(dir, "tree"), Object.fromEntries(Object.keys(TREE).map((p) => [p, `content of ${p}`])));
    const config = (policy?: (typeof POLICIES)[number]) => {
      const file = join(dir, `${policy?.name ?? "none"}.yaml`);
      const lines = [
        `catalog: ${catalog}`,
        "locations:",
        "  scratch: { url: ./tree }",
        "  archive: { url: local:store }",
        ...(policy
          ? [
              "policies:",
              `  - name: ${policy.name}`,
              "    from: [scratch]",
              `    match: ${policy.match}`,
              "    place: [{ to: archive }]",
            ]
          : []),
      ];
      writeFileSync(file, `${lines.join("\n")}\n`);
      return file;
    };
    const run = async (...args: string[]) => {
      const result = await strata(args, { cwd: dir });
      expect(result.code, `strata ${args.join(" ")}: ${result.stderr}`).toBe(0);
      return result;
    };
    const plain = config();
    await run("--config", plain, "scan", "scratch");
    for (const { operand, set, remove } of TAGGING) {
      const flags = set ? Object.entries(set).flatMap(([k, v]) => ["--tag", `${k}=${v}`]) : [];
      for (const name of remove ?? []) flags.push("--tag", name);
      await run("--config", plain, "tag", set ? "set" : "rm", `scratch:${operand}`, ...flags);
    }

    const tags = modelTags();
    for (const policy of POLICIES) {
      const plan = JSON.parse((await run("--config", config(policy), "--json", "plan")).stdout);
      const planned = (plan.actions as PolicyAction[]).filter((a) => a.kind === "copy").map((a) => a.file.path);
      const expected = Object.keys(TREE).filter((p) => policy.expected(p, tags));
      expect(expected.length, `${policy.name} selects something`).toBeGreaterThan(0);
      expect(planned.sort(), policy.name).toEqual(expected.sort());
    }
  });
});
