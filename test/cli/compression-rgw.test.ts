import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { GetObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../support/bytes.js";
import { rgwProject } from "../support/rgw-project.js";
import { type RgwWithBuckets, startRgwWithBuckets } from "../support/rgw-server.js";
import { sqliteRows } from "../support/sqlite-rows.js";
import { writeTree } from "../support/trees.js";
import { expectExit } from "../support/workspace.js";

/*
 * Issue 15 on Ceph RGW: a compressed object, whether sent in one PUT or as a multipart upload, is
 * a run of frames that the codec's CLI reads alone, with the content's codec, size and SHA-256 in
 * its metadata; verify and restore read it back through the decoder.
 */

const BUCKET = "strata-codecs";
let rgw: RgwWithBuckets;

beforeAll(async () => {
  rgw = await startRgwWithBuckets([BUCKET]);
}, 300_000);

afterAll(() => rgw?.stop());

const FILES: Record<string, Buffer> = {
  "small.csv": Buffer.from(Array.from({ length: 4000 }, (_, i) => `${i},${i * 0.25},sample-${i % 9}`).join("\n")),
  // Hex compresses to about half: about 7 MiB of frames, more than one 5 MiB part.
  "large.hex": Buffer.from(randomBytes(7 * 1024 * 1024).toString("hex")),
};

async function objectBytes(key: string): Promise<Buffer> {
  const got = await rgw.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from((await got.Body?.transformToByteArray()) ?? []);
}

describe("compression on Ceph RGW", () => {
  for (const codec of ["zstd", "lz4"] as const) {
    it(`${codec}: objects sent whole and in parts are read by \`${codec} -dc\` alone; verify and restore read them back`, async () => {
      const { work, prefix, run } = rgwProject(rgw, {
        bucket: BUCKET,
        s3: { partSize: "5MiB" },
        archive: [`    codec: ${codec}`],
      });
      writeTree(join(work, "tree"), FILES);
      expectExit(await run("scan", "scratch"), "scan");
      expectExit(await run("sync", "scratch", "archive"), "sync");
      const rows = sqliteRows<{ key: string; size: number; stored_size: number; codec: string; hash: string }>(
        join(work, "cat.db"),
        "SELECT key, size, stored_size, codec, hash FROM replicas",
      );
      expect(rows).toHaveLength(2);
      for (const [path, content] of Object.entries(FILES)) {
        const key = `${prefix}/${path}`;
        const stored = await objectBytes(key);
        const decoded = execFileSync(codec, ["-dc"], { input: stored, maxBuffer: 64 * 1024 * 1024 });
        expect(decoded.equals(content), `${codec} -dc ${key}`).toBe(true);
        const head = await rgw.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
        expect(head.Metadata).toMatchObject({
          "strata-codec": codec,
          "strata-size": String(content.length),
          "strata-sha256": sha256Hex(content),
        });
        expect(rows.find((r) => r.key === path)).toEqual({
          key: path,
          size: content.length,
          stored_size: stored.length,
          codec,
          hash: sha256Hex(content),
        });
      }
      expect((await objectBytes(`${prefix}/large.hex`)).length, "sent as a multipart upload").toBeGreaterThan(5 << 20);
      expectExit(await run("verify", "archive"), "verify");
      const to = join(work, "restored");
      expectExit(await run("restore", "scratch:", "--to", to), "restore");
      for (const [path, content] of Object.entries(FILES)) {
        expect(readFileSync(join(to, path)).equals(content), `restored ${path}`).toBe(true);
      }
    });
  }
});
