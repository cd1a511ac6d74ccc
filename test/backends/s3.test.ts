import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AccessDeniedError, NotFoundError, UnreachableError } from "../../src/backends/backend.js";
import { parseLocationUrl } from "../../src/backends/registry.js";
import { S3Backend } from "../../src/backends/s3.js";
import { s3Schema } from "../../src/config/schema.js";
import { type RgwServer, startRgw } from "../support/rgw-server.js";
import { type ArchiveProxy, startArchiveProxy } from "../support/s3-archive-proxy.js";
import { tempDir } from "../support/tmp.js";
import { backendContract, put } from "./contract.js";

const BUCKET = "strata-contract";
const RESTORE_DELAY_MS = 500;
let rgw: RgwServer;
let proxy: ArchiveProxy;

beforeAll(async () => {
  rgw = await startRgw();
  proxy = await startArchiveProxy(rgw.endpoint, RESTORE_DELAY_MS);
  // Credentials reach the backend the standard way: environment, and a shared profile file.
  process.env.AWS_ACCESS_KEY_ID = rgw.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = rgw.secretAccessKey;
  const profiles = join(tempDir(), "credentials");
  writeFileSync(profiles, "[wrong]\naws_access_key_id = nobody\naws_secret_access_key = nothing\n");
  process.env.AWS_SHARED_CREDENTIALS_FILE = profiles;
  const client = new S3Client({ endpoint: rgw.endpoint, region: "us-east-1", forcePathStyle: true });
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  client.destroy();
}, 180_000);

afterAll(async () => {
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
