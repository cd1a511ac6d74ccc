import { describe, expect, it } from "vitest";
import { mediumProfiles } from "../../src/cost/costs-config.js";
import { DISK_PRICE, mediumProfile, TAPE_PRICE, TAPE_RECALL_LATENCY_MS } from "../../src/cost/prices/onprem.js";
import { configSchema } from "../../src/policy/config-schema.js";

// Published rates, read 2026-12-05 (see docs/cost-model.md): Harvard FASRC Tier 2 NFS $100/TB-yr,
// Northeastern RC archival tape $15/TB-yr. TB is 1024 GB of 2^30 bytes; a month a twelfth of a year.
const NOW = Date.parse("2026-12-05T12:00:00Z");

describe("on-premises media", () => {
  it("default to published research-computing rates, each with its source and date", () => {
    expect(DISK_PRICE.perTBYear).toBe(100);
    expect(DISK_PRICE.source).toContain("https://rc.fas.harvard.edu/kb/storage/");
    expect(TAPE_PRICE.perTBYear).toBe(15);
    expect(TAPE_PRICE.source).toContain("https://rc.northeastern.edu/research-projects-storage-space-policy");
    for (const price of [DISK_PRICE, TAPE_PRICE]) expect(price.asOf).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it("become profiles named disk and tape, priced per GB-month", () => {
    const [disk, tape] = mediumProfiles(undefined, NOW);
    expect(disk?.name).toBe("disk");
    expect(tape?.name).toBe("tape");
    expect(disk?.classes.disk?.storagePerGBMonth).toBeCloseTo(100 / 12 / 1024, 15);
    expect(tape?.classes.tape?.storagePerGBMonth).toBeCloseTo(15 / 12 / 1024, 15);
    expect(disk?.egressPerGB).toBe(0);
    // Tape is recalled first, free (no source prices a recall), within the published hour.
    expect(tape?.classes.tape?.archive?.tiers.standard).toEqual({
      perGB: 0,
      per1000: 0,
      latencyMs: TAPE_RECALL_LATENCY_MS,
    });
    expect(TAPE_RECALL_LATENCY_MS).toBe(3_600_000);
    expect(disk?.classes.disk?.archive).toBeUndefined();
  });

  it("take the config's costs.onprem, sourced to strata.yaml and dated when not said", () => {
    const config = configSchema.parse({
      costs: {
        onprem: { tape: { perTBYear: 30 }, disk: { perTBYear: 250, source: "our rate card", asOf: "2026-07-01" } },
      },
    });
    const [disk, tape] = mediumProfiles(config.costs, NOW);
    expect(tape?.classes.tape?.storagePerGBMonth).toBeCloseTo(30 / 12 / 1024, 15);
    expect(tape?.source).toBe("strata.yaml: costs.onprem.tape.perTBYear");
    expect(tape?.asOf).toBe("2026-12-05");
    expect(disk?.source).toBe("our rate card");
    expect(disk?.asOf).toBe("2026-07-01");
    expect(mediumProfile("disk").source).toBe(DISK_PRICE.source);
  });

  it("refuse unknown keys and bad values, naming the key", () => {
    const typo = configSchema.safeParse({ costs: { onprem: { tape: { perTB: 3 } } } });
    expect(typo.success).toBe(false);
    expect(JSON.stringify(typo.error?.issues)).toContain("perTB");
    const medium = configSchema.safeParse({ costs: { onprem: { ssd: { perTBYear: 3 } } } });
    expect(JSON.stringify(medium.error?.issues)).toContain("ssd");
    const negative = configSchema.safeParse({ costs: { onprem: { disk: { perTBYear: -1 } } } });
    expect(negative.error?.issues[0]?.path).toEqual(["costs", "onprem", "disk", "perTBYear"]);
    const date = configSchema.safeParse({ costs: { onprem: { disk: { perTBYear: 1, asOf: "July" } } } });
    expect(date.error?.issues[0]?.path).toEqual(["costs", "onprem", "disk", "asOf"]);
  });
});
