import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../support/bytes.js";
import { rgwProject } from "../support/rgw-project.js";
import { type RgwWithBuckets, startRgwWithBuckets } from "../support/rgw-server.js";
import { snapshot } from "../support/snapshot.js";
import { writeTree } from "../support/trees.js";
import { expectExit } from "../support/workspace.js";

/** `dedup: true` on an S3 location (Ceph RGW): the bytes in the bucket, counted by S3's own listing. */

const BUCKET = "strata-dedup";
let rgw: RgwWithBuckets;

beforeAll(async () => {
  rgw = await startRgwWithBuckets([BUCKET]);
}, 300_000);

afterAll(() => rgw?.stop());

/** Objects and their bytes under a prefix, as the bucket lists them. */
async function bucketUsage(prefix: string): Promise<{ objects: number; bytes: number }> {
  let objects = 0;
  let bytes = 0;
  let token: string | undefined;
  do {
    const page = await rgw.client.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/`, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) {
      objects += 1;
      bytes += object.Size ?? 0;
    }
    token = page.NextContinuationToken;
  } while (token);
  return { objects, bytes };
}

describe("dedup: true on Ceph RGW", () => {
  it("a tree with 30% duplicate content, a multipart object among them, stores its content once", async () => {
    const { work, prefix, run } = rgwProject(rgw, {
      bucket: BUCKET,
      source: "tree",
      s3: { partSize: "5MiB" },
      archive: ["    dedup: true"],
    });
    const files: Record<string, Buffer> = {};
    const originals: Buffer[] = [];
    for (let i = 0; i < 35; i++) {
      originals.push(randomBytes(1024 + i * 300));
      files[`data/u${i}.bin`] = originals[i] as Buffer;
    }
    for (let i = 0; i < 15; i++) files[`dups/d${i}.bin`] = originals[(i * 3) % 35] as Buffer;
    // Larger than a part: written as a multipart upload, its SHA-256 kept as an object tag.
    const large = randomBytes(6 * 1024 * 1024 + 123);
    files["big/one.bin"] = large;
    files["big/two.bin"] = large;
    writeTree(join(work, "tree"), files);

    const sync = await run("--json", "sync", "tree", "archive");
    expectExit(sync, "sync");
    const { result } = JSON.parse(sync.stdout);
    expect(result.copied.files).toBe(36);
    expect(result.deduplicated.files).toBe(16);

    const unique = new Map(Object.values(files).map((b) => [sha256Hex(b), b.length]));
    const usage = await bucketUsage(prefix);
    expect(usage).toEqual({ objects: unique.size, bytes: [...unique.values()].reduce((a, b) => a + b, 0) });

    expectExit(await run("restore", "tree:", "--to", "back"), "restore");
    const restored = snapshot(join(work, "back"));
    expect(restored.size).toBe(Object.keys(files).length);
    for (const [path, content] of Object.entries(files)) {
      expect(restored.get(Buffer.from(path).toString("hex"))?.content.equals(content), path).toBe(true);
    }
    const verify = await run("--json", "verify", "archive");
    expectExit(verify, "verify");
    expect(JSON.parse(verify.stdout).verified).toBe(Object.keys(files).length);
  }, 300_000);
});
