/**
 * The first copy of each file claims its key (src/engine/key-claim.ts): an object there written
 * by another catalog must never be overwritten. A sync to an object store learns which keys are
 * free from one listing per directory (src/engine/listed-keys.ts) instead of a HEAD per file;
 * counted here at a proxy in front of the real RGW, with a foreign object still refused.
 */

import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PosixBackend } from "../../src/backends/posix/posix-backend.js";
import { ListedKeys } from "../../src/engine/listed-keys.js";
import { rgwProject } from "../support/rgw-project.js";
import { type RgwWithBuckets, startRgwWithBuckets } from "../support/rgw-server.js";
import { type FaultProxy, startFaultProxy } from "../support/s3-fault-proxy.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";

const BUCKET = "strata-listed-keys";

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

/** 20 files in each of a/ and b/, and 5 at the top. */
function files(): Record<string, string> {
  const tree: Record<string, string> = {};
  for (let i = 0; i < 20; i++) {
    tree[`a/f${i}.txt`] = `a ${i}`;
    tree[`b/f${i}.txt`] = `b ${i}`;
  }
  for (let i = 0; i < 5; i++) tree[`top${i}.txt`] = `top ${i}`;
  return tree;
}

describe("key claims from listings (issue 16)", () => {
  it("a first sync of new files sends one PUT each and no HEAD; a foreign object is still refused", async () => {
    const project = rgwProject(rgw, { bucket: BUCKET, endpoint: proxy.endpoint, extra: ["defaults:", "  retries: 1"] });
    writeTree(project.tree, files());
    proxy.resetCounts();
    const synced = await project.run("sync", "scratch", "archive");
    expect(synced.stderr).toBe("");
    expect(synced.code).toBe(0);
    expect(proxy.count("PutObject")).toBe(45);
    expect(proxy.count("HeadObject")).toBe(0);
    // One listing per directory (a/, b/ and the top), each one page.
    expect(proxy.count("ListObjects")).toBe(3);

    // Another catalog's object lands among new files of a/: listed, so asked about, and refused.
    await rgw.client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: project.key("a/new1.txt"),
        Body: "another project's only copy",
        Metadata: {
          "strata-mtime-us": "0",
          "strata-origin": encodeURIComponent("file:///elsewhere"),
          "strata-path": "a%2Fnew1.txt",
        },
      }),
    );
    writeTree(project.tree, { "a/new1.txt": "mine", "a/new2.txt": "mine too" });
    proxy.resetCounts();
    const second = await project.run("sync", "scratch", "archive");
    expect(second.code).toBe(1);
    expect(second.stderr).toContain("archive:a/new1.txt holds a copy of a/new1.txt from file:///elsewhere");
    expect(proxy.count("PutObject")).toBe(1);
    expect(proxy.count("HeadObject")).toBe(1);
  }, 120_000);
});

describe("ListedKeys", () => {
  it("says nothing is absent where the store refuses to list", async () => {
    const root = tempDir("strata-listed-");
    const store = new PosixBackend(root, `file://${root}`);
    const refusing = Object.assign(Object.create(store) as PosixBackend, {
      // biome-ignore lint/correctness/useYield: a listing refused before its first object
      async *list(): AsyncIterable<never> {
        throw new Error("AccessDenied");
      },
    });
    expect(await new ListedKeys(refusing).absent("a/b")).toBe(false);
    expect(await new ListedKeys(store).absent("a/b")).toBe(true);
  });

  it("lists a directory again once its listing is a minute old", async () => {
    const root = tempDir("strata-listed-");
    const store = new PosixBackend(root, `file://${root}`);
    let now = 0;
    const listed = new ListedKeys(store, () => now);
    expect(await listed.absent("d/x")).toBe(true);
    writeTree(root, { "d/x": "x" });
    expect(await listed.absent("d/x")).toBe(true);
    now = 60_000;
    expect(await listed.absent("d/x")).toBe(false);
    expect(await listed.absent("d/y")).toBe(true);
  });
});
