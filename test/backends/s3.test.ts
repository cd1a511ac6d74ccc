import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLocationUrl } from "../../src/backends/all.js";
import { AccessDeniedError, NotFoundError, TransientError, UnreachableError } from "../../src/backends/backend.js";
import { S3Backend } from "../../src/backends/s3/s3-backend.js";
import { s3OptionsSchema as s3Schema } from "../../src/backends/s3/s3-options.js";
import { useRgwCredentials } from "../support/rgw-credentials.js";
import { type RgwWithBuckets, startRgwWithBuckets } from "../support/rgw-server.js";
import { type ArchiveProxy, startArchiveProxy } from "../support/s3-archive-proxy.js";
import { type FaultProxy, startFaultProxy } from "../support/s3-fault-proxy.js";
import { backendContract, get, info, put } from "./contract.js";
import { failingAfter, memoryJournal } from "./upload-journal.js";

const BUCKET = "strata-contract";
const RESTORE_DELAY_MS = 500;
let rgw: RgwWithBuckets;
let proxy: ArchiveProxy;
let faults: FaultProxy;

beforeAll(async () => {
  rgw = await startRgwWithBuckets([BUCKET]);
  proxy = await startArchiveProxy(rgw.endpoint, RESTORE_DELAY_MS);
  faults = await startFaultProxy(proxy.endpoint);
  // Credentials reach the backend the standard way: environment, and a shared profile file.
  useRgwCredentials(rgw);
}, 180_000);

afterAll(async () => {
  await faults?.close();
  await proxy?.close();
  rgw?.stop();
});

function backend(url: string, endpoint = proxy.endpoint, extra: Record<string, unknown> = {}) {
  const location = parseLocationUrl(url);
  if (location.kind !== "s3") throw new Error("not s3");
  // RGW 16 cannot take aws-chunked checksum trailers: the documented per-location setting.
  const options = s3Schema.parse({ endpoint, forcePathStyle: true, checksums: "when_required", ...extra });
  return S3Backend.open(location, options);
}

backendContract({
  name: "s3 (Ceph RGW)",
  restoreDelayMs: RESTORE_DELAY_MS,
  make: () => backend(`s3://${BUCKET}/${randomBytes(6).toString("hex")}`),
  misconfigured: async () => [
    {
      label: "wrong credentials",
      backend: await backend(`s3://${BUCKET}`, proxy.endpoint, { profile: "wrong" }),
      error: AccessDeniedError,
    },
    { label: "missing bucket", backend: await backend("s3://strata-no-such-bucket"), error: NotFoundError },
    {
      label: "unreachable endpoint",
      backend: await backend(`s3://${BUCKET}`, "http://127.0.0.1:9"),
      error: UnreachableError,
    },
  ],
});

describe("s3 specifics", () => {
  it("uploads in parts above the part size and verifies the stored ETag", async () => {
    const b = await backend(`s3://${BUCKET}/${randomBytes(6).toString("hex")}`, proxy.endpoint, { partSize: "5MiB" });
    const body = randomBytes(12 * 1024 * 1024 + 7);
    const stored = await put(b, "multi.bin", body);
    expect(stored.etag).toMatch(/-3"?$/);
    expect(stored.size).toBe(body.length);
    await b.close();
  });

  it("keeps Strata's attributes and tags with the object", async () => {
    const b = await backend(`s3://${BUCKET}/${randomBytes(6).toString("hex")}`);
    await put(b, "tagged", "x", { tags: { project: "climate" } });
    const info = await b.stat("tagged");
    expect(info?.attributes?.mtimeUs).toBe(1_600_000_000_123_456);
    expect(info?.attributes?.mode).toBe(0o640);
    await b.close();
  });
});

const MiB = 1024 * 1024;

async function pendingUploads(prefix: string): Promise<number> {
  const out = await rgw.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: prefix }));
  return out.Uploads?.length ?? 0;
}

describe("s3 multipart uploads: resume and abort", () => {
  const body = randomBytes(4 * 5 * MiB + 1000); // five parts of 5 MiB, the last short
  const open = (prefix: string) =>
    backend(`s3://${BUCKET}/${prefix}`, faults.endpoint, { partSize: "5MiB", partsInFlight: 2 });

  it("resumes an interrupted upload from its journal, sending only the missing parts", async () => {
    const prefix = randomBytes(6).toString("hex");
    const b = await open(prefix);
    const journal = memoryJournal();
    const first = b.write("big", failingAfter(body, 16 * MiB), info(body.length, { journal }));
    await expect(first).rejects.toThrow(/the source went away/);
    // The parts read before the source died went up (in flight ones finished) and are journaled.
    expect(journal.state?.parts.map((p) => p.number).sort()).toEqual([1, 2, 3]);
    expect(await pendingUploads(prefix)).toBe(1);

    faults.resetCounts();
    const stored = await b.write("big", Readable.from([body]), info(body.length, { journal }));
    expect(faults.count("CreateMultipartUpload")).toBe(0);
    expect(faults.count("UploadPart")).toBe(2);
    expect(stored.sha256).toBe(createHash("sha256").update(body).digest("hex"));
    expect(stored.etag).toMatch(/-5"?$/);
    expect((await get(b, "big")).equals(body)).toBe(true);
    expect(journal.state).toBeUndefined();
    expect(await pendingUploads(prefix)).toBe(0);
    await b.close();
  });

  it("aborts a failed upload that has no journal to resume it", async () => {
    const prefix = randomBytes(6).toString("hex");
    const b = await open(prefix);
    await expect(b.write("big", failingAfter(body, 2 * 5 * MiB), info(body.length))).rejects.toThrow(/went away/);
    expect(await pendingUploads(prefix)).toBe(0);
    await b.close();
  });

  it("starts over, retryably, when the journaled upload is gone", async () => {
    const prefix = randomBytes(6).toString("hex");
    const b = await open(prefix);
    const journal = memoryJournal();
    await expect(b.write("big", failingAfter(body, 6 * MiB), info(body.length, { journal }))).rejects.toThrow();
    await b.abortUpload("big", journal.state?.uploadId ?? "");
    const again = b.write("big", Readable.from([body]), info(body.length, { journal }));
    await expect(again).rejects.toBeInstanceOf(TransientError);
    expect(journal.state).toBeUndefined();
    await put(b, "big", body, { journal });
    expect((await get(b, "big")).equals(body)).toBe(true);
    await b.close();
  });

  it("checks a busy store again instead of giving up: SlowDown, 500 and a reset, then an answer", async () => {
    const b = await open("");
    faults.resetCounts();
    faults.failNext(1, "slowDown");
    faults.failNext(1, "internalError");
    faults.failNext(1, "reset");
    await b.check();
    expect(faults.count("HeadBucket")).toBe(4);
    await b.close();
  });
});
