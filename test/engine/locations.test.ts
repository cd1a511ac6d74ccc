import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { type CatalogDb, openCatalog } from "../../src/catalog/db.js";
import { allLocations } from "../../src/catalog/locations.js";
import { Locations } from "../../src/engine/locations.js";
import { loadStrataConfig } from "../../src/policy/config.js";
import { tempDir } from "../support/tmp.js";

/** The locations of a run in `dir`, with the strata.yaml written there if one is given. */
function locationsIn(dir: string, catalog: CatalogDb, yaml?: string): Locations {
  if (yaml !== undefined) writeFileSync(join(dir, "strata.yaml"), yaml);
  const loaded = loadStrataConfig({ catalogFlag: join(dir, "catalog.db"), env: {}, cwd: dir });
  return new Locations(loaded, catalog, { warn: () => {} });
}

it("a URL first used bare is, once a config entry names it, that entry: its name, its settings, the same row", async () => {
  const dir = tempDir();
  const catalog = await openCatalog(join(dir, "catalog.db"));
  const url = "s3://bucket/prefix";
  const bareRun = locationsIn(dir, catalog);
  const bare = await bareRun.location(url);
  expect(bare.name).toBe(url);
  await bareRun.closeBackends();

  const endpoint = "http://127.0.0.1:9";
  const configuredRun = locationsIn(
    dir,
    catalog,
    `locations:\n  remote:\n    url: ${url}\n    s3: { endpoint: "${endpoint}", forcePathStyle: true }\n`,
  );
  for (const arg of [url, "remote"]) {
    const resolved = await configuredRun.location(arg);
    expect(resolved).toMatchObject({ name: "remote", row: { id: bare.row.id }, settings: { s3: { endpoint } } });
  }
  expect((await allLocations(catalog)).map((l) => l.name)).toEqual(["remote"]);
  await configuredRun.closeBackends();
  await catalog.close();
});
