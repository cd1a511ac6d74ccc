import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { strata } from "../support/cli.js";
import { type RgwWithBuckets, rgwLocationYaml, startRgwWithBuckets } from "../support/rgw-server.js";
import { snapshot } from "../support/snapshot.js";
import { tempDir } from "../support/tmp.js";
import { randomTree } from "../support/trees.js";

let rgw: RgwWithBuckets;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  rgw = await startRgwWithBuckets(["strata-cli"]);
  env = rgw.env;
}, 180_000);

afterAll(() => rgw?.stop());

function config(work: string, bucketUrl: string, endpoint = rgw.endpoint, source = "tree"): void {
  writeFileSync(
    join(work, "strata.yaml"),
    [
      "catalog: cat.db",
      "locations:",
      "  scratch:",
      `    url: ./${source}`,
      ...rgwLocationYaml("cloud", bucketUrl, endpoint, { class: "STANDARD_IA" }),
      "",
    ].join("\n"),
  );
}

describe("sync with S3 (Ceph RGW)", () => {
  it("syncs up and back byte-identical with mtime and mode, then has nothing to do", async () => {
    const work = tempDir();
    randomTree(join(work, "tree"), 120, 200_000);
    config(work, "s3://strata-cli/round-trip");
    const up = await strata(["sync", "scratch", "cloud"], { cwd: work, env });
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/copied 120 files/);
    const down = await strata(["sync", "cloud", "./back"], { cwd: work, env });
    expect(down.stderr).toBe("");
    expect(snapshot(join(work, "back"))).toEqual(snapshot(join(work, "tree")));
    const again = await strata(["sync", "scratch", "cloud"], { cwd: work, env });
    expect(again.stdout).toMatch(/Nothing to do/);
    const verify = await strata(["--json", "verify", "cloud"], { cwd: work, env });
    expect(JSON.parse(verify.stdout).verified).toBe(120);
  }, 180_000);

  it.each([
    ["an invalid bucket name", "s3://ab/x", undefined, /"ab" is not a valid bucket name/],
    ["a missing bucket", "s3://strata-nowhere", undefined, /bucket "strata-nowhere" does not exist/],
    ["an unreachable endpoint", "s3://strata-cli", "http://127.0.0.1:9", /unreachable/],
  ])("names %s in one line and exits 2 at once", async (_label, url, endpoint, message) => {
    const work = tempDir();
    randomTree(join(work, "tree"), 3);
    config(work, url, endpoint);
    const started = Date.now();
    const result = await strata(["sync", "scratch", "cloud"], { cwd: work, env });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("names wrong credentials in one line and exits 2", async () => {
    const work = tempDir();
    randomTree(join(work, "tree"), 3);
    config(work, "s3://strata-cli");
    const result = await strata(["sync", "scratch", "cloud"], {
      cwd: work,
      env: { AWS_ACCESS_KEY_ID: "nobody", AWS_SECRET_ACCESS_KEY: "wrong" },
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/access denied/);
    expect(result.stderr).not.toMatch(/wrong/);
  });

  it("holds the buffered-bytes cap under a mix of huge and tiny files (measured)", async () => {
    const work = tempDir();
    const tree = join(work, "tree");
    randomTree(tree, 300, 4096);
    for (let i = 0; i < 4; i++) {
      const big = Buffer.alloc(100 * 1024 * 1024, i + 1);
      writeFileSync(join(tree, `big-${i}.bin`), big);
    }
    const run = async (prefix: string, maxBuffer: string, source = "tree") => {
      config(work, `s3://strata-cli/${prefix}`, rgw.endpoint, source);
      const result = await strata(
        [
          "--json",
          "--catalog",
          `cat-${prefix}.db`,
          "sync",
          "scratch",
          "cloud",
          "--transfers",
          "8",
          "--max-buffer",
          maxBuffer,
        ],
        { cwd: work, env },
      );
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout).result as {
        bufferPeak: number;
        peakRssBytes: number;
        copied: { files: number };
      };
    };
    // The same CLI syncing only the small files shows what a run holds without big buffers.
    const small = join(work, "small");
    randomTree(small, 300, 4096);
    const baseline = await run("baseline", "96MiB", "small");
    const capped = await run("capped", "96MiB");
    const open = await run("open", "1GiB");
    expect(capped.copied.files).toBe(304);
    expect(capped.bufferPeak).toBeLessThanOrEqual(96 * 1024 * 1024);
    expect(open.bufferPeak).toBeGreaterThan(96 * 1024 * 1024);
    // Resident memory follows the cap: the capped run stays within its cap, plus read-stream
    // garbage, of what the CLI holds syncing small files alone.
    const slack = 64 * 1024 * 1024;
    expect(capped.peakRssBytes).toBeLessThan(baseline.peakRssBytes + 96 * 1024 * 1024 + slack);
  }, 240_000);
});
