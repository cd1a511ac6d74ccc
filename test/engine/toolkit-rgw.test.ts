/**
 * Issue 11, "Done when": `strata apply` and `strata restore` move bytes with sync's toolkit
 * against a cloud store. A real Ceph RGW sits behind a proxy that logs every request
 * (test/support/request-log-proxy.ts); the tests read from the log what the CLI did on the wire:
 * - `apply --streams N` (or the config's defaults.streams) uploads a large file as multipart
 *   parts, at most N in flight;
 * - `restore --streams 4 --bwlimit 12M` reads a 72 MiB file back in ranges, several at once, and
 *   takes at least the capped time;
 * - `apply --tps 4` spaces its uploads to the request-rate cap;
 * - `transfers: auto` (the default) runs more GETs in flight for a download of many small
 *   objects than it lets files be in flight for an upload of a few large ones.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUTO_FROM_STORE, AUTO_FROM_TREE } from "../../src/transfer/flight.js";
import { sha256Hex } from "../support/bytes.js";
import { strata } from "../support/cli.js";
import {
  isObjectGet,
  isObjectPut,
  isPartPut,
  maxInFlight,
  maxObjectsInFlight,
  type RequestLogProxy,
  startRequestLogProxy,
} from "../support/request-log-proxy.js";
import { type RgwWithBuckets, rgwLocationYaml, startRgwWithBuckets } from "../support/rgw-server.js";
import { KEEP_ALL, workDir } from "./workdir.js";

const MiB = 1024 * 1024;
const BUCKET = "strata-engine";

let rgw: RgwWithBuckets;
let proxy: RequestLogProxy;

beforeAll(async () => {
  rgw = await startRgwWithBuckets([BUCKET]);
  proxy = await startRequestLogProxy(rgw.endpoint);
}, 240_000);

afterAll(async () => {
  await proxy?.close();
  rgw?.stop();
});

/**
 * A work dir holding `files` under ./tree and a config: scratch = ./tree, archive = the bucket's
 * `prefix` reached through the proxy (parts of 5 MiB), one policy copying all of scratch there.
 */
function work(prefix: string, files: Record<string, Buffer>, defaults: string[] = []) {
  const dir = workDir(files, [
    ...rgwLocationYaml("archive", `s3://${BUCKET}/${prefix}`, proxy.endpoint, { s3: { partSize: "5MiB" } }),
    ...(defaults.length > 0 ? ["defaults:", ...defaults.map((line) => `  ${line}`)] : []),
    ...KEEP_ALL,
  ]);
  return { dir, run: (...args: string[]) => strata(args, { cwd: dir, env: rgw.env }) };
}

/** Requests of the log for objects under `prefix` of the bucket. */
function under(prefix: string) {
  return proxy.requests.filter((r) => r.path.startsWith(`/${BUCKET}/${prefix}/`));
}

describe("the transfer toolkit against S3 (Ceph RGW)", () => {
  it("strata apply uploads a large file in multipart parts: one at a time with --streams 1, two with defaults.streams 2", async () => {
    const big = randomBytes(16 * MiB);
    const variants = [
      { prefix: "streams-1", flags: ["--streams", "1"], defaults: [], fewest: 1, most: 1 },
      { prefix: "defaults-2", flags: [], defaults: ["streams: 2"], fewest: 2, most: 2 },
    ];
    for (const { prefix, flags, defaults, fewest, most } of variants) {
      const { run } = work(prefix, { "big.bin": big }, defaults);
      expect((await run("scan", "scratch")).code).toBe(0);
      proxy.reset();
      const applied = await run("--json", "apply", ...flags);
      expect(applied.stderr).toBe("");
      expect(applied.code).toBe(0);
      expect(JSON.parse(applied.stdout).result.kinds.copy).toMatchObject({ files: 1, bytes: big.length, failed: 0 });
      const parts = under(prefix).filter(isPartPut);
      // 16 MiB in parts of 5 MiB: parts 1 to 4, each at least once (a retried part comes twice).
      expect([...new Set(parts.map((p) => Number(p.query.get("partNumber"))))].sort()).toEqual([1, 2, 3, 4]);
      // The cap is exact; how close a busy machine comes to it is not: the floor shows overlap.
      expect(maxInFlight(parts), prefix).toBeLessThanOrEqual(most);
      expect(maxInFlight(parts), prefix).toBeGreaterThanOrEqual(fewest);
      const stored = await rgw.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}/big.bin` }));
      expect(sha256Hex(Buffer.from((await stored.Body?.transformToByteArray()) ?? []))).toBe(sha256Hex(big));
    }
  }, 60_000);

  it("strata restore reads a 72 MiB file back in parallel ranges, and --bwlimit caps it", async () => {
    // Ranged reads start at 64 MiB (smaller objects come in one stream): 72 MiB is nine 8 MiB ranges.
    const big = randomBytes(72 * MiB);
    const { dir, run } = work("restore", { "big.bin": big });
    const synced = await run("sync", "scratch", "archive");
    expect(synced.code, synced.stderr).toBe(0);
    rmSync(join(dir, "tree", "big.bin"));
    proxy.reset();
    const started = Date.now();
    const restored = await run("restore", "scratch:big.bin", "--streams", "4", "--bwlimit", "12M");
    const elapsed = Date.now() - started;
    expect(restored.stderr).toBe("");
    expect(restored.code).toBe(0);
    const gets = under("restore").filter(isObjectGet);
    expect(gets.filter((g) => g.rangeStart === undefined)).toEqual([]);
    const starts = gets.map((g) => g.rangeStart as number).sort((a, b) => a - b);
    expect(starts.length).toBeGreaterThanOrEqual(4);
    expect(starts[0]).toBe(0);
    expect(new Set(starts).size).toBe(starts.length);
    expect(maxInFlight(gets)).toBeGreaterThanOrEqual(2);
    expect(maxInFlight(gets)).toBeLessThanOrEqual(4);
    // 72 MiB at 12 MiB/s after a one-second burst: at least 5 s (a tenth left for the clock's grain).
    expect(elapsed).toBeGreaterThanOrEqual(0.9 * 5000);
    expect(sha256Hex(readFileSync(join(dir, "tree", "big.bin")))).toBe(sha256Hex(big));
  }, 60_000);

  it('transfers "auto" runs many small GETs in flight on a download, and few large files on an upload', async () => {
    const small = Object.fromEntries(Array.from({ length: 96 }, (_, i) => [`s${i}.dat`, randomBytes(2000)]));
    const { dir, run } = work("auto-small", small);
    proxy.reset();
    const up = await run("sync", "scratch", "archive");
    expect(up.code, up.stderr).toBe(0);
    // From a tree: auto keeps uploads at AUTO_FROM_TREE in flight.
    const puts = under("auto-small").filter(isObjectPut);
    expect(puts).toHaveLength(96);
    expect(maxInFlight(puts)).toBeLessThanOrEqual(AUTO_FROM_TREE);
    proxy.reset();
    const down = await run("sync", "archive", join(dir, "down"));
    expect(down.code, down.stderr).toBe(0);
    expect(readFileSync(join(dir, "down", "s7.dat"))).toEqual(small["s7.dat"]);
    // From an object store: each GET waits on the server, so auto runs more of them at once.
    const gets = under("auto-small").filter(isObjectGet);
    expect(gets.length).toBeGreaterThanOrEqual(96);
    const manyGets = maxInFlight(gets);
    expect(manyGets).toBeGreaterThan(AUTO_FROM_TREE);
    expect(manyGets).toBeLessThanOrEqual(AUTO_FROM_STORE);

    // Eight files of three 5 MiB parts, and a budget that would let all of them start: auto
    // still holds large files to 4 at once, so each keeps several parts in flight.
    const large = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`l${i}.bin`, randomBytes(12 * MiB)]));
    const big = work("auto-large", large);
    proxy.reset();
    const bigUp = await big.run("--json", "sync", "scratch", "archive", "--max-buffer", "2GiB");
    expect(bigUp.code, bigUp.stderr).toBe(0);
    expect(JSON.parse(bigUp.stdout).result.copied).toMatchObject({ files: 8 });
    // The upload itself: its begin and complete (POST) and its parts, not the looks at the key before it.
    const uploads = under("auto-large").filter((r) => isPartPut(r) || r.method === "POST");
    const largeFiles = maxObjectsInFlight(uploads);
    expect(largeFiles).toBeGreaterThanOrEqual(1);
    expect(largeFiles).toBeLessThanOrEqual(4);
    expect(manyGets).toBeGreaterThan(largeFiles);
  }, 120_000);

  it("strata apply --tps 4 spaces its uploads to four requests a second", async () => {
    const files = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`f${i}.dat`, randomBytes(1000)]));
    const { run } = work("tps", files);
    expect((await run("scan", "scratch")).code).toBe(0);
    proxy.reset();
    const applied = await run("--json", "apply", "--tps", "4", "--transfers", "8");
    expect(applied.stderr).toBe("");
    expect(applied.code).toBe(0);
    expect(JSON.parse(applied.stdout).result.kinds.copy).toMatchObject({ files: 16, failed: 0 });
    const puts = under("tps").filter(isObjectPut);
    expect(puts).toHaveLength(16);
    // Each upload draws a token; the bucket holds four at most and refills four a second, so
    // between the first and the last of 16 uploads at least (16 - 1 - 4) / 4 s pass. Without
    // the cap, eight transfers send them all within about half a second.
    const span = (puts.at(-1)?.startedAt ?? 0) - (puts[0]?.startedAt ?? 0);
    expect(span).toBeGreaterThanOrEqual(0.9 * 2750);
  }, 60_000);
});
