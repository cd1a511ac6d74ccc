import { randomBytes } from "node:crypto";
import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import type { PolicyAction } from "../../src/policy/actions.js";
import { parseStrataConfig } from "../../src/policy/config.js";
import type { PairRate } from "../../src/report/model.js";
import { transferRates } from "../../src/report/rates.js";
import { migrationWaves } from "../../src/report/waves.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { strata } from "../support/cli.js";
import { makeSeedWorkspace, type SeedFile, SINCE_LAST_RUN } from "../support/seed-scenario.js";
import { tempDir } from "../support/tmp.js";

const DAY_MS = 86_400_000;

/** The bands as the implementation plan states them, written out again here. */
function ageBand(idleDays: number): string {
  if (idleDays > 365) return "not read for over a year";
  if (idleDays > 180) return "not read for 180 days to a year";
  if (idleDays > 30) return "not read for 30 to 180 days";
  return "read within 30 days";
}
function sizeBand(size: number): string {
  if (size > 1e9) return "files over 1 GB";
  if (size > 1e6) return "files of 1 MB to 1 GB";
  return "files of 1 MB or less";
}
const ORDER = [
  "not read for over a year",
  "not read for 180 days to a year",
  "not read for 30 to 180 days",
  "read within 30 days",
].flatMap((age) =>
  ["files over 1 GB", "files of 1 MB to 1 GB", "files of 1 MB or less"].map((size) => `${age}, ${size}`),
);

/** Brute force over the tree: each wave's files and bytes, in the plan's order. */
function expectedWaves(files: readonly SeedFile[]): { name: string; files: number; bytes: number }[] {
  const byName = new Map<string, { name: string; files: number; bytes: number }>();
  for (const file of files) {
    const name = `${ageBand(file.idleDays)}, ${sizeBand(file.size)}`;
    const wave = byName.get(name) ?? { name, files: 0, bytes: 0 };
    wave.files += 1;
    wave.bytes += file.size;
    byName.set(name, wave);
  }
  return ORDER.flatMap((name) => byName.get(name) ?? []);
}

async function planned(cwd: string): Promise<PolicyAction[]> {
  const result = await strata(["--json", "plan"], { cwd });
  expect(result.stderr).toBe("");
  return JSON.parse(result.stdout).actions as PolicyAction[];
}

function pairRate(from: string, to: string, bytesPerSecond: number): PairRate {
  return { from, to, runs: 1, files: 1, bytes: bytesPerSecond, seconds: 1, bytesPerSecond, filesPerSecond: 1 };
}

describe.each(CATALOG_KINDS)("migrationWaves on %s", (kind) => {
  it("groups the seed's pending plan by age then size, with its costs and time at the rate given", async () => {
    const workspace = await makeSeedWorkspace(tempDir(), kind);
    const config = parseStrataConfig(workspace.configPath);
    const pending = SINCE_LAST_RUN.filter((file) => !file.excluded);
    const actions = await planned(workspace.cwd);
    const catalog = await openCatalog(workspace.catalogUrl);
    try {
      const now = Date.now();
      const rate = 25_000_000;
      const waves = await migrationWaves(catalog, config, { now, rates: [pairRate("scratch", "archive", rate)] });
      expect(waves.map(({ name, files, bytes }) => ({ name, files, bytes }))).toEqual(expectedWaves(pending));
      // Every pending file is a copy from scratch to archive: its time is its bytes at the rate.
      for (const wave of waves) expect(wave.seconds).toBeCloseTo(wave.bytes / rate, 6);
      // The costs are the plan's (strata plan --json, another process), all of them, to the cent.
      const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
      expect(sum(waves.map((w) => w.oneTime))).toBeCloseTo(sum(actions.map((a) => a.oneTimeCost)), 2);
      expect(sum(waves.map((w) => w.monthlyDelta))).toBeCloseTo(sum(actions.map((a) => a.monthlyCostDelta)), 2);
      // Two waves priced by hand from AWS's S3 price page (us-east-1, per GiB-month), scratch's
      // reads and egress being free on premises. run-004.h5 (2e9 bytes, idle 400 days) goes to
      // GLACIER: $0.0036 on the bytes and its 32 KiB index, 8 KiB at STANDARD's $0.023; a PUT
      // at $0.03 per 1000.
      const GIB = 1024 ** 3;
      const bigOld = waves.find((w) => w.name === "not read for over a year, files over 1 GB");
      expect(bigOld?.monthlyDelta).toBeCloseTo(((2e9 + 32 * 1024) / GIB) * 0.0036 + ((8 * 1024) / GIB) * 0.023, 8);
      expect(bigOld?.oneTime).toBeCloseTo(0.03 / 1000, 8);
      // edge-1e9.h5 (1e9, 40 days) and model.bin (5e6, 35 days) go to STANDARD_IA at $0.0125,
      // PUTs at $0.01 per 1000.
      const midIdle = waves.find((w) => w.name === "not read for 30 to 180 days, files of 1 MB to 1 GB");
      expect(midIdle?.monthlyDelta).toBeCloseTo(((1e9 + 5e6) / GIB) * 0.0125, 8);
      expect(midIdle?.oneTime).toBeCloseTo((2 * 0.01) / 1000, 8);

      // Never measured: no time, and the wave says why.
      const unmeasured = await migrationWaves(catalog, config, { now, rates: [] });
      for (const wave of unmeasured) {
        expect(wave.seconds).toBeUndefined();
        expect(wave.basis).toBe("no run has copied from scratch to archive yet: no measured rate");
      }
      // The workspace's own last run measured scratch → archive.
      const measured = await transferRates(catalog);
      const own = measured.find((r) => r.from === "scratch" && r.to === "archive");
      expect(own?.bytesPerSecond).toBeGreaterThan(0);
      const timed = await migrationWaves(catalog, config, { now, rates: measured });
      for (const wave of timed) expect(wave.seconds).toBeCloseTo(wave.bytes / (own?.bytesPerSecond ?? 0), 6);
    } finally {
      await catalog.close();
    }
  }, 120_000);

  it("counts a file once however many places it goes to, and times each pair at its own rate", async () => {
    const dir = tempDir();
    const catalogUrl = await freshCatalogUrl(kind, dir);
    writeFileSync(
      join(dir, "strata.yaml"),
      [
        `catalog: ${JSON.stringify(catalogUrl)}`,
        "locations:",
        "  lab: { url: ./lab }",
        "  near: { url: 'local:near', class: STANDARD }",
        "  mirror: { url: ./mirror }",
        "policies:",
        "  - name: two-copies",
        "    from: lab",
        "    match: { exclude: '**/*.log' }",
        "    place: [{ to: near }, { to: mirror }]",
        "    then: release",
        "",
      ].join("\n"),
    );
    const now = Date.now();
    const tree: SeedFile[] = [
      { path: "a/old.dat", size: 3000, idleDays: 400 },
      { path: "a/older.dat", size: 5000, idleDays: 900 },
      { path: "b/mid.dat", size: 2_000_000, idleDays: 90 },
      { path: "b/new.dat", size: 7000, idleDays: 1 },
      { path: "b/run.log", size: 9000, idleDays: 400 },
    ];
    for (const file of tree) {
      const full = join(dir, "lab", file.path);
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, randomBytes(file.size));
      const atime = (now - file.idleDays * DAY_MS) / 1000;
      utimesSync(full, atime, atime - 86_400);
    }
    expect((await strata(["scan", "lab"], { cwd: dir })).code).toBe(0);
    const catalog = await openCatalog(catalogUrl);
    try {
      const config = parseStrataConfig(join(dir, "strata.yaml"));
      const rates = [pairRate("lab", "near", 1000), pairRate("lab", "mirror", 4000)];
      const waves = await migrationWaves(catalog, config, { now, rates });
      const selected = tree.filter((file) => !file.path.endsWith(".log"));
      expect(waves.map(({ name, files, bytes }) => ({ name, files, bytes }))).toEqual(expectedWaves(selected));
      for (const wave of waves) expect(wave.seconds).toBeCloseTo(wave.bytes / 1000 + wave.bytes / 4000, 6);

      const halfMeasured = await migrationWaves(catalog, config, { now, rates: [pairRate("lab", "near", 1000)] });
      expect(halfMeasured.map((wave) => wave.seconds)).toEqual(expectedWaves(selected).map(() => undefined));
      expect(halfMeasured[0]?.basis).toBe("no run has copied from lab to mirror yet: no measured rate");
    } finally {
      await catalog.close();
    }
  });
});
