/**
 * One large file up to Ceph RGW behind the fault proxy, by a real `strata sync` process: its parts
 * are read from the file by offset and hashed on worker threads (src/backends/multipart.ts), and
 * what is recorded must still be exactly what `sha256sum` says of the file, every part still
 * checked by the store against its Content-MD5.
 */

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../support/bytes.js";
import { rgwProject } from "../support/rgw-project.js";
import { type RgwWithBuckets, startRgwWithBuckets } from "../support/rgw-server.js";
import { type FaultProxy, startFaultProxy } from "../support/s3-fault-proxy.js";
import { writeTree } from "../support/trees.js";

const BUCKET = "strata-large-upload";
const PART = 5 * 1024 * 1024;
// Five whole parts and a short sixth.
const BIG = 5 * PART + 777;
const TOTAL_PARTS = 6;

let rgw: RgwWithBuckets;
let proxy: FaultProxy;

beforeAll(async () => {
  rgw = await startRgwWithBuckets([BUCKET]);
  proxy = await startFaultProxy(rgw.endpoint);
}, 300_000);

afterAll(async () => {
  await proxy?.close();
  rgw?.stop();
});

/** A work dir whose `archive` is a fresh prefix behind the proxy (5 MiB parts), with big.bin in its tree. */
function workspace() {
  const { tree, key, run } = rgwProject(rgw, {
    bucket: BUCKET,
    endpoint: proxy.endpoint,
    s3: { partSize: "5MiB", partsInFlight: 2 },
    extra: ["defaults:", "  retries: 1"],
  });
  writeTree(tree, { "big.bin": randomBytes(BIG) });
  return { big: join(tree, "big.bin"), key: key("big.bin"), run };
}

/** What the sha256sum tool says of a file. */
function sha256sum(path: string): string {
  const out = spawnSync("sha256sum", [path], { encoding: "utf8" });
  expect(out.status).toBe(0);
  return out.stdout.split(" ")[0] ?? "";
}

async function recordedSha256(key: string): Promise<string | undefined> {
  const tags = await rgw.client.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: key }));
  return tags.TagSet?.find((tag) => tag.Key === "strata-sha256")?.Value;
}

async function storedBytesHash(key: string): Promise<string> {
  const got = await rgw.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return sha256Hex(Buffer.from((await got.Body?.transformToByteArray()) ?? []));
}

describe("a large file up to RGW, read by offset and hashed off the main thread", () => {
  it("records the SHA-256 that sha256sum gives of the file, and stores the same bytes", async () => {
    const { big, key, run } = workspace();
    proxy.resetCounts();
    const sync = await run("sync", "scratch", "archive");
    expect(sync.stderr).toBe("");
    expect(sync.code).toBe(0);
    expect(proxy.count("UploadPart")).toBe(TOTAL_PARTS);
    const expected = sha256sum(big);
    expect(await recordedSha256(key)).toBe(expected);
    expect(await storedBytesHash(key)).toBe(expected);
    const head = await rgw.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    expect(head.ETag).toMatch(new RegExp(`-${TOTAL_PARTS}"$`));
  }, 120_000);

  it("refuses a part damaged in flight: nothing completed, and the next run stores the file whole", async () => {
    const { big, key, run } = workspace();
    proxy.damagePart(2);
    let failed: Awaited<ReturnType<typeof run>>;
    try {
      failed = await run("sync", "scratch", "archive");
    } finally {
      proxy.damagePart(undefined);
    }
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/big\.bin/);
    // The store checked every damaged copy of part 2 against the Content-MD5 sent, and refused it.
    expect(proxy.damagedAnswers.length).toBeGreaterThan(0);
    expect(proxy.damagedAnswers.every((status) => status === 400)).toBe(true);
    await expect(rgw.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).rejects.toThrow();

    proxy.resetCounts();
    const again = await run("sync", "scratch", "archive");
    expect(again.stderr).toBe("");
    expect(again.code).toBe(0);
    // The journaled parts the store acknowledged are not sent again.
    expect(proxy.count("UploadPart")).toBeLessThan(TOTAL_PARTS);
    const expected = sha256sum(big);
    expect(await recordedSha256(key)).toBe(expected);
    expect(await storedBytesHash(key)).toBe(sha256Hex(readFileSync(big)));
  }, 180_000);
});
