import {
  CreateBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutBucketPolicyCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { sh } from "./setup.js";

// Listing loops stop here whatever the server says: 10,000 pages of 1,000 keys.
const MAX_PAGES = 10_000;

/**
 * The bench's own S3 client, for the untimed chores: making buckets, checking that a tool
 * uploaded everything, and emptying prefixes between runs so the in-RAM OSD does not fill up.
 */
export class Store {
  private readonly client: S3Client;

  constructor(
    endpoint: string,
    credentials: { accessKeyId: string; secretAccessKey: string },
    /** Where `radosgw-admin` finds the RGW running now (it may be restarted). */
    private readonly rgw?: { readonly conf: string | undefined },
  ) {
    this.client = new S3Client({
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials,
      // Ceph RGW 16 stores the SDK's default aws-chunked checksum trailers as data.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  async createBucket(bucket: string): Promise<void> {
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (err) {
      if ((err as Error).name !== "BucketAlreadyOwnedByYou") throw err;
    }
  }

  /** Keys and bytes under a prefix. */
  /**
   * Lets anyone read and write the bucket's objects, for bench/floors' programs, which send no
   * signature (the bucket is the bench's own, on its throwaway RGW).
   */
  async allowAnonymous(bucket: string): Promise<void> {
    const statement = { Effect: "Allow", Principal: "*", Action: ["s3:GetObject", "s3:PutObject"] };
    const policy = { Version: "2012-10-17", Statement: [{ ...statement, Resource: [`arn:aws:s3:::${bucket}/*`] }] };
    await this.client.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
  }

  async count(bucket: string, prefix: string): Promise<{ objects: number; bytes: number }> {
    let objects = 0;
    let bytes = 0;
    for await (const object of this.objects(bucket, prefix)) {
      objects += 1;
      bytes += object.size;
    }
    return { objects, bytes };
  }

  /** Each object under a prefix: its key and size. */
  async *objects(bucket: string, prefix: string): AsyncGenerator<{ key: string; size: number }> {
    for await (const page of this.pages(bucket, prefix)) {
      for (const object of page.Contents ?? []) yield { key: object.Key ?? "", size: object.Size ?? 0 };
    }
  }

  /** Deletes everything under a prefix and has RGW free the data at once (not in 2 h). */
  async purge(bucket: string, prefix: string): Promise<void> {
    for await (const page of this.pages(bucket, prefix)) {
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
      if (keys.length === 0) continue;
      const out = await this.client.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Quiet: true, Objects: keys } }),
      );
      if (out.Errors?.length) throw new Error(`purge ${bucket}/${prefix}: ${out.Errors[0]?.Message}`);
    }
    this.collectGarbage();
  }

  /**
   * Deleted objects' tails (parts of multipart uploads and data past 4 MiB) wait in RGW's
   * garbage collector; process it now so the next run finds the memory free.
   */
  private collectGarbage(): void {
    const conf = this.rgw?.conf;
    if (!conf) return;
    sh(["radosgw-admin", "-c", conf, "gc", "process", "--include-all"], { timeoutMs: 10 * 60_000 });
  }

  private async *pages(bucket: string, prefix: string): AsyncGenerator<ListObjectsV2CommandOutput> {
    let token: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const out = await this.client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      yield out;
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
      if (!token) return;
    }
    throw new Error(`listing ${bucket}/${prefix}: more than ${MAX_PAGES} pages`);
  }

  close(): void {
    this.client.destroy();
  }
}
