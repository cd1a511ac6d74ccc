import { join } from "node:path";
import { parseLocationUrl } from "../../src/backends/all.js";
import type { CatalogDb } from "../../src/catalog/db.js";
import { type FileStat, FileUpserter, startScan } from "../../src/catalog/files.js";
import { ensureLocation } from "../../src/catalog/locations.js";
import type { PolicyAction } from "../../src/policy/actions.js";
import { type Config, configSchema } from "../../src/policy/config-schema.js";
import { type CatalogKind, freshCatalog } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";

export const DAY_MS = 86_400_000;

/** A config with a POSIX scratch, two embedded stores and an S3 bucket, and the given policies (validated). */
export function configWith(root: string, policies: unknown[]): Config {
  return configSchema.parse({
    locations: {
      scratch: { url: join(root, "scratch") },
      archive: { url: `local:${join(root, "archive")}` },
      offsite: { url: `local:${join(root, "offsite")}` },
      // Priced as AWS; the planner never opens it.
      cloud: { url: "s3://lab-archive/x" },
    },
    policies,
  });
}

/** A temp dir, a fresh catalog with the config's locations registered, and the config. */
export async function world(policies: unknown[], kind: CatalogKind = "sqlite") {
  const root = tempDir();
  const config = configWith(root, policies);
  const catalog = await freshCatalog(kind, root);
  return { root, config, catalog, ids: await registerLocations(catalog, config) };
}

/** Registers every location of the config in the catalog; returns name → id. */
export async function registerLocations(catalog: CatalogDb, config: Config): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (const [name, settings] of Object.entries(config.locations)) {
    const parsed = parseLocationUrl(settings.url);
    ids.set(name, (await ensureLocation(catalog, { name, url: parsed.url, kind: parsed.kind })).id);
  }
  return ids;
}

/** A regular file `ageDays` idle (atime), modified a day before that. */
export function file(path: string, nowMs: number, over: Partial<FileStat> & { idleDays?: number } = {}): FileStat {
  const { idleDays = 0, ...rest } = over;
  const atimeUs = Math.round((nowMs - idleDays * DAY_MS) * 1000);
  return {
    path,
    kind: "file",
    size: 100,
    mtimeUs: atimeUs - DAY_MS * 1000,
    atimeUs,
    ctimeUs: atimeUs,
    mode: 0o100644,
    uid: 1000,
    gid: 1000,
    inode: 1,
    ...rest,
  };
}

/** Writes entries as a scan does, with the scanner's own writer. */
export async function scanRows(catalog: CatalogDb, locationId: number, entries: FileStat[]): Promise<void> {
  const upserter = new FileUpserter(catalog, locationId, await startScan(catalog, locationId));
  await upserter.write(entries);
}

export async function collectActions(actions: AsyncIterable<PolicyAction>): Promise<PolicyAction[]> {
  const all: PolicyAction[] = [];
  for await (const action of actions) all.push(action);
  return all;
}
