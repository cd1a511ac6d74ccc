import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { parseStrataConfig } from "../../src/policy/config.js";
import { configSchema } from "../../src/policy/config-schema.js";
import { scanGrowth } from "../../src/report/growth.js";
import type { Growth, PairRate } from "../../src/report/model.js";
import { transferRates } from "../../src/report/rates.js";
import { scheduleNeeds } from "../../src/report/schedules.js";
import { CATALOG_KINDS } from "../support/catalogs.js";
import { makeSeedWorkspace } from "../support/seed-scenario.js";
import { tempDir } from "../support/tmp.js";

/** Mid-June: no daylight-saving change near, whatever the machine's time zone. */
const NOW = Date.parse("2026-06-15T12:00:00Z");

const config = configSchema.parse({
  locations: {
    scratch: { url: "/lustre/scratch" },
    lab: { url: "/data/lab" },
    archive: { url: "s3://lab-archive/x" },
    offsite: { url: "gs://lab-offsite" },
  },
  policies: [
    { name: "nightly", from: "scratch", place: [{ to: "archive" }], schedule: "0 2 * * *" },
    {
      name: "weekly-both",
      from: ["scratch", "lab"],
      place: [{ to: "archive" }, { to: "offsite" }],
      schedule: "30 3 * * 0",
    },
    { name: "by-hand", from: "scratch", place: [{ to: "archive" }] },
    { name: "off", from: "scratch", place: [{ to: "archive" }], schedule: "0 * * * *", enabled: false },
  ],
});

function growth(location: string, bytesPerDay: number | undefined): Growth {
  return {
    location,
    points: [],
    ...(bytesPerDay === undefined ? {} : { bytesPerDay, filesPerDay: 1 }),
    basis: bytesPerDay === undefined ? "1 scan within one day: no growth rate yet" : "4 scans over 90 days",
  };
}

function rate(from: string, to: string, bytesPerSecond: number, runs = 2): PairRate {
  return { from, to, runs, files: 10, bytes: bytesPerSecond * 60, seconds: 60, bytesPerSecond, filesPerSecond: 1 };
}

describe("scheduleNeeds", () => {
  it("takes the window between the next two runs, a day's growth per nightly run, and the time at the measured rate", () => {
    // scratch grows 86.4 MB a day (1000 bytes a second); scratch → archive ran at 10 kB/s.
    const needs = scheduleNeeds(config, {
      growth: [growth("scratch", 86_400_000), growth("lab", 8_640_000)],
      rates: [
        rate("scratch", "archive", 10_000),
        rate("scratch", "offsite", 5_000),
        rate("lab", "archive", 20_000),
        rate("lab", "offsite", 1_000),
      ],
      now: NOW,
    });
    expect(needs.map((need) => need.policy)).toEqual(["nightly", "weekly-both"]);
    const [nightly, weekly] = needs;
    expect(nightly).toMatchObject({
      schedule: "0 2 * * *",
      windowSeconds: 86_400,
      bytesPerRun: 86_400_000,
      secondsNeeded: 8_640,
      headroom: 10,
    });
    expect(nightly?.basis).toBe(
      "window 1 day between the next two runs; scratch grows 82.4 MiB a day (4 scans over 90 days); " +
        "measured scratch → archive at 9.8 KiB/s (2 runs)",
    );
    // A week: 7 days of both sources, copied to both places, each pair at its own rate.
    const week = 7 * 86_400;
    const scratchBytes = 86_400_000 * 7;
    const labBytes = 8_640_000 * 7;
    const seconds = scratchBytes / 10_000 + labBytes / 20_000 + scratchBytes / 5_000 + labBytes / 1_000;
    expect(weekly).toMatchObject({ windowSeconds: week, bytesPerRun: scratchBytes + labBytes });
    expect(weekly?.secondsNeeded).toBeCloseTo(seconds, 6);
    expect(weekly?.headroom).toBeCloseTo(week / seconds, 9);
  });

  it("leaves out what it cannot know, and says why", () => {
    const needs = scheduleNeeds(config, {
      growth: [growth("scratch", undefined)],
      rates: [rate("scratch", "archive", 10_000)],
      now: NOW,
    });
    const [nightly, weekly] = needs;
    expect(nightly).toEqual({
      policy: "nightly",
      schedule: "0 2 * * *",
      windowSeconds: 86_400,
      basis:
        "window 1 day between the next two runs; " +
        "growth of scratch unknown (1 scan within one day: no growth rate yet): bytes per run unknown",
    });
    expect(weekly?.bytesPerRun).toBeUndefined();
    expect(weekly?.basis).toContain("growth of scratch unknown");

    // Growth known, the pair never measured: bytes per run, but no time and no headroom.
    const unmeasured = scheduleNeeds(config, { growth: [growth("scratch", 1e9)], rates: [], now: NOW })[0];
    expect(unmeasured).toMatchObject({ bytesPerRun: 1e9 });
    expect(unmeasured?.secondsNeeded).toBeUndefined();
    expect(unmeasured?.headroom).toBeUndefined();
    expect(unmeasured?.basis).toContain("no run has copied from scratch to archive yet: time needed unknown");

    // A source never scanned has no growth at all.
    const weeklyNoLab = scheduleNeeds(config, { growth: [growth("scratch", 1e9)], rates: [], now: NOW })[1];
    expect(weeklyNoLab?.basis).toContain("growth of lab unknown (never scanned)");
  });

  it("moves nothing for a shrinking source: no negative bytes, no headroom to divide by zero", () => {
    const [nightly] = scheduleNeeds(config, {
      growth: [growth("scratch", -5_000_000)],
      rates: [rate("scratch", "archive", 10_000)],
      now: NOW,
    });
    expect(nightly).toMatchObject({ bytesPerRun: 0, secondsNeeded: 0 });
    expect(nightly?.headroom).toBeUndefined();
    expect(nightly?.basis).toContain("scratch shrinks 4.77 MiB a day");
  });
});

describe.each(CATALOG_KINDS)("scheduleNeeds from the seed workspace's catalog on %s", (kind) => {
  it("finds growth from the scan history and the rate its run measured", async () => {
    const workspace = await makeSeedWorkspace(tempDir(), kind);
    const catalog = await openCatalog(workspace.catalogUrl);
    try {
      const growthFound = await scanGrowth(catalog);
      const rates = await transferRates(catalog);
      const [need] = scheduleNeeds(parseStrataConfig(workspace.configPath), { growth: growthFound, rates, now: NOW });
      const scratch = growthFound.find((g) => g.location === "scratch");
      const measured = rates.find((r) => r.from === "scratch" && r.to === "archive");
      expect(scratch?.bytesPerDay).toBeGreaterThan(0);
      expect(need?.windowSeconds).toBe(86_400);
      expect(need?.bytesPerRun).toBeCloseTo(scratch?.bytesPerDay ?? 0, 3);
      expect(need?.secondsNeeded).toBeCloseTo((scratch?.bytesPerDay ?? 0) / (measured?.bytesPerSecond ?? 1), 6);
      expect(need?.headroom).toBeCloseTo(86_400 / (need?.secondsNeeded ?? 1), 6);
    } finally {
      await catalog.close();
    }
  }, 120_000);
});
