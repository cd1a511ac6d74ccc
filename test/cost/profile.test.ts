import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { BackendKind } from "../../src/backends/all.js";
import { UsageError } from "../../src/config/errors.js";
import {
  AWS_PROFILE,
  monthlyStorageCost,
  type PriceOverride,
  priceOverrideSchema,
  profileFor,
} from "../../src/cost/index.js";
import { parseStrataConfig as parseConfigFile } from "../../src/policy/config.js";
import { tempDir } from "../support/tmp.js";
import { expectUsd, GIB } from "./usd.js";

describe("profileFor", () => {
  const byScheme: [BackendKind, string, string, string][] = [
    ["s3", "s3://bucket/x", "aws", "STANDARD"],
    ["azure", "az://container", "azure", "Hot"],
    ["gcs", "gs://bucket", "gcs", "STANDARD"],
    ["local", "local:///srv/store", "local", "STANDARD"],
    ["posix", "file:///lustre/scratch", "onprem", "POSIX"],
  ];
  it.each(byScheme)("%s URLs price as %s", (kind, url, name, defaultClass) => {
    expect(profileFor({ kind, url })).toMatchObject({ name, defaultClass });
  });

  it("prices a POSIX tree at the configured $/TB-month", () => {
    const profile = profileFor({ kind: "posix", url: "file:///gpfs", price: { perTBMonth: 25 } });
    expectUsd(monthlyStorageCost(profile, undefined, 1024 * GIB), 25);
    expectUsd(monthlyStorageCost(profile, undefined, GIB), 25 / 1024);
  });

  it("makes an s3:// store on premises (Ceph RGW) flat when given perTBMonth", () => {
    const profile = profileFor({ kind: "s3", url: "s3://rgw-bucket", price: { perTBMonth: 5 } });
    expect(profile).toMatchObject({ name: "onprem", flat: true });
    expectUsd(monthlyStorageCost(profile, "GLACIER", 1024 * GIB), 5);
  });

  it("merges per-class overrides without touching the shipped profile", () => {
    const profile = profileFor({
      kind: "s3",
      url: "s3://bucket",
      price: { egressPerGB: 0.05, classes: { STANDARD: { storagePerGBMonth: 0.021 } } },
    });
    expectUsd(monthlyStorageCost(profile, "STANDARD", GIB), 0.021);
    expect(profile.classes.STANDARD?.putPer1000).toBe(0.005);
    expect(profile.egressPerGB).toBe(0.05);
    expect(AWS_PROFILE.classes.STANDARD?.storagePerGBMonth).toBe(0.023);
    expect(AWS_PROFILE.egressPerGB).toBe(0.09);
  });

  it("takes an explicit profile over the URL's", () => {
    expect(profileFor({ kind: "s3", url: "s3://minio", price: { profile: "local" } }).name).toBe("local");
  });

  it("refuses a class of another provider, naming the location and key", () => {
    const price: PriceOverride = { classes: { Cool: { storagePerGBMonth: 0.01 } } };
    expect(() => profileFor({ kind: "s3", url: "s3://bucket", price })).toThrow(UsageError);
    expect(() => profileFor({ kind: "s3", url: "s3://bucket", price })).toThrow(/s3:\/\/bucket: price\.classes\.Cool/);
  });
});

describe("priceOverrideSchema", () => {
  const bad: [string, unknown, string][] = [
    ["perTBMonth with a cloud profile", { profile: "aws", perTBMonth: 3 }, "perTBMonth"],
    ["a class the named profile lacks", { profile: "gcs", classes: { GLACIER: {} } }, "classes.GLACIER"],
    ["a class no profile has", { classes: { Glacier: { storagePerGBMonth: 1 } } }, "classes.Glacier"],
    ["an unknown key", { profile: "aws", prices: {} }, ""],
    ["an unknown class key", { classes: { STANDARD: { storage: 1 } } }, "classes.STANDARD"],
    ["a negative price", { classes: { STANDARD: { storagePerGBMonth: -1 } } }, "classes.STANDARD.storagePerGBMonth"],
    ["an unknown profile", { profile: "oracle" }, "profile"],
  ];
  it.each(bad)("rejects %s", (_label, input, path) => {
    const result = priceOverrideSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path.join("."))).toContain(path);
  });

  it("reads sizes written for people", () => {
    const parsed = priceOverrideSchema.parse({ classes: { STANDARD_IA: { minBillableBytes: "64KiB" } } });
    expect(parsed.classes?.STANDARD_IA?.minBillableBytes).toBe(65536);
  });

  it("is a location's `price:` in strata.yaml, errors naming file, line and key", () => {
    const dir = tempDir();
    const file = join(dir, "strata.yaml");
    writeFileSync(
      file,
      [
        "locations:",
        "  scratch:",
        "    url: /lustre/scratch",
        "    price: { perTBMonth: 12 }",
        "  archive:",
        "    url: s3://bucket",
        "    price:",
        "      classes:",
        "        Coool: { storagePerGBMonth: 0.01 }",
        "",
      ].join("\n"),
    );
    expect(() => parseConfigFile(file)).toThrow(
      /strata\.yaml:9:9: locations\.archive\.price\.classes\.Coool: no storage class/,
    );
    writeFileSync(
      file,
      ["locations:", "  scratch:", "    url: /lustre/scratch", "    price: { perTBMonth: 12 }", ""].join("\n"),
    );
    expect(parseConfigFile(file).locations.scratch?.price).toEqual({ perTBMonth: 12 });
  });
});
