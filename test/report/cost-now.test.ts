import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { CatalogDb } from "../../src/catalog/db.js";
import { configSchema } from "../../src/policy/config-schema.js";
import { costNow } from "../../src/report/cost-now.js";
import type { CostLine, CostNow } from "../../src/report/model.js";
import { expectUsd, GIB, KIB } from "../cost/usd.js";
import { CATALOG_KINDS, freshCatalog } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";
import { addFile, addLocation, addReplica, addScan, DAY_MS } from "./cost-rows.js";

/*
 * Published prices, copied here so the expected dollars are computed by hand, not by the code
 * under test. Amazon S3, US East (N. Virginia), first 50 TB, read 2026-11-24 from
 * https://aws.amazon.com/s3/pricing/ (docs/cost-model.md): per GB-month (GB = 2^30 bytes).
 */
const S3_STANDARD = 0.023;
const S3_STANDARD_IA = 0.0125; // billed at least 128 KiB per object, at least 30 days
const S3_GLACIER = 0.0036; // + 32 KiB per object at GLACIER, + 8 KiB at STANDARD; 90 days
const S3_INTELLIGENT_TIERING = 0.023; // Frequent Access tier
const S3_IT_MONITORING_PER_OBJECT = 0.0025 / 1000; // objects of 128 KiB and more
/** The scratch tree's configured on-premises price: $20 per TB-month, TB = 1024 GB. */
const SCRATCH_PER_GB = 20 / 1024;

const NOW = Date.UTC(2026, 11, 1);
const MIB = 1024 * KIB;

/** The 3 files of scratch as each place bills them. */
const A = 10 * KIB; // in STANDARD_IA: billed 128 KiB
const B = GIB; // released at scratch (a 512-byte stub); in GLACIER
const B_STUB = 512;
const C = 200 * KIB; // in INTELLIGENT_TIERING: monitored
const OTHER = MIB; // an object some other tool wrote to the archive bucket: STANDARD

const expected = {
  scratch: {
    objects: 3,
    stored: A + B_STUB + C,
    logical: A + B + C,
    monthly: ((A + B_STUB + C) / GIB) * SCRATCH_PER_GB,
  },
  ia: { monthly: ((128 * KIB) / GIB) * S3_STANDARD_IA, storage: (A / GIB) * S3_STANDARD_IA },
  glacier: {
    monthly: ((B + 32 * KIB) / GIB) * S3_GLACIER + ((8 * KIB) / GIB) * S3_STANDARD,
    storage: (B / GIB) * S3_GLACIER,
  },
  it: { monthly: (C / GIB) * S3_INTELLIGENT_TIERING + S3_IT_MONITORING_PER_OBJECT },
  standard: { monthly: (OTHER / GIB) * S3_STANDARD },
  // a's replica is 10 days old: 20 of STANDARD_IA's 30 days are still owed, on its billed 128 KiB.
  exposure: (20 / 30) * ((128 * KIB) / GIB) * S3_STANDARD_IA,
};

function config(tree: string) {
  return configSchema.parse({
    locations: {
      scratch: { url: tree, price: { perTBMonth: 20 } },
      archive: { url: "s3://lab-archive/strata" },
      cold: { url: "s3://lab-cold" },
    },
  });
}

/**
 * scratch (a POSIX tree): a.dat, b.dat (released), c.dat (owners 1000, 1000, 2000; projects
 * climate, climate, ocean), a purged file and a deleted one (neither billed there). archive
 * (an S3 bucket, also scanned): replicas of a, b, c in STANDARD_IA, GLACIER and
 * INTELLIGENT_TIERING, a lost one of the purged file; its scan saw a.dat (the replica's own
 * object) and other.bin (not Strata's).
 */
async function seed(catalog: CatalogDb, tree: string): Promise<void> {
  const scratch = await addLocation(catalog, "scratch", `file://${tree}`, "posix");
  const archive = await addLocation(catalog, "archive", "s3://lab-archive/strata", "s3");
  const scratchScan = await addScan(catalog, scratch, NOW - DAY_MS);
  const archiveScan = await addScan(catalog, archive, NOW - DAY_MS);
  const climate = { project: "climate" };
  const a = await addFile(catalog, scratch, scratchScan, { path: "a.dat", size: A, uid: 1000, tags: climate });
  const b = await addFile(catalog, scratch, scratchScan, {
    path: "b.dat",
    size: B,
    state: "released",
    stubSize: B_STUB,
    uid: 1000,
    tags: climate,
  });
  const c = await addFile(catalog, scratch, scratchScan, {
    path: "c.dat",
    size: C,
    uid: 2000,
    tags: { project: "ocean" },
  });
  const purged = await addFile(catalog, scratch, scratchScan, { path: "d.dat", size: 5 * MIB, state: "released" });
  await addFile(catalog, scratch, scratchScan, { path: "gone.dat", size: MIB, state: "deleted" });
  await addReplica(catalog, a, archive, {
    key: "a.dat",
    size: A,
    storageClass: "STANDARD_IA",
    createdAt: NOW - 10 * DAY_MS,
  });
  await addReplica(catalog, b, archive, {
    key: "b.dat",
    size: B,
    storageClass: "GLACIER",
    state: "archived",
    createdAt: NOW - 100 * DAY_MS,
  });
  await addReplica(catalog, c, archive, {
    key: "c.dat",
    size: C,
    storageClass: "INTELLIGENT_TIERING",
    createdAt: NOW - DAY_MS,
  });
  await addReplica(catalog, purged, archive, {
    key: "d.dat",
    size: 5 * MIB,
    storageClass: "STANDARD",
    state: "lost",
    createdAt: NOW - DAY_MS,
  });
  await addFile(catalog, archive, archiveScan, { path: "a.dat", size: A, ctimeMs: NOW - 10 * DAY_MS });
  await addFile(catalog, archive, archiveScan, { path: "other.bin", size: OTHER, ctimeMs: NOW - 400 * DAY_MS });
}

function line(figures: CostNow, group: Record<string, string>): CostLine {
  const found = figures.lines.find((l) => JSON.stringify(l.group) === JSON.stringify(group));
  if (!found)
    throw new Error(`no line ${JSON.stringify(group)} in ${JSON.stringify(figures.lines.map((l) => l.group))}`);
  return found;
}

describe.each(CATALOG_KINDS)("costNow (%s catalog)", (kind) => {
  let catalog: CatalogDb | undefined;
  afterEach(async () => {
    await catalog?.close();
    catalog = undefined;
  });

  async function figures(by: CostNow["by"]) {
    const dir = tempDir();
    catalog = await freshCatalog(kind, dir);
    const tree = join(dir, "tree");
    await seed(catalog, tree);
    return costNow(catalog, config(tree), { by, now: NOW });
  }

  it("bills each object once, in its class, with minimum sizes, index overhead and monitoring", async () => {
    const cost = await figures(["location", "class"]);
    expect(cost.lines.map((l) => l.group)).toEqual([
      { location: "archive", class: "GLACIER" },
      { location: "archive", class: "INTELLIGENT_TIERING" },
      { location: "archive", class: "STANDARD" },
      { location: "archive", class: "STANDARD_IA" },
      { location: "scratch", class: "POSIX" },
    ]);
    const scratch = line(cost, { location: "scratch", class: "POSIX" });
    expect([scratch.objects, scratch.storedBytes, scratch.logicalBytes, scratch.billableBytes]).toEqual([
      expected.scratch.objects,
      expected.scratch.stored,
      expected.scratch.logical,
      expected.scratch.stored,
    ]);
    expectUsd(scratch.monthly, expected.scratch.monthly);

    const ia = line(cost, { location: "archive", class: "STANDARD_IA" });
    expect([ia.objects, ia.storedBytes, ia.billableBytes]).toEqual([1, A, 128 * KIB]);
    expectUsd(ia.storage, expected.ia.storage);
    expectUsd(ia.overheads, expected.ia.monthly - expected.ia.storage);
    expectUsd(ia.monthly, expected.ia.monthly);
    expectUsd(ia.minimumDurationExposure, expected.exposure);

    const glacier = line(cost, { location: "archive", class: "GLACIER" });
    expect(glacier.billableBytes).toBe(B + 40 * KIB);
    expectUsd(glacier.storage, expected.glacier.storage);
    expectUsd(glacier.monthly, expected.glacier.monthly);
    expect(glacier.minimumDurationExposure).toBe(0);

    expectUsd(line(cost, { location: "archive", class: "INTELLIGENT_TIERING" }).monthly, expected.it.monthly);
    // The scanned a.dat is the STANDARD_IA replica's own object: only other.bin is billed as scanned.
    const standard = line(cost, { location: "archive", class: "STANDARD" });
    expect([standard.objects, standard.storedBytes]).toEqual([1, OTHER]);
    expectUsd(standard.monthly, expected.standard.monthly);

    const total =
      expected.scratch.monthly +
      expected.ia.monthly +
      expected.glacier.monthly +
      expected.it.monthly +
      expected.standard.monthly;
    expectUsd(cost.total.monthly, total);
    expect(Math.round(cost.total.monthly * 100)).toBe(Math.round(total * 100));
    expect(cost.total.objects).toBe(7);
    expectUsd(cost.total.minimumDurationExposure, expected.exposure);
  });

  it("groups by owner and by project tag", async () => {
    const byOwner = await figures(["owner"]);
    expect(byOwner.lines.map((l) => [l.group.owner, l.objects])).toEqual([
      ["0", 1],
      ["1000", 4],
      ["2000", 2],
    ]);
    const owner1000 = line(byOwner, { owner: "1000" });
    expectUsd(
      owner1000.monthly,
      ((A + B_STUB) / GIB) * SCRATCH_PER_GB + expected.ia.monthly + expected.glacier.monthly,
    );
    expectUsd(line(byOwner, { owner: "2000" }).monthly, (C / GIB) * SCRATCH_PER_GB + expected.it.monthly);
    await catalog?.close();

    const byProject = await figures(["project", "location"]);
    expect(byProject.lines.map((l) => [l.group.project, l.group.location, l.objects])).toEqual([
      ["", "archive", 1],
      ["climate", "archive", 2],
      ["climate", "scratch", 2],
      ["ocean", "archive", 1],
      ["ocean", "scratch", 1],
    ]);
    expectUsd(
      line(byProject, { project: "climate", location: "archive" }).monthly,
      expected.ia.monthly + expected.glacier.monthly,
    );
    expectUsd(line(byProject, { project: "ocean", location: "scratch" }).monthly, (C / GIB) * SCRATCH_PER_GB);
  });

  it("names its price sources and what it cannot know", async () => {
    const cost = await figures(["location"]);
    expect(cost.prices).toEqual([
      { profile: "aws", region: "us-east-1", source: "https://aws.amazon.com/s3/pricing/", asOf: "2026-11-24" },
      expect.objectContaining({ profile: "onprem", source: expect.stringContaining("$20 per TB-month") }),
    ]);
    expect(cost.unknown).toEqual([expect.stringMatching(/^cold: never scanned and no copies made there/)]);
    expect(cost.at).toBe(new Date(NOW).toISOString());
  });
});
