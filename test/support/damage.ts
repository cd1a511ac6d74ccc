import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import Database from "better-sqlite3";

/**
 * Damage done behind Strata's back, as a failing disk or a careless script would: the bytes of
 * an object change, its size, index entry and metadata (its recorded SHA-256 included) do not.
 */

/** Flips every bit of an object in the embedded store's blob directory. */
export function corruptBlob(storeDir: string, key: string): void {
  const index = new Database(join(storeDir, "index.db"), { readonly: true });
  const { blob } = index.prepare("SELECT blob FROM objects WHERE key = ?").get(key) as { blob: string };
  index.close();
  const path = join(storeDir, "blobs", blob);
  const bytes = readFileSync(path);
  writeFileSync(path, Buffer.from(bytes.map((b) => b ^ 0xff)));
}

/** Rewrites an S3 object with every bit flipped, keeping its metadata (and so its strata-sha256). */
export async function corruptObject(client: S3Client, bucket: string, key: string): Promise<void> {
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const bytes = Buffer.from((await got.Body?.transformToByteArray()) ?? []);
  await client.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: Buffer.from(bytes.map((b) => b ^ 0xff)),
      Metadata: head.Metadata,
      ...(head.StorageClass ? { StorageClass: head.StorageClass } : {}),
    }),
  );
}
