/**
 * Resumed multipart uploads and throttling answers, end to end: a real `strata sync` process
 * against Ceph RGW behind the counting fault proxy (test/support/s3-fault-proxy.ts), killed with
 * SIGKILL or answered with 503, 500 and resets; the requests that reach the store are counted.
 */
import { createHash, randomBytes } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import SQLite from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureLocation } from "../../src/catalog/locations.js";
import { forgetUploads, staleUploads, uploadJournal } from "../../src/catalog/uploads.js";
import { CATALOG_KINDS, freshCatalog } from "../support/catalogs.js";
import { finished, spawnStrata, strata } from "../support/cli.js";
import { type RgwWithBuckets, rgwLocationYaml, startRgwWithBuckets } from "../support/rgw-server.js";
import { type FaultProxy, startFaultProxy } from "../support/s3-fault-proxy.js";
import { tempDir } from "../support/tmp.js";
import { randomTree, writeTree } from "../support/trees.js";

const BUCKET = "strata-resume";
const PART = 5 * 1024 * 1024;
// 16 whole parts and a short 17th.
const BIG = 16 * PART + 12_345;
const TOTAL_PARTS = Math.ceil(BIG / PART);
/** Seconds, exact to the microsecond, so a test can put a rewritten file's mtime back. */
const MTIME = 1_600_000_000.5;

let rgw: RgwWithBuckets;
let proxy: FaultProxy;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  rgw = await startRgwWithBuckets([BUCKET]);
  proxy = await startFaultProxy(rgw.endpoint);
  env = rgw.env;
}, 180_000);

afterAll(async () => {
  await proxy?.close();
  rgw?.stop();
});

/**
 * A work dir whose `cloud` location is a fresh prefix behind the fault proxy, with 5 MiB parts,
 * and whose tree holds `big.bin` of `size` random bytes.
 */
function workspace(size = BIG): { work: string; prefix: string; big: string } {
  const work = tempDir();
  const prefix = randomBytes(6).toString("hex");
  writeFileSync(
    join(work, "strata.yaml"),
    [
      "catalog: cat.db",
      "locations:",
      "  scratch:",
      "    url: ./tree",
      ...rgwLocationYaml("cloud", `s3://${BUCKET}/${prefix}`, proxy.endpoint, {
        s3: { partSize: "5MiB", partsInFlight: 2 },
      }),
      "",
    ].join("\n"),
  );
  const big = join(work, "tree", "big.bin");
  writeTree(join(work, "tree"), { "big.bin": randomBytes(size) });
  utimesSync(big, MTIME, MTIME);
  return { work, prefix, big };
}

/** Parts the catalog journaled for the upload in progress (0 while the table is not there yet). */
function journaledParts(work: string): number {
  const path = join(work, "cat.db");
  if (!existsSync(path)) return 0;
  const db = new SQLite(path, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("select count(*) as n from upload_parts").get() as { n: number }).n;
  } catch {
    return 0;
  } finally {
    db.close();
  }
}

/**
 * Runs `strata sync` with the bandwidth capped so the upload takes seconds, and kills it with
 * SIGKILL once `parts` parts are journaled. Returns how many were journaled by then.
 */
async function syncKilledAfter(work: string, parts: number): Promise<number> {
  const child = spawnStrata(["sync", "scratch", "cloud", "--bwlimit", "12M"], { cwd: work, env });
  const done = finished(child);
  const deadline = Date.now() + 60_000;
  while (journaledParts(work) < parts) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const result = await done;
      throw new Error(`sync ended before ${parts} parts were journaled: ${result.code} ${result.stderr}`);
    }
    await sleep(20);
  }
  child.kill("SIGKILL");
  const result = await done;
  expect(result.signal).toBe("SIGKILL");
  return journaledParts(work);
}

async function pendingUploads(prefix: string): Promise<number> {
  const out = await rgw.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: `${prefix}/` }));
  return out.Uploads?.length ?? 0;
}

async function storedHash(key: string): Promise<string> {
  const out = await rgw.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  const hash = createHash("sha256");
  for await (const chunk of out.Body as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest("hex");
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

describe("a multipart upload killed mid-way (Ceph RGW)", () => {
  it("resumes from its journaled parts: the next run sends only the missing ones", async () => {
    const { work, prefix, big } = workspace();
    const journaled = await syncKilledAfter(work, 5);
    expect(journaled).toBeGreaterThanOrEqual(5);
    expect(journaled).toBeLessThan(TOTAL_PARTS);
    // Killed before completion: no object, one upload in progress.
    await expect(
      rgw.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${prefix}/big.bin` })),
    ).rejects.toThrow();
    expect(await pendingUploads(prefix)).toBe(1);

    proxy.resetCounts();
    const again = await strata(["sync", "scratch", "cloud"], { cwd: work, env });
    expect(again.code, again.stderr).toBe(0);
    expect(proxy.count("CreateMultipartUpload")).toBe(0);
    expect(proxy.count("UploadPart")).toBe(TOTAL_PARTS - journaled);
    expect(proxy.count("CompleteMultipartUpload")).toBe(1);
    expect(await storedHash(`${prefix}/big.bin`)).toBe(sha256(readFileSync(big)));
    expect(await pendingUploads(prefix)).toBe(0);
    expect(journaledParts(work)).toBe(0);

    const verify = await strata(["--json", "verify", "cloud"], { cwd: work, env });
    expect(JSON.parse(verify.stdout).verified).toBe(1);
  }, 120_000);

  it("re-sends a journaled part whose bytes no longer read the same (same size and mtime)", async () => {
    const { work, prefix, big } = workspace();
    const journaled = await syncKilledAfter(work, 4);
    // Rewrite the second part in place and put the mtime back: the catalog sees the same
    // version, only the part MD5s can tell.
    const content = readFileSync(big);
    randomBytes(1000).copy(content, PART + 10);
    writeFileSync(big, content);
    utimesSync(big, MTIME, MTIME);

    proxy.resetCounts();
    const again = await strata(["sync", "scratch", "cloud"], { cwd: work, env });
    expect(again.code, again.stderr).toBe(0);
    expect(proxy.count("CreateMultipartUpload")).toBe(0);
    expect(proxy.count("UploadPart")).toBe(TOTAL_PARTS - journaled + 1);
    expect(await storedHash(`${prefix}/big.bin`)).toBe(sha256(content));
    expect(await pendingUploads(prefix)).toBe(0);
  }, 120_000);

  it("aborts the stale upload when the source changed in between, and uploads the new content whole", async () => {
    const { work, prefix, big } = workspace();
    await syncKilledAfter(work, 3);
    const changed = randomBytes(BIG + PART);
    writeFileSync(big, changed);

    proxy.resetCounts();
    const again = await strata(["--json", "sync", "scratch", "cloud"], { cwd: work, env });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).result.abortedUploads).toBe(1);
    expect(proxy.count("AbortMultipartUpload")).toBe(1);
    expect(proxy.count("CreateMultipartUpload")).toBe(1);
    expect(proxy.count("UploadPart")).toBe(Math.ceil(changed.length / PART));
    expect(await storedHash(`${prefix}/big.bin`)).toBe(sha256(changed));
    expect(await pendingUploads(prefix)).toBe(0);
    expect(journaledParts(work)).toBe(0);
  }, 120_000);
});

describe.each(CATALOG_KINDS)("the upload journal in a %s catalog", (kind) => {
  it("keeps an upload per key and source version, and tells which ones nothing will finish", async () => {
    const catalog = await freshCatalog(kind, tempDir());
    const source = await ensureLocation(catalog, { name: "src", url: "file:///src", kind: "posix" });
    const target = await ensureLocation(catalog, { name: "dst", url: "s3://b/p", kind: "s3" });
    const fileId = await insertFile(catalog, source.id, "a.bin", 100, 7);
    const subject = { locationId: target.id, key: "a.bin", fileId, sourceSize: 100, sourceMtimeUs: 7 };

    const journal = uploadJournal(catalog, subject);
    expect(await journal.load()).toBeUndefined();
    expect(await journal.begin("upload-1", 50)).toBeUndefined();
    await journal.savePart({ number: 2, etag: '"e2"', md5: "m2" });
    await journal.savePart({ number: 1, etag: '"e1"', md5: "m1", checksum: "c1" });
    expect(await uploadJournal(catalog, subject).load()).toEqual({
      uploadId: "upload-1",
      partSize: 50,
      parts: [
        { number: 1, etag: '"e1"', md5: "m1", checksum: "c1" },
        { number: 2, etag: '"e2"', md5: "m2" },
      ],
    });
    // Another version of the source does not see it, and replacing it names the one to abort.
    const newer = uploadJournal(catalog, { ...subject, sourceMtimeUs: 8 });
    expect(await newer.load()).toBeUndefined();
    expect(await staleUploads(catalog, target.id)).toEqual([]);

    await catalog.db.updateTable("files").set({ mtime_us: 8 }).where("id", "=", fileId).execute();
    expect((await staleUploads(catalog, target.id)).map((u) => u.uploadId)).toEqual(["upload-1"]);
    expect(await newer.begin("upload-2", 50)).toBe("upload-1");
    expect(await staleUploads(catalog, target.id)).toEqual([]);

    await catalog.db.updateTable("files").set({ state: "deleted" }).where("id", "=", fileId).execute();
    const stale = await staleUploads(catalog, target.id);
    expect(stale.map((u) => u.uploadId)).toEqual(["upload-2"]);
    await forgetUploads(
      catalog,
      stale.map((u) => u.id),
    );
    expect(await catalog.db.selectFrom("upload_parts").selectAll().execute()).toEqual([]);
    await catalog.close();
  });
});

async function insertFile(
  catalog: Awaited<ReturnType<typeof freshCatalog>>,
  locationId: number,
  path: string,
  size: number,
  mtimeUs: number,
): Promise<number> {
  const row = await catalog.db
    .insertInto("files")
    .values({
      location_id: locationId,
      path,
      kind: "file",
      size,
      mtime_us: mtimeUs,
      atime_us: 0,
      ctime_us: 0,
      mode: 0o644,
      uid: 0,
      gid: 0,
      inode: 1,
      hash: null,
      file_type: null,
      tags: null,
      state: "present",
      first_scan_id: 0,
      seen_scan_id: 0,
      changed_scan_id: 0,
      deleted_scan_id: null,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}

async function stored(key: string): Promise<Buffer> {
  const out = await rgw.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

describe("a sync through a throttled, failing S3 endpoint (Ceph RGW behind the fault proxy)", () => {
  it("retries 503 SlowDown, 500 and connection resets, and completes with every object intact", async () => {
    const { work, prefix, big } = workspace(22 * 1024 * 1024 + 77);
    const files = { ...randomTree(join(work, "tree"), 300, 16_384), "big.bin": readFileSync(big) };
    // One request in six fails here, so a request retried 4 times (the default) still fails for
    // good once in (1/6)^5 ≈ 7,800 tries: about one run in twelve over this run's ~650 requests
    // with retries of their own. Eight retries make that one in millions, and every fault is
    // still met and retried.
    appendFileSync(join(work, "strata.yaml"), "defaults:\n  retries: 8\n");

    proxy.resetCounts();
    // Every request, the first HeadBucket included, has a 1 in 6 chance of a fault.
    proxy.setFaults({ slowDown: 0.06, internalError: 0.05, reset: 0.05 });
    const result = await strata(["--json", "sync", "scratch", "cloud"], { cwd: work, env }).finally(() =>
      proxy.setFaults({}),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).result.copied.files).toBe(301);
    expect(proxy.faults.slowDown).toBeGreaterThan(0);
    expect(proxy.faults.internalError).toBeGreaterThan(0);
    expect(proxy.faults.reset).toBeGreaterThan(0);
    expect(proxy.count("UploadPart")).toBeGreaterThanOrEqual(5);

    const entries = Object.entries(files);
    for (let start = 0; start < entries.length; start += 32) {
      const batch = entries.slice(start, start + 32);
      const contents = await Promise.all(batch.map(([path]) => stored(`${prefix}/${path}`)));
      const wrong = batch.filter(([, content], i) => !contents[i]?.equals(content)).map(([path]) => path);
      expect(wrong).toEqual([]);
    }
    expect(await pendingUploads(prefix)).toBe(0);
  }, 180_000);
});
