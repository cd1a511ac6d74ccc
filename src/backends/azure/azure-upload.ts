import { randomBytes } from "node:crypto";
import { type BlockBlobClient, RestError } from "@azure/storage-blob";
import type { UploadedPart } from "../backend.js";
import { type Part, type PartedBody, type PartStore, UploadGoneError } from "../multipart.js";

/** One blob written in blocks, and how its block list is committed (metadata, tags, tier). */
export interface AzureUpload<Committed> {
  url: string;
  /** The key as the caller names it, for messages. */
  key: string;
  blob: BlockBlobClient;
  /** Makes the blob visible from these blocks; the body's SHA-256 and MD5 are known by then. */
  commit(blockIds: string[], body: PartedBody & { md5: Buffer }): Promise<Committed>;
}

/**
 * Azure's staged blocks as the engine's PartStore. An "upload" is a write id that names its
 * blocks: staged blocks stay invisible, kept by the service for a week or until the blob's
 * block list is next committed, so a killed write's blocks are found again by their ids.
 */
export function azurePartStore<Committed>(azure: AzureUpload<Committed>): PartStore<Committed> {
  return {
    create: async () => randomBytes(6).toString("hex"),

    async upload(uploadId: string, part: Part): Promise<UploadedPart> {
      const id = blockId(uploadId, part.number);
      await azure.blob.stageBlock(id, part.data, part.data.length, { transactionalContentMD5: part.md5 });
      return { number: part.number, etag: id, md5: part.md5.toString("hex") };
    },

    async complete(uploadId: string, parts: UploadedPart[], body: PartedBody) {
      const { md5 } = body;
      if (!md5) throw new Error("azurePartStore: the whole body's MD5 was not asked for (wholeMd5)");
      try {
        return await azure.commit(
          parts.map((part) => blockId(uploadId, part.number)),
          { ...body, md5 },
        );
      } catch (err) {
        // Another commit of this blob dropped the blocks staged earlier: start over.
        if (err instanceof RestError && err.code === "InvalidBlockList") {
          throw new UploadGoneError(
            azure.url,
            `${JSON.stringify(azure.key)}: staged blocks are gone (InvalidBlockList)`,
          );
        }
        throw err;
      }
    },

    // Staged blocks cannot be deleted one by one; uncommitted, they lapse on their own.
    abort: async () => undefined,
  };
}

/** Block ids must all have the same length; the write id keeps concurrent writers' blocks apart. */
function blockId(uploadId: string, number: number): string {
  return Buffer.from(`${uploadId}-${String(number).padStart(6, "0")}`).toString("base64");
}
