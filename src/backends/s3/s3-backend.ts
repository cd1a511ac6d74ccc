import { createHash, type Hash } from "node:crypto";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  GetObjectTaggingCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
  RestoreObjectCommand,
  S3Client,
  S3ServiceException,
  type StorageClass,
  type Tier,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import {
  type Backend,
  BackendError,
  type ByteRange,
  type Capabilities,
  type CopyOptions,
  IntegrityError,
  InvalidRequestError,
  type JournaledUpload,
  NotFoundError,
  type ObjectInfo,
  type ObjectReader,
  type RestoreOptions,
  type RestoreStatus,
  TransientError,
  type UploadedPart,
  type WriteInfo,
} from "../backend.js";
import { checkExpectedHash, ExactSize, readExactly, sizeError } from "../bodies.js";
import type { CloudLocation } from "../descriptor.js";
import { attributesToMetadata, metadataToAttributes, userMetadata } from "../metadata.js";
import { S3_ARCHIVE_CLASSES, S3_CAPABILITIES, S3_STORAGE_CLASSES } from "./s3-classes.js";
import { s3Error, UploadGoneError } from "./s3-errors.js";
import type { S3Options } from "./s3-options.js";

const STORAGE_CLASSES = S3_STORAGE_CLASSES;
const ARCHIVE_CLASSES = S3_ARCHIVE_CLASSES;

// S3's multipart limits.
const MIN_PART = 5 * 1024 * 1024;
const MAX_PART = 5 * 1024 * 1024 * 1024;
const MAX_PARTS = 10_000;
const DEFAULT_PART = 16 * 1024 * 1024;
const DELETE_BATCH = 1000;
/** Probes of `check()` when the store answers but is busy. */
const CHECK_ATTEMPTS = 4;
const COPY_OBJECT_LIMIT = 5 * 1024 * 1024 * 1024;
/** Where a multipart object's SHA-256 is kept: it is known only after the parts went up. */
const SHA256_TAG = "strata-sha256";

type S3Location = CloudLocation;

/**
 * Amazon S3 and S3-compatible stores (Ceph RGW, MinIO, ...) through the AWS SDK v3. Keys are
 * relative to the location's prefix. Credentials come from the SDK's standard chain.
 */
export class S3Backend implements Backend {
  readonly caps: Capabilities = S3_CAPABILITIES;
  readonly url: string;
  /** Whether uploads carry the SDK's CRC32 besides Content-MD5 (the location's `checksums`). */
  private readonly checksummed: boolean;
  private readonly buffers = new BufferPool();

  private constructor(
    private readonly location: S3Location,
    private readonly options: S3Options,
    private readonly client: S3Client,
    /** A client that fails fast, for `check()`: one attempt, short timeouts. */
    private readonly probe: S3Client,
  ) {
    this.url = location.url;
    this.checksummed = options.checksums === "when_supported";
  }

  static async open(location: S3Location, options: S3Options): Promise<S3Backend> {
    return new S3Backend(location, options, makeClient(options, false), makeClient(options, true));
  }

  /**
   * One fast probe: a wrong bucket, key or endpoint fails at once. A store that answers but is
   * busy (503 SlowDown, 5xx, a dropped connection) is asked again a few times, not given up on.
   */
  async check(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.probe.send(new HeadBucketCommand({ Bucket: this.location.bucket }));
        return;
      } catch (err) {
        const mapped = this.error(err, "", true);
        if (!(mapped instanceof TransientError) || attempt >= CHECK_ATTEMPTS) throw mapped;
        await sleep(Math.random() * 100 * 2 ** attempt);
      }
    }
  }

  async *list(prefix = ""): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    do {
      const page = await this.attempt(prefix, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.location.bucket,
            Prefix: this.objectKey(prefix),
            ContinuationToken: token,
            // URL-encoded keys survive XML: a carriage return in a name would not.
            EncodingType: "url",
          }),
        ),
      );
      for (const object of page.Contents ?? []) {
        const key = this.relativeKey(decodeURIComponent(object.Key ?? ""));
        yield {
          key,
          size: object.Size ?? 0,
          modifiedUs: (object.LastModified?.getTime() ?? 0) * 1000,
          storageClass: object.StorageClass ?? "STANDARD",
          ...(object.ETag ? { etag: object.ETag } : {}),
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const request = { Bucket: this.location.bucket, Key: this.objectKey(key) };
    try {
      const [head, tagging] = await Promise.all([
        this.client.send(new HeadObjectCommand(request)),
        this.client.send(new GetObjectTaggingCommand(request)),
      ]);
      return infoFrom(key, head, Object.fromEntries((tagging.TagSet ?? []).map((t) => [t.Key ?? "", t.Value ?? ""])));
    } catch (err) {
      const mapped = this.error(err, key);
      if (mapped instanceof NotFoundError) return undefined;
      throw mapped;
    }
  }

  async read(key: string, range?: ByteRange): Promise<ObjectReader> {
    const out: GetObjectCommandOutput = await this.attempt(key, () =>
      this.client.send(
        new GetObjectCommand({
          Bucket: this.location.bucket,
          Key: this.objectKey(key),
          ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
      ),
    );
    if (!(out.Body instanceof Readable))
      throw new BackendError(`${JSON.stringify(key)}: no body in the answer`, this.url, true);
    const info = infoFrom(key, out);
    if (range) info.size = Number(out.ContentRange?.split("/")[1] ?? info.size);
    return { info, body: out.Body };
  }

  async write(key: string, body: Readable, info: WriteInfo): Promise<ObjectInfo> {
    this.checkKey(key);
    const storageClass = this.checkClass(info.storageClass) as StorageClass;
    const partSize = this.partSize(info.size);
    return info.size < partSize
      ? this.writeWhole(key, body, info, storageClass)
      : this.writeInParts(key, body, info, storageClass, partSize);
  }

  /**
   * A body under one part is buffered anyway, so it is hashed before it is sent (and refused
   * unsent when it is not the SHA-256 expected): the SHA-256 goes into the metadata and the MD5
   * into Content-MD5, which the server checks on arrival.
   */
  private async writeWhole(key: string, body: Readable, info: WriteInfo, storageClass: StorageClass) {
    const data = await readExactly(body, info.size, (received) => sizeError(this.url, key, info.size, received));
    const sha256 = createHash("sha256").update(data).digest("hex");
    checkExpectedHash(this.url, key, info, sha256);
    const md5 = createHash("md5").update(data);
    const attributes = { ...info.attributes, sha256 };
    const put = await this.attempt(key, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.location.bucket,
          Key: this.objectKey(key),
          Body: data,
          ContentLength: data.length,
          ContentMD5: md5.copy().digest("base64"),
          StorageClass: storageClass,
          Metadata: { ...(info.metadata ?? {}), ...attributesToMetadata(attributes) },
          ...(info.tags && Object.keys(info.tags).length > 0
            ? { Tagging: new URLSearchParams(info.tags).toString() }
            : {}),
        }),
      ),
    );
    // The server checked Content-MD5 on arrival and answers with the ETag: no HEAD needed.
    await this.checkStoredEtag(key, put, md5.digest("hex"));
    return {
      key,
      size: data.length,
      modifiedUs: Date.now() * 1000,
      storageClass,
      sha256,
      attributes,
      metadata: info.metadata ?? {},
      tags: info.tags ?? {},
      ...(put.ETag ? { etag: put.ETag } : {}),
    };
  }

  /**
   * A large body goes up in parts, several in flight, each with its Content-MD5 (checked by the
   * server) and hashed on the way; its SHA-256 is known only at the end, so it is recorded as
   * the `strata-sha256` tag. With a journal, acknowledged parts are recorded as they complete
   * and a later write of the same source version skips the parts whose bytes still read the
   * same (the prefix is read again for the hashes, not sent again); a failed upload is then
   * left for that write to resume. Without one, a failed upload is aborted, as is one whose
   * bytes are not the SHA-256 expected: it is never completed, so the previous object stays.
   */
  private async writeInParts(
    key: string,
    body: Readable,
    info: WriteInfo,
    storageClass: StorageClass,
    partSize: number,
  ) {
    // A wrong-length body fails before the upload completes, so the previous object stays.
    const exact = new ExactSize(info.size, (received) => sizeError(this.url, key, info.size, received));
    body.on("error", (err) => exact.destroy(err));
    const upload = await this.openUpload(key, info, storageClass, partSize);
    let sent: SentParts;
    try {
      sent = await this.sendParts(key, body.pipe(exact), upload, info);
      checkExpectedHash(this.url, key, info, sent.sha256);
      await this.completeUpload(key, upload.uploadId, sent.parts, sent.etag);
    } catch (err) {
      if (err instanceof UploadGoneError) await info.journal?.clear();
      else if (err instanceof IntegrityError || !info.journal) {
        await this.abortUpload(key, upload.uploadId).catch(() => undefined);
        await info.journal?.clear();
      }
      throw err;
    }
    await info.journal?.clear();
    const tags = { ...(info.tags ?? {}), [SHA256_TAG]: sent.sha256 };
    await this.attempt(key, () =>
      this.client.send(
        new PutObjectTaggingCommand({
          Bucket: this.location.bucket,
          Key: this.objectKey(key),
          Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
        }),
      ),
    );
    return this.verifyStored(key, sent.etag, sent.sha256, tags);
  }

  /** The journaled upload of this source version when its parts fit, else a new one. */
  private async openUpload(
    key: string,
    info: WriteInfo,
    storageClass: StorageClass,
    partSize: number,
  ): Promise<JournaledUpload> {
    const earlier = await info.journal?.load();
    if (earlier?.partSize === partSize) return earlier;
    // Cut at other offsets (the part size setting changed), its parts cannot be reused.
    if (earlier) await this.abortUpload(key, earlier.uploadId);
    const created = await this.attempt(key, () =>
      this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.location.bucket,
          Key: this.objectKey(key),
          StorageClass: storageClass,
          Metadata: { ...(info.metadata ?? {}), ...attributesToMetadata(info.attributes) },
          ...(this.checksummed ? { ChecksumAlgorithm: "CRC32" } : {}),
        }),
      ),
    );
    if (!created.UploadId) throw new BackendError(`${JSON.stringify(key)}: no upload id in the answer`, this.url, true);
    const replaced = await info.journal?.begin(created.UploadId, partSize);
    if (replaced) await this.abortUpload(key, replaced).catch(() => undefined);
    return { uploadId: created.UploadId, partSize, parts: [] };
  }

  /**
   * Cuts the body into parts and sends those the upload does not hold yet, at most `streams`
   * (default `partsInFlight`) at once. Returns every part, the body's SHA-256, and the ETag S3 will give
   * the whole (the MD5 of the part MD5s).
   */
  private async sendParts(
    key: string,
    body: Readable,
    upload: JournaledUpload,
    { journal, streams = this.options.partsInFlight }: WriteInfo,
  ): Promise<SentParts> {
    const sha256 = createHash("sha256");
    const buffers = this.buffers.sized(upload.partSize);
    const held = new Map(upload.parts.map((p) => [p.number, p]));
    const md5s: Buffer[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | undefined;
    try {
      for await (const part of cutParts(body, sha256, buffers)) {
        md5s.push(part.md5);
        if (held.get(part.number)?.md5 === part.md5.toString("hex")) {
          buffers.release(part.buffer);
          continue;
        }
        while (inFlight.size >= streams) await Promise.race(inFlight);
        if (failure) {
          buffers.release(part.buffer);
          break;
        }
        const sending: Promise<void> = this.uploadPart(key, upload.uploadId, part)
          .then(async (sent) => {
            held.set(sent.number, sent);
            await journal?.savePart(sent);
          })
          .catch((error: unknown) => {
            failure ??= { error };
          })
          .finally(() => {
            buffers.release(part.buffer);
            inFlight.delete(sending);
          });
        inFlight.add(sending);
      }
    } finally {
      await Promise.all(inFlight);
    }
    if (failure) throw failure.error;
    return {
      parts: [...held.values()].sort((a, b) => a.number - b.number),
      sha256: sha256.digest("hex"),
      etag: `${createHash("md5").update(Buffer.concat(md5s)).digest("hex")}-${md5s.length}`,
    };
  }

  private async uploadPart(key: string, uploadId: string, part: Part): Promise<UploadedPart> {
    const md5 = part.md5.toString("hex");
    const out = await this.attempt(key, () =>
      this.client.send(
        new UploadPartCommand({
          Bucket: this.location.bucket,
          Key: this.objectKey(key),
          UploadId: uploadId,
          PartNumber: part.number,
          Body: part.data,
          ContentLength: part.data.length,
          ContentMD5: part.md5.toString("base64"),
          ...(this.checksummed ? { ChecksumAlgorithm: "CRC32" } : {}),
        }),
      ),
    );
    const etag = out.ETag?.replaceAll('"', "") ?? "";
    if (/^[0-9a-f]{32}$/.test(etag) && etag !== md5 && out.ServerSideEncryption !== "aws:kms") {
      throw new BackendError(
        `${JSON.stringify(key)}: part ${part.number} stored as ${etag}, sent ${md5}`,
        this.url,
        true,
      );
    }
    return {
      number: part.number,
      etag: out.ETag ?? "",
      md5,
      ...(out.ChecksumCRC32 ? { checksum: out.ChecksumCRC32 } : {}),
    };
  }

  /**
   * Completes the upload. When S3 no longer knows it, a completion whose answer was lost (or a
   * run killed right after one) may have made the object already: its ETag tells.
   */
  private async completeUpload(key: string, uploadId: string, parts: UploadedPart[], etag: string): Promise<void> {
    try {
      await this.attempt(key, () =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.location.bucket,
            Key: this.objectKey(key),
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
      const head = await this.client
        .send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key) }))
        .catch(() => undefined);
      if (head?.ETag?.replaceAll('"', "") !== etag) throw err;
    }
  }

  async abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.attempt(key, () =>
        this.client.send(
          new AbortMultipartUploadCommand({
            Bucket: this.location.bucket,
            Key: this.objectKey(key),
            UploadId: uploadId,
          }),
        ),
      );
    } catch (err) {
      if (!(err instanceof UploadGoneError)) throw err;
    }
  }

  /** Reads the object's head back and checks its ETag against what was sent. */
  private async verifyStored(
    key: string,
    etag: string,
    sha256: string,
    tags: Record<string, string>,
  ): Promise<ObjectInfo> {
    const head = await this.attempt(key, () =>
      this.client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key) })),
    );
    await this.checkStoredEtag(key, head, etag);
    return { ...infoFrom(key, head, tags), sha256 };
  }

  /** A body under one part is buffered whole; a larger one holds `streams` parts in flight and one filling. */
  writeBuffer(size: number, streams = this.options.partsInFlight): number {
    const partSize = this.partSize(size);
    return size < partSize ? size : partSize * (streams + 1);
  }

  async copy(from: string, to: string, opts: CopyOptions = {}): Promise<ObjectInfo> {
    const source = await this.stat(from);
    if (!source) throw new NotFoundError(this.url, from);
    const storageClass = this.checkClass(opts.storageClass ?? source.storageClass);
    if (source.size > COPY_OBJECT_LIMIT) {
      await this.copyInParts(from, to, source, storageClass);
    } else {
      await this.attempt(to, () =>
        this.client.send(
          new CopyObjectCommand({
            Bucket: this.location.bucket,
            Key: this.objectKey(to),
            CopySource: this.copySource(from),
            StorageClass: storageClass as StorageClass,
            MetadataDirective: "COPY",
            TaggingDirective: "COPY",
          }),
        ),
      );
    }
    const copied = await this.stat(to);
    if (!copied) throw new NotFoundError(this.url, to);
    return copied;
  }

  async delete(keys: string[]): Promise<void> {
    for (let start = 0; start < keys.length; start += DELETE_BATCH) {
      const batch = keys.slice(start, start + DELETE_BATCH);
      const out = await this.attempt(batch[0] ?? "", () =>
        this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.location.bucket,
            Delete: { Quiet: true, Objects: batch.map((key) => ({ Key: this.objectKey(key) })) },
          }),
        ),
      );
      const failed = (out.Errors ?? []).filter((e) => e.Code !== "NoSuchKey");
      if (failed.length > 0) {
        const first = failed[0];
        throw new BackendError(
          `${failed.length} of ${batch.length} deletes failed, first ${JSON.stringify(first?.Key)}: ${first?.Code}`,
          this.url,
          failed.every((e) => e.Code === "SlowDown" || e.Code === "InternalError"),
        );
      }
    }
  }

  async restore(key: string, opts: RestoreOptions): Promise<RestoreStatus> {
    const before = await this.stat(key);
    if (!before) throw new NotFoundError(this.url, key);
    if (before.restore?.state !== "archived") return before.restore ?? { state: "not-archived" };
    try {
      await this.client.send(
        new RestoreObjectCommand({
          Bucket: this.location.bucket,
          Key: this.objectKey(key),
          RestoreRequest: { Days: opts.days, GlacierJobParameters: { Tier: tierName(opts.tier) } },
        }),
      );
    } catch (err) {
      if (!(err instanceof S3ServiceException && err.name === "RestoreAlreadyInProgress")) throw this.error(err, key);
    }
    return (await this.stat(key))?.restore ?? { state: "restoring" };
  }

  async close(): Promise<void> {
    this.buffers.clear();
    this.client.destroy();
    this.probe.destroy();
  }

  /**
   * The store's own check of what it stored: for objects without SSE-KMS, S3's ETag is the MD5
   * of the body (single PUT) or of the parts' MD5s (multipart), which we computed while sending.
   */
  private async checkStoredEtag(
    key: string,
    head: { ETag?: string; ServerSideEncryption?: string },
    expected: string,
  ): Promise<void> {
    const etag = head.ETag?.replaceAll('"', "");
    if (!etag || !/^[0-9a-f]{32}(-\d+)?$/.test(etag) || head.ServerSideEncryption === "aws:kms") return;
    if (etag !== expected) {
      // Not deleted: a check that fails must never remove what is at a key.
      throw new BackendError(
        `${JSON.stringify(key)}: stored ETag ${etag} does not match the bytes sent (${expected})`,
        this.url,
        true,
      );
    }
  }

  /** Objects over 5 GiB cannot be copied in one request: UploadPartCopy in ranges. */
  private async copyInParts(from: string, to: string, source: ObjectInfo, storageClass: string): Promise<void> {
    const head = await this.client.send(
      new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(from) }),
    );
    const created = await this.attempt(to, () =>
      this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.location.bucket,
          Key: this.objectKey(to),
          StorageClass: storageClass as StorageClass,
          Metadata: head.Metadata,
        }),
      ),
    );
    const partSize = this.partSize(source.size);
    const parts: { ETag: string; PartNumber: number }[] = [];
    for (let start = 0, n = 1; start < source.size; start += partSize, n++) {
      const end = Math.min(source.size, start + partSize) - 1;
      const part = await this.attempt(to, () =>
        this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.location.bucket,
            Key: this.objectKey(to),
            UploadId: created.UploadId,
            PartNumber: n,
            CopySource: this.copySource(from),
            CopySourceRange: `bytes=${start}-${end}`,
          }),
        ),
      );
      parts.push({ ETag: part.CopyPartResult?.ETag ?? "", PartNumber: n });
    }
    await this.attempt(to, () =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.location.bucket,
          Key: this.objectKey(to),
          UploadId: created.UploadId,
          MultipartUpload: { Parts: parts },
        }),
      ),
    );
  }

  /** Parts of at least 16 MiB (or the configured size), grown so no object needs over 10,000. */
  private partSize(size: number): number {
    const wanted = Math.max(this.options.partSize ?? DEFAULT_PART, Math.ceil(size / MAX_PARTS), MIN_PART);
    return Math.min(wanted, MAX_PART);
  }

  private async attempt<T>(key: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw this.error(err, key);
    }
  }

  private objectKey(key: string): string {
    return this.location.prefix ? `${this.location.prefix}/${key}` : key;
  }

  private relativeKey(objectKey: string): string {
    return this.location.prefix ? objectKey.slice(this.location.prefix.length + 1) : objectKey;
  }

  private copySource(key: string): string {
    return `${this.location.bucket}/${encodeURIComponent(this.objectKey(key))}`;
  }

  /** S3 keys are 1 to 1,024 bytes of UTF-8, prefix included. */
  private checkKey(key: string): void {
    const full = this.objectKey(key);
    if (key.length === 0 || !key.isWellFormed() || Buffer.byteLength(full) > 1024) {
      throw new InvalidRequestError(
        this.url,
        `invalid key (1 to 1,024 bytes of UTF-8 with the prefix): ${JSON.stringify(key.slice(0, 80))}`,
      );
    }
  }

  private checkClass(storageClass: string | undefined): string {
    const chosen = storageClass ?? "STANDARD";
    if (!(STORAGE_CLASSES as readonly string[]).includes(chosen)) {
      throw new InvalidRequestError(this.url, `storage class ${chosen} is not one of ${STORAGE_CLASSES.join(", ")}`);
    }
    return chosen;
  }

  /** Maps SDK and network errors onto the typed errors; `probing` turns "no answer" into Unreachable. */
  private error(err: unknown, key: string, probing = false): Error {
    return s3Error(err, { url: this.url, key, bucket: this.location.bucket, probing }, this.options);
  }
}

function makeClient(options: S3Options, failFast: boolean): S3Client {
  const agent = { keepAlive: true, maxSockets: 256 };
  return new S3Client({
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.profile ? { profile: options.profile } : {}),
    requestChecksumCalculation: options.checksums === "when_required" ? "WHEN_REQUIRED" : "WHEN_SUPPORTED",
    responseChecksumValidation: options.checksums === "when_required" ? "WHEN_REQUIRED" : "WHEN_SUPPORTED",
    maxAttempts: failFast ? 1 : 4,
    requestHandler: {
      httpAgent: new HttpAgent(agent),
      httpsAgent: new HttpsAgent(agent),
      connectionTimeout: failFast ? 3000 : 10_000,
      ...(failFast ? { requestTimeout: 10_000 } : {}),
    },
  });
}

function infoFrom(
  key: string,
  out: HeadObjectCommandOutput | GetObjectCommandOutput,
  tags?: Record<string, string>,
): ObjectInfo {
  const metadata = out.Metadata ?? {};
  const info: ObjectInfo = {
    key,
    size: out.ContentLength ?? 0,
    modifiedUs: (out.LastModified?.getTime() ?? 0) * 1000,
    storageClass: out.StorageClass ?? "STANDARD",
    metadata: userMetadata(metadata),
    restore: restoreStatus(out.StorageClass, out.Restore),
  };
  if (out.ETag) info.etag = out.ETag;
  const taggedHash = tags?.[SHA256_TAG];
  if (tags) info.tags = Object.fromEntries(Object.entries(tags).filter(([k]) => k !== SHA256_TAG));
  const attributes = metadataToAttributes(metadata);
  if (attributes) {
    if (!attributes.sha256 && taggedHash && /^[0-9a-f]{64}$/.test(taggedHash)) attributes.sha256 = taggedHash;
    info.attributes = attributes;
    if (attributes.sha256) info.sha256 = attributes.sha256;
  }
  return info;
}

/** Reads `x-amz-restore`: `ongoing-request="true"`, or `"false"` with an expiry date. */
export function restoreStatus(storageClass: string | undefined, header: string | undefined): RestoreStatus {
  if (!storageClass || !ARCHIVE_CLASSES.includes(storageClass)) return { state: "not-archived" };
  if (!header) return { state: "archived" };
  if (/ongoing-request="true"/.test(header)) return { state: "restoring" };
  const expiry = /expiry-date="([^"]+)"/.exec(header)?.[1];
  const expiresAt = expiry ? new Date(expiry) : undefined;
  if (!expiresAt || expiresAt.getTime() <= Date.now()) return { state: "archived" };
  return { state: "restored", expiresAt };
}

function tierName(tier: RestoreOptions["tier"]): Tier {
  return tier === "expedited" ? "Expedited" : tier === "bulk" ? "Bulk" : "Standard";
}

interface SentParts {
  parts: UploadedPart[];
  sha256: string;
  etag: string;
}

interface Part {
  number: number;
  /** The pooled buffer the part was read into; `data` is its filled start. */
  buffer: Buffer;
  data: Buffer;
  md5: Buffer;
}

/**
 * Part buffers reused across parts and uploads. An upload holds at most its streams + 1 at once
 * (what `writeBuffer` announced); freed ones wait for the next part of their size instead
 * of waiting for the garbage collector, so memory follows the buffered-bytes cap closely. What
 * is kept is at most what was once in use together, which that cap bounds.
 */
class BufferPool {
  private readonly free = new Map<number, Buffer[]>();

  sized(size: number): PartBuffers {
    let free = this.free.get(size);
    if (!free) {
      free = [];
      this.free.set(size, free);
    }
    const list = free;
    return { take: () => list.pop() ?? Buffer.allocUnsafe(size), release: (buffer) => list.push(buffer) };
  }

  clear(): void {
    this.free.clear();
  }
}

interface PartBuffers {
  take(): Buffer;
  release(buffer: Buffer): void;
}

/**
 * Reads a body into parts of the buffers' size (the last one shorter), in order: the whole is
 * hashed (SHA-256) as it streams, each part (MD5) once it is full. The next part is read only
 * when the consumer asks for it, which is how parts in flight stay bounded.
 */
async function* cutParts(body: Readable, sha256: Hash, buffers: PartBuffers): AsyncGenerator<Part> {
  let number = 1;
  let buffer = buffers.take();
  let filled = 0;
  const full = (): Part => {
    const data = buffer.subarray(0, filled);
    return { number: number++, buffer, data, md5: createHash("md5").update(data).digest() };
  };
  for await (const chunk of body as AsyncIterable<Buffer>) {
    sha256.update(chunk);
    for (let offset = 0; offset < chunk.length; ) {
      const copied = chunk.copy(buffer, filled, offset);
      filled += copied;
      offset += copied;
      if (filled === buffer.length) {
        yield full();
        buffer = buffers.take();
        filled = 0;
      }
    }
  }
  if (filled > 0) yield full();
  else buffers.release(buffer);
}
