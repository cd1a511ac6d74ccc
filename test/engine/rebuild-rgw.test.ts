/**
 * Issue 12, "rebuild and check" against S3 (a real Ceph RGW, one server for both cases): the
 * catalog rebuilt from a bucket whose objects carry Strata's metadata (a multipart object keeps
 * its SHA-256 in a tag), and `catalog check` finding faults made with the AWS SDK, a multipart
 * upload begun and abandoned among them.
 */
import { randomBytes } from "node:crypto";
import {
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, it } from "vitest";
import { freshCatalogUrl } from "../support/catalogs.js";
import { type RgwWithBuckets, rgwLocationYaml, startRgwWithBuckets } from "../support/rgw-server.js";
import { tempDir } from "../support/tmp.js";
import { checkFaults, rebuildRoundTrip, rebuildWorkspace, type StoreFaults } from "./rebuild-scenarios.js";

const MiB = 1024 * 1024;
const BUCKET = "strata-rebuild";

let rgw: RgwWithBuckets;

beforeAll(async () => {
  rgw = await startRgwWithBuckets([BUCKET]);
  // The scenarios read the bucket back through Strata's own backend, in this process too.
  Object.assign(process.env, rgw.env);
}, 240_000);

afterAll(() => {
  rgw?.stop();
});

function archiveAt(prefix: string): string[] {
  return rgwLocationYaml("archive", `s3://${BUCKET}/${prefix}`, rgw.endpoint, { s3: { partSize: "5MiB" } });
}

/** Faults made straight on the bucket with the SDK, under the location's prefix. */
function s3Faults(prefix: string): StoreFaults {
  const { client } = rgw;
  const Key = (key: string) => `${prefix}/${key}`;
  return {
    deleteObject: async (key) => {
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: Key(key) }));
    },
    putForeign: async (key, bytes) => {
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: Key(key), Body: bytes }));
    },
    abandonUpload: async (key) => {
      const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: Key(key) }));
      await client.send(
        new UploadPartCommand({ Bucket: BUCKET, Key: Key(key), UploadId, PartNumber: 1, Body: randomBytes(1024) }),
      );
    },
    pendingUploads: async () => {
      const listed = await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: `${prefix}/` }));
      return (listed.Uploads ?? []).map((u) => (u.Key ?? "").slice(prefix.length + 1));
    },
  };
}

describe("strata catalog rebuild and check against S3 (Ceph RGW)", () => {
  it("a lost catalog comes back from the tree and the bucket (a multipart object among them)", async () => {
    const ws = rebuildWorkspace(archiveAt("rebuild"), await freshCatalogUrl("sqlite", tempDir()), rgw.env, {
      "new/big.bin": randomBytes(6 * MiB),
    });
    await rebuildRoundTrip(ws, () => freshCatalogUrl("sqlite", tempDir()));
  }, 240_000);

  it("check names each fault, an abandoned multipart upload among them; --repair aborts it and deletes no object", async () => {
    const ws = rebuildWorkspace(archiveAt("check"), await freshCatalogUrl("sqlite", tempDir()), rgw.env);
    await checkFaults(ws, s3Faults("check"));
  }, 240_000);
});
