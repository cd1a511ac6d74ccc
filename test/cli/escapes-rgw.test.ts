import { lstatSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { strata } from "../support/cli.js";
import { failedPaths, makeJail, writePlantedConfig } from "../support/confinement.js";
import { type RgwWithBuckets, rgwLocationYaml, startRgwWithBuckets } from "../support/rgw-server.js";
import { tempDir } from "../support/tmp.js";

/**
 * The same hostile keys and metadata as test/cli/escapes.test.ts, on a real S3 service: written
 * with the AWS SDK straight into the bucket, as anyone allowed to write it could.
 */
const BUCKET = "strata-escapes";
const HOSTILE_KEYS = [
  "..\uF700/x",
  "\uF700.\uF700.\uF700/x",
  "..\uF700/made/x",
  "a/\uF700.\uF700./\uF700.\uF700./x",
  "link/x",
  "a/../../x",
  "/abs/x",
  "nul\0/x",
];
const FORGED = { "strata-mtime-us": "1600000000000000", "strata-mode": "6755", "strata-uid": "0", "strata-gid": "0" };

let rgw: RgwWithBuckets;
/** The hostile keys RGW accepted (it may refuse some, such as NUL, itself). */
const planted: string[] = [];

beforeAll(async () => {
  rgw = await startRgwWithBuckets([BUCKET]);
  for (const key of [...HOSTILE_KEYS, "ok/good.txt", "bin/suid"]) {
    const put = new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `planted as ${JSON.stringify(key)}\n` });
    if (key === "bin/suid") put.input.Metadata = FORGED;
    const accepted = await rgw.client.send(put).then(
      () => true,
      () => false,
    );
    if (accepted && HOSTILE_KEYS.includes(key)) planted.push(key);
  }
}, 600_000);

afterAll(() => rgw?.stop());

function workspace(): string {
  const work = tempDir();
  writePlantedConfig(work, rgwLocationYaml("planted", `s3://${BUCKET}`, rgw.endpoint));
  return work;
}

describe("keys and metadata written into an S3 bucket by another client (Ceph RGW)", () => {
  it("planted the traversal keys", () => {
    // An S3 key is any UTF-8: all but the NUL one must have gone in, or this test proves little.
    expect(planted.filter((k) => !k.includes("\0")).sort()).toEqual(
      HOSTILE_KEYS.filter((k) => !k.includes("\0")).sort(),
    );
  });

  it("sync bucket → directory writes nothing outside the target and no setuid root file", async () => {
    const work = workspace();
    const jail = makeJail(work);
    const before = jail.outside();

    const result = await strata(["--json", "sync", "planted", jail.target, "--preserve-special-bits"], {
      cwd: work,
      env: rgw.env,
    });

    expect(jail.outside()).toEqual(before);
    expect(readFileSync(join(jail.target, "ok", "good.txt"), "utf8")).toMatch(/planted/);
    expect(lstatSync(join(jail.target, "bin", "suid")).mode & 0o7777).toBe(0o755);
    expect(jail.specialFiles()).toEqual([]);
    expect(result.code).toBe(1);
    expect(failedPaths(result.stdout)).toEqual([...planted].sort());
  }, 120_000);

  it("restore --to from a replica of the bucket writes nothing outside the target", async () => {
    const work = workspace();
    const copied = await strata(["sync", "planted", "mirror"], { cwd: work, env: rgw.env });
    expect(copied.code, copied.stderr).toBe(0);
    const jail = makeJail(work);
    const before = jail.outside();

    const result = await strata(["--json", "restore", "planted:", "--to", jail.target], { cwd: work, env: rgw.env });

    expect(jail.outside()).toEqual(before);
    expect(readFileSync(join(jail.target, "ok", "good.txt"), "utf8")).toMatch(/planted/);
    expect(lstatSync(join(jail.target, "bin", "suid")).mode & 0o7777).toBe(0o755);
    expect(result.code).toBe(1);
    expect(failedPaths(result.stdout)).toEqual([...planted].sort());
  }, 120_000);
});
