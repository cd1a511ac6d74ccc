import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { CatalogDb } from "../../src/catalog/db.js";
import { FileUpserter, startScan } from "../../src/catalog/files.js";
import { recordEvents } from "../../src/catalog/journal.js";
import { ensureLocation } from "../../src/catalog/locations.js";
import { recordReplicas } from "../../src/catalog/replicas.js";
import { UsageError } from "../../src/config/errors.js";
import { type Config, configSchema } from "../../src/policy/config-schema.js";
import { estimateMigration } from "../../src/report/migrate.js";
import { CATALOG_KINDS, freshCatalog } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";

const DAY_MS = 86_400_000;
const NOW = Date.parse("2026-12-01T00:00:00Z");
const GIB = 1024 ** 3;
const cents = (usd: number) => Math.round(usd * 100);

interface World {
  catalog: CatalogDb;
  config: Config;
  ids: Map<string, number>;
}

describe.each(CATALOG_KINDS)("strata cost migrate on %s", (kind) => {
  let catalog: CatalogDb | undefined;
  afterEach(async () => {
    await catalog?.close();
    catalog = undefined;
  });

  /**
   * scratch (POSIX, on premises at the default $10/TB-month) holds three files, one more
   * released; cloud (S3, priced as AWS us-east-1) holds their copies in GLACIER (30 days old),
   * STANDARD_IA (10 days old) and the default class (a day old), and a lost one.
   */
  async function world(): Promise<World> {
    const root = tempDir();
    const config = configSchema.parse({
      locations: {
        scratch: { url: join(root, "scratch") },
        cloud: { url: "s3://lab-archive/x" },
        cloud2: { url: "s3://other-archive/y" },
      },
    });
    catalog = await freshCatalog(kind, root);
    const ids = new Map<string, number>();
    ids.set(
      "scratch",
      (await ensureLocation(catalog, { name: "scratch", url: join(root, "scratch"), kind: "posix" })).id,
    );
    ids.set("cloud", (await ensureLocation(catalog, { name: "cloud", url: "s3://lab-archive/x", kind: "s3" })).id);
    ids.set("cloud2", (await ensureLocation(catalog, { name: "cloud2", url: "s3://other-archive/y", kind: "s3" })).id);
    const scratch = ids.get("scratch") as number;
    const upserter = new FileUpserter(catalog, scratch, await startScan(catalog, scratch));
    const sizes = { "a.nc": 100 * GIB, "b.nc": 50 * GIB, "c.nc": 10 * GIB, "d.nc": 5 * GIB };
    await upserter.write(
      Object.entries(sizes).map(([path, size]) => ({
        path,
        kind: "file" as const,
        size,
        mtimeUs: (NOW - 400 * DAY_MS) * 1000,
        atimeUs: (NOW - 100 * DAY_MS) * 1000,
        ctimeUs: (NOW - 400 * DAY_MS) * 1000,
        mode: 0o100644,
        uid: 1000,
        gid: 1000,
        inode: 1,
      })),
    );
    await catalog.db.updateTable("files").set({ state: "released" }).where("path", "=", "d.nc").execute();
    const files = await catalog.db.selectFrom("files").select(["id", "path", "size"]).execute();
    const fileId = (path: string) => files.find((f) => f.path === path)?.id as number;
    const replica = (path: string, storageClass: string | null, state: "present" | "archived" | "lost") => ({
      fileId: fileId(path),
      locationId: ids.get("cloud") as number,
      key: `x/${path}`,
      size: sizes[path as keyof typeof sizes],
      hash: "h",
      storageClass,
      state,
      sourceSize: sizes[path as keyof typeof sizes],
      sourceMtimeUs: 0,
      etag: null,
      verifiedAt: null,
    });
    await recordReplicas(catalog, [
      replica("a.nc", "GLACIER", "archived"),
      replica("b.nc", "STANDARD_IA", "present"),
      replica("c.nc", null, "present"),
      replica("d.nc", "STANDARD", "lost"),
    ]);
    const ages: Record<string, number> = { "a.nc": 30, "b.nc": 10, "c.nc": 1, "d.nc": 1 };
    for (const [path, days] of Object.entries(ages)) {
      await catalog.db
        .updateTable("replicas")
        .set({ created_at: NOW - days * DAY_MS })
        .where("file_id", "=", fileId(path))
        .execute();
    }
    return { catalog, config, ids };
  }

  /** A finished run of `seconds` that copied `bytes` from one location to another. */
  async function measuredRun(w: World, from: string, to: string, bytes: number, seconds: number): Promise<void> {
    const started = NOW - 7 * DAY_MS;
    const run = await w.catalog.db
      .insertInto("runs")
      .values({
        command: "sync",
        host: "h",
        pid: 1,
        started_at: started,
        finished_at: started + seconds * 1000,
        status: "done",
        summary: null,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    await recordEvents(w.catalog, [
      {
        at: started + 1000,
        kind: "copy",
        location_id: w.ids.get(from) as number,
        target_location_id: w.ids.get(to) as number,
        file_id: null,
        run_id: run.id,
        bytes,
        policy: null,
        host: "h",
        user: "u",
        outcome: "done",
        detail: null,
      },
    ]);
  }

  it("prices moving an S3 location back on premises by hand, and times it at the measured rate", async () => {
    const w = await world();
    await measuredRun(w, "cloud", "scratch", 2e9, 200); // 10 MB/s
    const estimate = await estimateMigration(w.catalog, w.config, { from: "cloud", to: "scratch", now: NOW });
    expect(estimate.objects).toBe(3);
    expect(estimate.bytes).toBe(160 * GIB);
    expect(estimate.toClass).toBe("POSIX");
    // Egress leaving AWS: 160 GB × $0.09.
    expect(cents(estimate.egress)).toBe(1440);
    // GETs: GLACIER and STANDARD $0.0004/1000, STANDARD_IA $0.001/1000; PUT on premises $0.
    const requests = (0.0004 + 0.001 + 0.0004) / 1000;
    expect(estimate.requests).toBeCloseTo(requests, 12);
    // STANDARD_IA retrieval $0.01/GB × 50; GLACIER bulk restore $0, and its thawed copy kept a
    // day at STANDARD's $0.023/GB-month: 100 × 0.023 / 30.
    const retrieval = 50 * 0.01 + (100 * 0.023) / 30;
    expect(cents(estimate.retrieval)).toBe(cents(retrieval)); // $0.58
    // Early deletion: GLACIER 60 of its 90 days left on 100 GB + the 32 KiB index at $0.0036;
    // STANDARD_IA 20 of 30 days on 50 GB at $0.0125; STANDARD none.
    const early = (60 / 30) * (100 + 32 / 1048576) * 0.0036 + (20 / 30) * 50 * 0.0125;
    expect(cents(estimate.earlyDeletion)).toBe(cents(early)); // $1.14
    expect(estimate.earlyDeletion).toBeCloseTo(early, 9);
    expect(cents(estimate.oneTime)).toBe(cents(14.4 + requests + retrieval + early)); // $16.11
    expect(cents(estimate.oneTime)).toBe(1611);
    // Before: GLACIER (100 GB + index) × 0.0036 + 8 KiB at 0.023, IA 50 × 0.0125, STANDARD 10 × 0.023.
    const before = (100 + 32 / 1048576) * 0.0036 + (8 / 1048576) * 0.023 + 50 * 0.0125 + 10 * 0.023;
    expect(cents(estimate.monthlyBefore)).toBe(cents(before)); // $1.22
    // After: 160 GB of 1024 a TB at $10 per TB-month.
    expect(cents(estimate.monthlyAfter)).toBe(156);
    // 160 GiB at 2e9 bytes / 200 s.
    expect(estimate.rate?.bytesPerSecond).toBe(1e7);
    expect(estimate.seconds).toBeCloseTo((160 * GIB) / 1e7, 6);
    expect(estimate.basis?.join("\n")).toContain("egress: cloud (aws) to scratch (onprem) leaves the provider");
    expect(estimate.basis?.join("\n")).toContain("time: at the rate measured from cloud to scratch");
    expect(estimate.prices.map((p) => p.profile)).toEqual(["aws", "onprem"]);
    expect(estimate.unknown).toEqual([]);
  });

  it("prices moving a POSIX tree into DEEP_ARCHIVE: present files only, no egress from premises", async () => {
    const w = await world();
    const estimate = await estimateMigration(w.catalog, w.config, {
      from: "scratch",
      to: "cloud",
      toClass: "deep_archive",
      now: NOW,
    });
    expect(estimate.toClass).toBe("DEEP_ARCHIVE");
    expect(estimate.basis).toContain("egress: none, scratch (onprem) bills no transfer out");
    expect(estimate.objects).toBe(3);
    expect(estimate.egress).toBe(0);
    expect(estimate.requests).toBeCloseTo((3 * 0.05) / 1000, 12); // PUT $0.05/1000
    expect(estimate.retrieval + estimate.earlyDeletion).toBe(0);
    expect(estimate.monthlyBefore).toBeCloseTo((160 / 1024) * 10, 9);
    const after = (160 + (3 * 32) / 1048576) * 0.00099 + ((3 * 8) / 1048576) * 0.023;
    expect(cents(estimate.monthlyAfter)).toBe(cents(after)); // $0.16
    expect(estimate.monthlyAfter).toBeCloseTo(after, 9);
  });

  it("times a pair never measured at the closest pair of the same kinds, and says so", async () => {
    const w = await world();
    await measuredRun(w, "cloud2", "scratch", 3e9, 100);
    const estimate = await estimateMigration(w.catalog, w.config, { from: "cloud", to: "scratch", now: NOW });
    expect(estimate.rate?.from).toBe("cloud2");
    expect(estimate.seconds).toBeCloseTo((160 * GIB) / 3e7, 6);
    expect(estimate.basis?.join("\n")).toContain(
      "cloud to scratch was never measured; at the rate of cloud2 to scratch",
    );
  });

  it("leaves the time absent, and says why, when no run ever moved data between such places", async () => {
    const w = await world();
    await measuredRun(w, "scratch", "cloud", 3e9, 100); // the other direction does not count
    const estimate = await estimateMigration(w.catalog, w.config, { from: "cloud", to: "scratch", now: NOW });
    expect(estimate.seconds).toBeUndefined();
    expect(estimate.rate).toBeUndefined();
    expect(estimate.unknown.join(" ")).toContain("time: no finished run has copied from cloud to scratch");
    expect(cents(estimate.oneTime)).toBe(1611);
  });

  it("refuses an unknown location or class, naming it", async () => {
    const w = await world();
    await expect(estimateMigration(w.catalog, w.config, { from: "nowhere", to: "scratch", now: NOW })).rejects.toThrow(
      /unknown location "nowhere"/,
    );
    const badClass = estimateMigration(w.catalog, w.config, {
      from: "scratch",
      to: "cloud",
      toClass: "FROZEN",
      now: NOW,
    });
    await expect(badClass).rejects.toBeInstanceOf(UsageError);
    await expect(
      estimateMigration(w.catalog, w.config, { from: "scratch", to: "cloud", toClass: "FROZEN", now: NOW }),
    ).rejects.toThrow(/"FROZEN"/);
    await expect(estimateMigration(w.catalog, w.config, { from: "cloud", to: "cloud", now: NOW })).rejects.toThrow(
      /"cloud" is both source and destination/,
    );
  });
});
