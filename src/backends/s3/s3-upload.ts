import { createHash } from "node:crypto";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  type S3Client,
  type StorageClass,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { BackendError, type UploadedPart } from "../backend.js";
import { type Part, type PartedBody, type PartStore, UploadGoneError } from "../multipart.js";

/** One S3 object written in parts, and how its requests are sent (their errors typed). */
export interface S3Upload {
  url: string;
  /** The key as the caller names it, for messages. */
  key: string;
  client: S3Client;
  bucket: string;
  /** The key in the bucket, prefix included. */
  objectKey: string;
  /** Parts carry a CRC32 the server checks and completion repeats. */
  checksummed: boolean;
  storageClass?: StorageClass;
  metadata?: Record<string, string>;
  attempt<T>(request: () => Promise<T>): Promise<T>;
}

/** The ETag S3 gives an object completed from parts: the MD5 of the part MD5s, and their count. */
export function multipartEtag(partMd5s: readonly Buffer[]): string {
  return `${createHash("md5").update(Buffer.concat(partMd5s)).digest("hex")}-${partMd5s.length}`;
}

/** S3's multipart upload as the engine's PartStore. */
export function s3PartStore(s3: S3Upload): PartStore {
  const object = { Bucket: s3.bucket, Key: s3.objectKey };
  const crc32 = s3.checksummed ? { ChecksumAlgorithm: "CRC32" as const } : {};
  return {
    async create() {
      const created = await s3.attempt(() =>
        s3.client.send(
          new CreateMultipartUploadCommand({
            ...object,
            ...(s3.storageClass ? { StorageClass: s3.storageClass } : {}),
            ...(s3.metadata ? { Metadata: s3.metadata } : {}),
            ...crc32,
          }),
        ),
      );
      if (!created.UploadId) {
        throw new BackendError(`${JSON.stringify(s3.key)}: no upload id in the answer`, s3.url, true);
      }
      return created.UploadId;
    },

    async upload(uploadId: string, part: Part): Promise<UploadedPart> {
      const md5 = part.md5.toString("hex");
      const out = await s3.attempt(() =>
        s3.client.send(
          new UploadPartCommand({
            ...object,
            UploadId: uploadId,
            PartNumber: part.number,
            Body: part.data,
            ContentLength: part.data.length,
            ContentMD5: part.md5.toString("base64"),
            ...crc32,
          }),
        ),
      );
      const etag = out.ETag?.replaceAll('"', "") ?? "";
      if (/^[0-9a-f]{32}$/.test(etag) && etag !== md5 && out.ServerSideEncryption !== "aws:kms") {
        throw new BackendError(
          `${JSON.stringify(s3.key)}: part ${part.number} stored as ${etag}, sent ${md5}`,
          s3.url,
          true,
        );
      }
      return {
        number: part.number,
        etag: out.ETag ?? "",
        md5,
        ...(out.ChecksumCRC32 ? { checksum: out.ChecksumCRC32 } : {}),
      };
    },

    /**
     * When S3 no longer knows the upload, a completion whose answer was lost (or a run killed
     * right after one) may have made the object already: its ETag tells.
     */
    async complete(uploadId: string, parts: UploadedPart[], body: PartedBody) {
      try {
        await s3.attempt(() =>
          s3.client.send(
            new CompleteMultipartUploadCommand({
              ...object,
              UploadId: uploadId,
              MultipartUpload: {
                Parts: parts.map((p) => ({
                  PartNumber: p.number,
                  ETag: p.etag,
                  ...(p.checksum ? { ChecksumCRC32: p.checksum } : {}),
                })),
              },
            }),
          ),
        );
      } catch (err) {
        if (!(err instanceof UploadGoneError)) throw err;
        const head = await s3.client.send(new HeadObjectCommand(object)).catch(() => undefined);
        if (head?.ETag?.replaceAll('"', "") !== multipartEtag(body.partMd5s)) throw err;
      }
    },

    async abort(uploadId: string) {
      try {
        await s3.attempt(() => s3.client.send(new AbortMultipartUploadCommand({ ...object, UploadId: uploadId })));
      } catch (err) {
        if (!(err instanceof UploadGoneError)) throw err;
      }
    },
  };
}
