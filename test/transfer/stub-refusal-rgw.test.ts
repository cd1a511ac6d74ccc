import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLocationUrl } from "../../src/backends/all.js";
import type { Backend } from "../../src/backends/backend.js";
import { PosixBackend } from "../../src/backends/posix/posix-backend.js";
import { S3Backend } from "../../src/backends/s3/s3-backend.js";
import { s3OptionsSchema } from "../../src/backends/s3/s3-options.js";
import { renderStub } from "../../src/codec/stub.js";
import { copyVerified } from "../../src/transfer/copy.js";
import { put } from "../backends/contract.js";
import { useRgwCredentials } from "../support/rgw-credentials.js";
import { type RgwWithBuckets, startRgwWithBuckets } from "../support/rgw-server.js";
import { tempDir } from "../support/tmp.js";

/*
 * The copy's last guard against copying a Strata stub over the data it stands for: whatever the
 * catalog says, a small source whose bytes are a stub is refused. A file of a tree comes as its
 * bytes read whole; an object comes streamed from the store. Both must be refused, and a small
 * body that is no stub must arrive whole either way.
 */

const BUCKET = "strata-stubs";
let rgw: RgwWithBuckets;
let store: S3Backend;

beforeAll(async () => {
  rgw = await startRgwWithBuckets([BUCKET]);
  useRgwCredentials(rgw);
  const location = parseLocationUrl(`s3://${BUCKET}`);
  if (location.kind !== "s3") throw new Error("not s3");
  store = await S3Backend.open(
    location,
    s3OptionsSchema.parse({ endpoint: rgw.endpoint, forcePathStyle: true, checksums: "when_required" }),
  );
}, 180_000);

afterAll(() => rgw?.stop());

const stub = Buffer.from(
  renderStub("cold-after-90d", "scratch:run/a.dat", new Date(), {
    strata: "stub",
    version: 1,
    path: "run/a.dat",
    size: 5_000_000,
    mtimeUs: 1_600_000_000_000_000,
    sha256: "a".repeat(64),
    replicas: [{ location: "cold", url: "s3://cold", key: "run/a.dat", class: "GLACIER" }],
  }),
);

function copy(source: Backend, key: string, target: Backend, size: number) {
  return copyVerified({ source, sourceKey: key, target, targetKey: key, size, attributes: { mtimeUs: 1 } });
}

describe("copyVerified refuses a stub as its source, from a tree and from an object store", () => {
  it("refuses a stub read whole from a tree, and copies a small file that only starts like one", async () => {
    const dir = tempDir("strata-stub-src-");
    writeFileSync(join(dir, "a.dat"), stub);
    const lookalike = Buffer.concat([stub.subarray(0, 40), randomBytes(3000)]);
    writeFileSync(join(dir, "b.dat"), lookalike);
    const source = new PosixBackend(dir, `file://${dir}`);

    await expect(copy(source, "a.dat", store, stub.length)).rejects.toThrow("is a Strata stub, not data: not copied");
    const copied = await copy(source, "b.dat", store, lookalike.length);
    expect(copied.size).toBe(lookalike.length);
  });

  it("refuses a stub streamed from an object store, writing nothing at the target", async () => {
    await put(store, "objects/a.dat", stub);
    const lookalike = Buffer.concat([stub.subarray(0, 40), randomBytes(60_000)]);
    await put(store, "objects/b.dat", lookalike);
    const dir = tempDir("strata-stub-dst-");
    const target = new PosixBackend(dir, `file://${dir}`);

    await expect(copy(store, "objects/a.dat", target, stub.length)).rejects.toThrow(
      "is a Strata stub, not data: not copied",
    );
    expect(existsSync(join(dir, "objects/a.dat"))).toBe(false);
    await copy(store, "objects/b.dat", target, lookalike.length);
    expect(readFileSync(join(dir, "objects/b.dat"))).toEqual(lookalike);
    expect(readdirSync(join(dir, "objects"))).toEqual(["b.dat"]);
  });
});
