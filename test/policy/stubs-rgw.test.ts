import { afterAll, beforeAll, describe, it } from "vitest";
import { type RgwWithBuckets, rgwLocationYaml, startRgwWithBuckets } from "../support/rgw-server.js";
import { concurrentRunsScenario, lostCatalogScenario } from "./stub-scenarios.js";

const BUCKET = "strata-stubs";
let rgw: RgwWithBuckets;

beforeAll(async () => {
  rgw = await startRgwWithBuckets([BUCKET]);
  // The CLI processes and the in-process reader find credentials in the environment.
  Object.assign(process.env, rgw.env);
}, 300_000);

afterAll(() => rgw?.stop());

const archive = (prefix: string) =>
  rgwLocationYaml("archive", `s3://${BUCKET}/${prefix}`, rgw.endpoint, { class: "STANDARD_IA" }).join("\n");

describe("released files on Ceph RGW (issue 9)", () => {
  it("a lost catalog learns from the stubs: scan + sync upload none of them, restore brings the data back", async () => {
    await lostCatalogScenario(archive("lost"));
  }, 300_000);

  it("two applies, a sync and a scan at once upload no stub and lose no file", async () => {
    await concurrentRunsScenario(archive("overlap"), 2000);
  }, 600_000);
});
