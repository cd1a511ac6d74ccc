import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { openCatalog } from "../../src/catalog/db.js";
import { allLocations } from "../../src/catalog/locations.js";
import { type CatalogKind, freshCatalogUrl } from "./catalogs.js";
import { strata } from "./cli.js";

/**
 * The seed scenario (examples/seed/strata.yaml) as a test workspace: a scratch tree that a
 * nightly `scratch-to-s3` policy keeps in an archive, each file in the class the seed's rule
 * gives it. Kept from the seed: the policy, its excludes, `tiering: seed`, the 02:00 schedule,
 * scratch's $10/TB-month and the archive's STANDARD class at AWS us-east-1 prices.
 * Changed for a test: scratch is a temp directory, the archive is the embedded `local:` store
 * in the same directory (priced as AWS, the seed's S3 bucket, with `price: { profile: aws }`),
 * the catalog is a fresh SQLite file or PostgreSQL database, and the walk uses 2 threads (the
 * test machine has 2 cores; the seed asks 8 of a Lustre client).
 *
 * How it is built, all through the real CLI but the history:
 *  1. the files of BEFORE_LAST_RUN are written (sizes and atimes as listed; mtime a day before
 *     the atime), `strata scan scratch` and `strata apply` run: the last nightly run, so the
 *     catalog holds a finished run with copy events (the measured scratch → archive rate);
 *  2. the files of SINCE_LAST_RUN arrive (copied in with their original times, as rsync -a or a
 *     tape restore would) and `strata scan scratch` runs again: they are the current plan.
 *     The three files of 1e9 bytes and more keep the seed's threshold as it is: they are sparse
 *     (truncate), so they take no disk, and they are never applied (never copied in a test):
 *     DO NOT run `strata apply` on this workspace, it would copy 4.5 GB of zeros;
 *  3. TEST SETUP, NOT MEASURED: three earlier scans of scratch are inserted through the catalog
 *     API, 90, 60 and 30 days before now with a quarter, half and three quarters of the first
 *     real scan's files and bytes, so that scan history (growth per day) exists. No real scan
 *     can be backdated; everything else in the catalog was written by the CLI.
 */

export interface SeedFile {
  /** Relative to the scratch tree. */
  path: string;
  size: number;
  /** Days since the last read (atime); the mtime is one day earlier still. */
  idleDays: number;
  /** Excluded by the seed policy (`**\/*.tmp`, `**\/.nfs*`): never leaves scratch. */
  excluded?: boolean;
}

const GB = 1e9;

/** On scratch at the last nightly run, and copied by it. */
export const BEFORE_LAST_RUN: readonly SeedFile[] = [
  { path: "projectX/raw/run-001.h5", size: 3_000_000, idleDays: 400 },
  { path: "projectX/raw/run-002.h5", size: 2_000_000, idleDays: 200 },
  { path: "projectX/results/summary.csv", size: 40_000, idleDays: 45 },
  { path: "projectX/results/plot.png", size: 200_000, idleDays: 2 },
  { path: "projectX/logs/job-1.log", size: 5_000, idleDays: 10 },
  { path: "projectX/tmp/scratch.tmp", size: 100_000, idleDays: 1, excluded: true },
];

/** Arrived since the last run: what the current plan copies. */
export const SINCE_LAST_RUN: readonly SeedFile[] = [
  { path: "projectX/raw/run-003.h5", size: 1.5 * GB, idleDays: 2 },
  { path: "projectX/raw/run-004.h5", size: 2 * GB, idleDays: 400 },
  // Exactly the threshold: the seed's rule is strict (> 1e9), so this one is not archived.
  { path: "projectX/raw/edge-1e9.h5", size: GB, idleDays: 40 },
  { path: "projectX/results/table-2.csv", size: 1_200_000, idleDays: 200 },
  { path: "projectX/results/notes.txt", size: 3_000, idleDays: 0 },
  { path: "projectX/analysis/model.bin", size: 5_000_000, idleDays: 35 },
  { path: "projectX/analysis/old-model.bin", size: 800_000, idleDays: 500 },
  { path: "projectX/work/part.tmp", size: 50_000, idleDays: 3, excluded: true },
  { path: "projectX/.nfs0000000001", size: 20_000, idleDays: 5, excluded: true },
];

/** The backdated scans: days before now, and the share of the first real scan they saw. */
export const HISTORY: readonly { daysAgo: number; share: number }[] = [
  { daysAgo: 90, share: 0.25 },
  { daysAgo: 60, share: 0.5 },
  { daysAgo: 30, share: 0.75 },
];

export interface SeedWorkspace {
  /** Where strata.yaml is: run the CLI here. */
  cwd: string;
  configPath: string;
  catalogUrl: string;
  /** The scratch tree and the embedded store's directory. */
  scratch: string;
  archive: string;
  /** Epoch ms the files' ages were set from. */
  craftedAt: number;
}

const DAY_S = 86_400;
/** Files below this are written with random content; larger ones are sparse. */
const SPARSE_FROM = 1024 * 1024 * 64;

export function seedConfigYaml(catalogUrl: string): string {
  return [
    `catalog: ${JSON.stringify(catalogUrl)}`,
    "locations:",
    "  scratch:",
    "    url: ./scratch",
    "    price:",
    "      perTBMonth: 10",
    "  archive:",
    "    url: local:archive",
    "    class: STANDARD",
    "    price:",
    "      profile: aws",
    "defaults:",
    "  transfers: 4",
    "  scanThreads: 2",
    "policies:",
    "  - name: scratch-to-s3",
    "    from: scratch",
    "    match:",
    '      exclude: ["**/*.tmp", "**/.nfs*"]',
    "    place:",
    "      - to: archive",
    "        tiering: seed",
    "    then: keep",
    '    schedule: "0 2 * * *"',
    "",
  ].join("\n");
}

/** Builds the workspace in `dir` (an empty temp directory) on a fresh catalog of `kind`. */
export async function makeSeedWorkspace(dir: string, kind: CatalogKind): Promise<SeedWorkspace> {
  const catalogUrl = await freshCatalogUrl(kind, dir);
  const configPath = join(dir, "strata.yaml");
  writeFileSync(configPath, seedConfigYaml(catalogUrl));
  const scratch = join(dir, "scratch");
  const craftedAt = Date.now();
  writeFiles(scratch, BEFORE_LAST_RUN, craftedAt);
  await cli(dir, ["scan", "scratch"]);
  await cli(dir, ["apply"]);
  writeFiles(scratch, SINCE_LAST_RUN, craftedAt);
  await cli(dir, ["scan", "scratch"]);
  await backdateHistory(catalogUrl, craftedAt);
  return { cwd: dir, configPath, catalogUrl, scratch, archive: join(dir, "archive"), craftedAt };
}

function writeFiles(root: string, files: readonly SeedFile[], craftedAt: number): void {
  for (const file of files) {
    const full = join(root, file.path);
    mkdirSync(dirname(full), { recursive: true });
    if (file.size < SPARSE_FROM) writeFileSync(full, randomBytes(file.size));
    else {
      closeSync(openSync(full, "w"));
      truncateSync(full, file.size);
    }
    const atime = craftedAt / 1000 - file.idleDays * DAY_S;
    utimesSync(full, atime, atime - DAY_S);
  }
}

async function cli(cwd: string, args: string[]): Promise<void> {
  const result = await strata(args, { cwd });
  if (result.code !== 0) {
    throw new Error(`strata ${args.join(" ")} exited ${result.code}: ${result.stderr}${result.stdout}`);
  }
}

/** The earlier scans of scratch: test setup (see the header), inserted through the catalog API. */
async function backdateHistory(catalogUrl: string, craftedAt: number): Promise<void> {
  const catalog = await openCatalog(catalogUrl);
  try {
    const scratch = (await allLocations(catalog)).find((location) => location.name === "scratch");
    if (!scratch) throw new Error("the seed workspace's scans registered no scratch location");
    const first = await catalog.db
      .selectFrom("scans")
      .select(["files", "bytes"])
      .where("location_id", "=", scratch.id)
      .where("status", "=", "done")
      .orderBy("finished_at")
      .executeTakeFirstOrThrow();
    for (const { daysAgo, share } of HISTORY) {
      const at = craftedAt - daysAgo * DAY_S * 1000;
      await catalog.db
        .insertInto("scans")
        .values({
          location_id: scratch.id,
          started_at: at - 60_000,
          finished_at: at,
          status: "done",
          files: Math.round(first.files * share),
          bytes: Math.round(Number(first.bytes) * share),
          new_files: 0,
          changed_files: 0,
          deleted_files: 0,
          errors: 0,
        })
        .execute();
    }
  } finally {
    await catalog.close();
  }
}
