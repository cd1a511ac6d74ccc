import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { expect } from "vitest";
import { type CatalogDb, openCatalog } from "../../src/catalog/db.js";
import type { CatalogSchema } from "../../src/catalog/schema.js";
import { loadStrataConfig } from "../../src/policy/config.js";
import { buildApp } from "../../src/server/app.js";
import { type CatalogKind, freshCatalogUrl } from "../support/catalogs.js";
import { type CliResult, strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";

/** A scratch tree, an archive store and one policy, scanned and applied by the real CLI. */
export async function apiWorkspace(kind: CatalogKind) {
  const dir = tempDir("strata-api-");
  const catalogUrl = await freshCatalogUrl(kind, dir);
  const configPath = join(dir, "strata.yaml");
  writeFileSync(
    configPath,
    [
      `catalog: ${catalogUrl}`,
      "locations:",
      "  scratch:",
      "    url: ./tree",
      "  archive:",
      "    url: local:store",
      "policies:",
      "  - name: keep-results",
      "    from: [scratch]",
      '    match: { path: ["results/**"] }',
      "    place: [{ to: archive }]",
      '    schedule: "0 2 * * *"',
      "",
    ].join("\n"),
  );
  const files = {
    "results/a.dat": Buffer.alloc(1000, 1),
    "results/b.dat": Buffer.alloc(3000, 2),
    "notes/c.txt": Buffer.from("notes"),
  };
  writeTree(join(dir, "tree"), files);
  const run = (...args: string[]) => strata(["--config", configPath, ...args], { cwd: dir });
  return { dir, catalogUrl, configPath, files, run };
}

export function expectOk(result: CliResult, what: string): void {
  expect(`${what}: exit ${result.code}\n${result.stderr}`).toBe(`${what}: exit 0\n`);
}

/** The app of `strata serve` on the workspace's catalog, its JSON log lines collected. */
export async function serveInProcess(workspace: { dir: string; configPath: string; catalogUrl: string }) {
  const loaded = loadStrataConfig({ configFlag: workspace.configPath, env: {}, cwd: workspace.dir });
  const catalog = await openCatalog(workspace.catalogUrl);
  const logStream = new PassThrough();
  let log = "";
  logStream.on("data", (chunk: Buffer) => (log += chunk.toString()));
  const app = await buildApp({ catalog, loaded, logStream });
  return {
    app,
    catalog,
    log: () => log,
    close: async () => {
      await app.close();
      await catalog.close();
    },
  };
}

const TABLES: (keyof CatalogSchema)[] = [
  "locations",
  "scans",
  "files",
  "replicas",
  "packs",
  "runs",
  "actions",
  "events",
  "purge_notices",
  "policy_locks",
  "uploads",
  "upload_parts",
  "restore_requests",
  "usage_dirs",
  "usage_dir_copies",
  "usage_buckets",
  "usage_bucket_copies",
  "usage_tags",
  "tokens",
];

/** Every row of every table, as JSON lines in a stable order: equal before and after means nothing changed. */
export async function catalogRows(catalog: CatalogDb): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of TABLES) {
    const rows = await catalog.db.selectFrom(table).selectAll().execute();
    out[table] = rows.map((row) => JSON.stringify(row)).sort();
  }
  return out;
}
