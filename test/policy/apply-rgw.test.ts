import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseStub } from "../../src/codec/stub.js";
import { applyPlan } from "../../src/engine/apply.js";
import { sha256Hex } from "../support/bytes.js";
import { strata } from "../support/cli.js";
import { type RgwWithBuckets, rgwLocationYaml, startRgwWithBuckets } from "../support/rgw-server.js";
import { agedTree, applyAgedContent, CONTENT, RELEASE_OLD, stream, workspace } from "./apply-workspace.js";
import { concurrentRunsScenario, lostCatalogScenario } from "./stub-scenarios.js";

const BUCKET = "strata-apply";
let rgw: RgwWithBuckets;

beforeAll(async () => {
  rgw = await startRgwWithBuckets([BUCKET]);
  // The in-process contexts find credentials where the AWS chain looks: the environment.
  Object.assign(process.env, rgw.env);
}, 300_000);

afterAll(() => rgw?.stop());

function rgwWorkspace(prefix: string) {
  return workspace({
    locations: rgwLocationYaml("archive", `s3://${BUCKET}/${prefix}`, rgw.endpoint, { class: "STANDARD" }).join("\n"),
    policies: RELEASE_OLD,
  });
}

describe("apply with Ceph RGW", () => {
  it("plans, applies, and then has nothing left to plan", async () => {
    const ws = await rgwWorkspace("whole");
    try {
      const report = await applyAgedContent(ws);
      expect([report.kinds.copy.files, report.kinds.release.files]).toEqual([3, 3]);
      await ws.scan();
      expect(await ws.plan()).toEqual([]);
      const stored = await rgw.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "whole/old/a.dat" }));
      expect(stored.StorageClass).toBe("STANDARD_IA");
      expect(await stored.Body?.transformToString()).toBe(CONTENT["old/a.dat"]);
      expect(parseStub(readFileSync(join(ws.tree, "old/a.dat"), "utf8"))?.replicas[0]?.url).toBe(
        `s3://${BUCKET}/whole`,
      );
    } finally {
      await ws.close();
    }
  }, 120_000);

  it("releases nothing whose object reads back wrong; the released file comes back with strata restore", async () => {
    const ws = await rgwWorkspace("corrupt");
    try {
      agedTree(ws.tree, CONTENT, 40);
      await ws.scan();
      await applyPlan(ws.ctx, stream(await ws.plan()), { transfers: 4, maxBuffer: 1 << 20 });
      const flipped = Buffer.from(Buffer.from(CONTENT["old/b.dat"] as string).map((b) => b ^ 0xff));
      await rgw.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "corrupt/old/b.dat", Body: flipped }));

      const report = await applyPlan(ws.ctx, stream(await ws.plan()), { transfers: 4, maxBuffer: 1 << 20 });
      expect(report.kinds.release).toEqual({ files: 2, bytes: 26_000, stale: 0, failed: 1 });
      expect(report.failures).toEqual([
        expect.objectContaining({
          path: "old/b.dat",
          reason: `not released: archive: read back ${sha256Hex(flipped)}, expected sha256 ${sha256Hex(CONTENT["old/b.dat"] as string)} (marked lost)`,
        }),
      ]);
      expect(readFileSync(join(ws.tree, "old/b.dat"), "utf8")).toBe(CONTENT["old/b.dat"]);
      expect(parseStub(readFileSync(join(ws.tree, "old/a.dat"), "utf8"))?.sha256).toBe(
        sha256Hex(CONTENT["old/a.dat"] as string),
      );

      const restored = await strata(["--config", join(ws.dir, "strata.yaml"), "restore", "scratch:old/a.dat"], {
        cwd: ws.dir,
      });
      expect(restored.stderr).toBe("");
      expect(restored.code).toBe(0);
      expect(readFileSync(join(ws.tree, "old/a.dat"), "utf8")).toBe(CONTENT["old/a.dat"]);
    } finally {
      await ws.close();
    }
  }, 120_000);
});

describe("released files on Ceph RGW (issue 9)", () => {
  // The archive's own class is the policy's, so the sync beside the applies asks for no transition.
  const archive = (prefix: string) =>
    rgwLocationYaml("archive", `s3://${BUCKET}/${prefix}`, rgw.endpoint, { class: "STANDARD_IA" }).join("\n");

  it("a lost catalog learns from the stubs: scan + sync upload none of them, restore brings the data back", async () => {
    await lostCatalogScenario(archive("lost"));
  }, 300_000);

  it("two applies, a sync and a scan at once upload no stub and lose no file", async () => {
    await concurrentRunsScenario(archive("overlap"), 2000);
  }, 600_000);
});
