import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliResult } from "../support/cli.js";
import { type RequestLogProxy, startRequestLogProxy } from "../support/request-log-proxy.js";
import { rgwProject } from "../support/rgw-project.js";
import { type RgwWithBuckets, startRgwWithBuckets } from "../support/rgw-server.js";
import { writeTree } from "../support/trees.js";

/**
 * Issue 15, packs age, on Ceph RGW: `strata pack gc` rewrites a pack most of whose members were
 * deleted by reading its live members with ranged GETs (never the whole pack), writes the new
 * pack and its index, deletes the old ones, and every remaining file restores byte for byte.
 */

const BUCKET = "strata-pack-gc";
let rgw: RgwWithBuckets;
let proxy: RequestLogProxy;

beforeAll(async () => {
  rgw = await startRgwWithBuckets([BUCKET]);
  proxy = await startRequestLogProxy(rgw.endpoint);
}, 300_000);

afterAll(async () => {
  await proxy?.close();
  rgw?.stop();
});

function ok(result: CliResult): CliResult {
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return result;
}

async function keysUnder(prefix: string): Promise<string[]> {
  const listed = await rgw.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/` }));
  return (listed.Contents ?? []).map((o) => o.Key as string).sort();
}

describe("pack gc on RGW", () => {
  it("reads live members with ranged GETs only, replaces the pack, and the files restore", async () => {
    const { work, prefix, tree, run } = rgwProject(rgw, {
      bucket: BUCKET,
      endpoint: proxy.endpoint,
      // An on-premises price (RGW is no AWS bill): storage only, so the rewrite pays.
      archive: ["    price: { perTBMonth: 10 }"],
      extra: ["defaults:", "  retries: 1"],
    });
    const keep: Record<string, Buffer> = {};
    const gone: Record<string, Buffer> = {};
    for (let i = 0; i < 30; i++) {
      const data = randomBytes(1000 + i * 97);
      if (i % 3 === 0) keep[`keep/f-${i}.dat`] = data;
      else gone[`gone/f-${i}.dat`] = data;
    }
    writeTree(tree, { ...keep, ...gone });
    ok(await run("sync", "scratch", "archive", "--pack-below", "1MiB", "--pack-codec", "gzip"));
    const [old] = (await keysUnder(prefix)).filter((k) => k.endsWith(".tar.gz"));
    rmSync(join(tree, "gone"), { recursive: true });
    ok(await run("sync", "scratch", "archive", "--delete", "--force"));

    proxy.reset();
    const gc = JSON.parse(ok(await run("--json", "pack", "gc", "--location", "archive")).stdout);
    expect(gc.packs).toEqual([expect.objectContaining({ decision: "repack" })]);
    // The kept files sort after the deleted ones: their frames are adjacent at the pack's end,
    // read with one ranged GET that starts past every deleted member.
    const packGets = proxy.requests.filter((r) => r.method === "GET" && r.path === `/${BUCKET}/${old}`);
    expect(packGets).toHaveLength(1);
    expect(packGets[0]?.rangeStart).toBeGreaterThan(Object.values(gone).reduce((n, data) => n + data.length, 0));

    const fresh = `${prefix}/${gc.packs[0].newKey}`;
    expect(await keysUnder(prefix)).toEqual([fresh, `${fresh}.index.jsonl`].sort());
    const into = join(work, "restored");
    ok(await run("restore", "scratch:keep", "--to", into));
    for (const [path, content] of Object.entries(keep)) {
      expect(readFileSync(join(into, path)).equals(content), path).toBe(true);
    }
    ok(await run("catalog", "check"));
  });
});
