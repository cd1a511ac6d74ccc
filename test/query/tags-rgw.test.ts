/**
 * Issue 12, tags on S3: after `strata tag set` the objects of a real Ceph RGW carry the tags,
 * as the AWS SDK's GetObjectTagging reads them, beside the location's own tags and the
 * `strata-sha256` tag of a multipart object (which must survive: it is that object's hash);
 * `strata tag rm` takes them off again.
 */
import { randomBytes } from "node:crypto";
import { GetObjectTaggingCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workDir } from "../engine/workdir.js";
import { sha256Hex } from "../support/bytes.js";
import { strata } from "../support/cli.js";
import { type RgwWithBuckets, rgwLocationYaml, startRgwWithBuckets } from "../support/rgw-server.js";

const BUCKET = "strata-tags";
const MiB = 1024 * 1024;

let rgw: RgwWithBuckets;

beforeAll(async () => {
  rgw = await startRgwWithBuckets([BUCKET]);
}, 240_000);

afterAll(() => rgw?.stop());

async function objectTags(key: string): Promise<Record<string, string>> {
  const out = await rgw.client.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: key }));
  return Object.fromEntries((out.TagSet ?? []).map((t) => [t.Key, t.Value]));
}

describe("strata tag on S3 (Ceph RGW)", () => {
  it("writes tags to the objects' S3 tags and removes them, keeping the location's tags and strata-sha256", async () => {
    const big = randomBytes(6 * MiB);
    const dir = workDir({ "runs/big.h5": big, "runs/small.nc": "small", "other.txt": "other" }, [
      ...rgwLocationYaml("archive", `s3://${BUCKET}/p`, rgw.endpoint, { s3: { partSize: "5MiB" } }),
      "    tags: { site: lab }",
    ]);
    const run = async (...args: string[]) => {
      const result = await strata(args, { cwd: dir, env: rgw.env });
      expect(result.stderr, args.join(" ")).toBe("");
      expect(result.code).toBe(0);
      return result;
    };
    await run("sync", "scratch", "archive");
    // The 6 MiB file went up in two parts: its SHA-256 is a tag.
    const bigHash = { "strata-sha256": sha256Hex(big) };
    expect(await objectTags("p/runs/big.h5")).toEqual({ site: "lab", ...bigHash });

    const tagged = await run(
      "--json",
      "tag",
      "set",
      "scratch:runs",
      "--tag",
      "project=climate",
      "--tag",
      "owner=alice",
    );
    expect(JSON.parse(tagged.stdout)).toMatchObject({ files: 2, objects: 2, failures: [] });
    expect(await objectTags("p/runs/big.h5")).toEqual({ site: "lab", project: "climate", owner: "alice", ...bigHash });
    expect(await objectTags("p/runs/small.nc")).toEqual({ site: "lab", project: "climate", owner: "alice" });
    expect(await objectTags("p/other.txt")).toEqual({ site: "lab" });

    await run("tag", "rm", "scratch:runs/big.h5", "--tag", "owner");
    expect(await objectTags("p/runs/big.h5")).toEqual({ site: "lab", project: "climate", ...bigHash });
    expect(await objectTags("p/runs/small.nc")).toEqual({ site: "lab", project: "climate", owner: "alice" });

    // Strata reads the hash back from the tag: a verify of the multipart object still passes.
    const verified = await run("--json", "verify", "archive");
    expect(JSON.parse(verified.stdout)).toMatchObject({ verified: 3, bad: [] });
  });
});
