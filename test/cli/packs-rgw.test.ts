import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import type { CliResult } from "../support/cli.js";
import { type RequestLogProxy, startRequestLogProxy } from "../support/request-log-proxy.js";
import { rgwProject } from "../support/rgw-project.js";
import { type RgwWithBuckets, startRgwWithBuckets } from "../support/rgw-server.js";
import { writeTree } from "../support/trees.js";

/**
 * Issue 15, packs on Ceph RGW: a packed sync writes one tar pack (gzip frames per member) and its
 * index beside it, `gzip -dc | tar -x` reads the pack as S3 serves it, and restoring one member
 * is one ranged GET of its frame, seen on the wire through a logging proxy.
 */

const BUCKET = "strata-packs";
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

async function objectBytes(key: string): Promise<Buffer> {
  const answer = await rgw.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await (answer.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

describe("packs on RGW", () => {
  it("packs small files, tar reads the pack, one member comes back with one ranged GET", async () => {
    const { work, prefix, tree, run } = rgwProject(rgw, {
      bucket: BUCKET,
      endpoint: proxy.endpoint,
      extra: ["defaults:", "  retries: 1"],
    });
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 200; i++) files[`run-${i % 4}/sample-${i}.dat`] = randomBytes(500 + ((i * 131) % 4000));
    files["big/whole.bin"] = randomBytes(2 * 1024 * 1024);
    writeTree(tree, files);

    const synced = ok(
      await run("--json", "sync", "scratch", "archive", "--pack-below", "1MiB", "--pack-codec", "gzip"),
    );
    expect(JSON.parse(synced.stdout).result.copied.files).toBe(201);
    const listed = await rgw.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/` }));
    const keys = (listed.Contents ?? []).map((o) => o.Key as string).sort();
    const pack = keys.find((k) => k.endsWith(".tar.gz")) as string;
    expect(keys).toEqual([`${prefix}/big/whole.bin`, pack, `${pack}.index.jsonl`].sort());

    const out = join(work, "extracted");
    mkdirSync(out);
    writeFileSync(join(work, "pack.tar.gz"), await objectBytes(pack));
    execFileSync("sh", ["-c", `gzip -dc pack.tar.gz | tar -xf - -C extracted`], { cwd: work });
    for (const [path, content] of Object.entries(files)) {
      if (path === "big/whole.bin") continue;
      expect(readFileSync(join(out, path)).equals(content), path).toBe(true);
    }

    const wanted = "run-3/sample-123.dat";
    const catalog = await openCatalog(join(work, "cat.db"));
    const member = await catalog.db
      .selectFrom("replicas")
      .innerJoin("files", "files.id", "replicas.file_id")
      .select(["replicas.key", "replicas.pack_offset", "replicas.pack_length"])
      .where("files.path", "=", wanted)
      .executeTakeFirstOrThrow();
    await catalog.close();
    expect(`${prefix}/${member.key}`).toBe(pack);

    proxy.reset();
    const into = join(work, "restored");
    ok(await run("restore", `scratch:${wanted}`, "--to", into));
    expect(readFileSync(join(into, wanted)).equals(files[wanted] as Buffer)).toBe(true);
    const gets = proxy.requests.filter((r) => r.method === "GET" && r.path === `/${BUCKET}/${pack}`);
    expect(gets).toHaveLength(1);
    expect(gets[0]?.rangeStart).toBe(member.pack_offset);
    expect(member.pack_length).toBeLessThan(5000);

    const verified = ok(await run("--json", "verify", "archive"));
    expect(JSON.parse(verified.stdout).verified).toBe(201);
    const again = ok(await run("--json", "sync", "scratch", "archive", "--pack-below", "1MiB"));
    expect(JSON.parse(again.stdout).result.copied.files).toBe(0);
  });
});
