import { createHash } from "node:crypto";
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { crc32 } from "node:zlib";
import {
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
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
  RestoreObjectCommand,
  S3Client,
  S3ServiceException,
  type StorageClass,
  type Tier,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import {
  type Backend,
  BackendError,
  type ByteRange,
  type Capabilities,
  type CopyOptions,
  changedTags,
  InvalidRequestError,
  NotFoundError,
  type ObjectInfo,
  type ObjectReader,
  type PendingUpload,
  type RestoreOptions,
  type RestoreStatus,
  type TagChange,
  TransientError,
  type WriteInfo,
} from "../backend.js";
import { checkExpectedHash, sizeError, withWholeBody } from "../bodies.js";
import type { CloudLocation } from "../descriptor.js";
import { attributesToMetadata, metadataToAttributes, userMetadata } from "../metadata.js";
import { BufferPool, type PartStore, writeInParts } from "../multipart.js";
import { storeRefusesMismatchedPayload } from "./payload-check.js";
import { S3_ARCHIVE_CLASSES, S3_CAPABILITIES, S3_STORAGE_CLASSES } from "./s3-classes.js";
import { s3Error } from "./s3-errors.js";
import { type LeanAnswer, type LeanHead, LeanS3, UNSIGNED_PAYLOAD } from "./s3-lean.js";
import { type S3Options, silenceLimitMs } from "./s3-options.js";
import { multipartEtag, type S3Upload, s3PartStore } from "./s3-upload.js";

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
  /** Whether the store refuses a body its signed SHA-256 does not describe; asked at the first body sent whole under `signPayload: whole`. */
  private payloadHashChecked: Promise<boolean> | undefined;

  private constructor(
    private readonly location: S3Location,
    private readonly options: S3Options,
    private readonly client: S3Client,
    /** A client that fails fast, for `check()`: one attempt, short timeouts. */
    private readonly probe: S3Client,
    /** Single-request PUTs without the SDK's command stack; absent when `leanRequests` is off. */
    private readonly lean: LeanS3 | undefined,
  ) {
    this.url = location.url;
    this.checksummed = options.checksums === "when_supported";
  }

  static async open(location: S3Location, options: S3Options): Promise<S3Backend> {
    const client = makeClient(options, false);
    const lean = options.leanRequests
      ? await LeanS3.open(client, location.bucket, silenceLimitMs(options, false))
      : undefined;
    return new S3Backend(location, options, client, makeClient(options, true), lean);
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
    try {
      const [head, tags] = this.lean
        ? await Promise.all([this.lean.head(this.objectKey(key)), this.lean.tags(this.objectKey(key))])
        : await this.statWithSdk(key);
      return head && tags ? infoFrom(key, head, tags) : undefined;
    } catch (err) {
      const mapped = this.error(err, key);
      if (mapped instanceof NotFoundError) return undefined;
      throw mapped;
    }
  }

  private async statWithSdk(key: string): Promise<[HeadObjectCommandOutput, Record<string, string>]> {
    const request = { Bucket: this.location.bucket, Key: this.objectKey(key) };
    const [head, tagging] = await Promise.all([
      this.client.send(new HeadObjectCommand(request)),
      this.client.send(new GetObjectTaggingCommand(request)),
    ]);
    return [head, Object.fromEntries((tagging.TagSet ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]))];
  }

  async read(key: string, range?: ByteRange): Promise<ObjectReader> {
    const bytes = range ? `bytes=${range.start}-${range.end}` : undefined;
    const out = await this.attempt<GetAnswer>(key, () =>
      this.lean ? this.getLean(this.lean, key, bytes) : this.getWithSdk(key, bytes),
    );
    if (!(out.Body instanceof Readable))
      throw new BackendError(`${JSON.stringify(key)}: no body in the answer`, this.url, true);
    const info = infoFrom(key, out);
    if (range) info.size = Number(out.ContentRange?.split("/")[1] ?? info.size);
    return { info, body: out.Body };
  }

  /** A GET over the lean path, its answer named as the SDK's GetObject output names it. */
  private async getLean(lean: LeanS3, key: string, range: string | undefined): Promise<LeanHead & ObjectBody> {
    const { head, contentRange, body } = await lean.get(this.objectKey(key), range);
    return { ...head, ...(contentRange ? { ContentRange: contentRange } : {}), Body: body };
  }

  private getWithSdk(key: string, range: string | undefined): Promise<GetObjectCommandOutput> {
    return this.client.send(
      new GetObjectCommand({
        Bucket: this.location.bucket,
        Key: this.objectKey(key),
        ...(range ? { Range: range } : {}),
      }),
    );
  }

  async write(key: string, body: Readable, info: WriteInfo): Promise<ObjectInfo> {
    this.checkKey(key);
    const storageClass = this.checkClass(info.storageClass) as StorageClass;
    const partSize = this.partSize(info.size);
    return info.size < partSize
      ? this.writeWhole(key, body, info, storageClass)
      : this.writeParted(key, body, info, storageClass, partSize);
  }

  /**
   * A body under one part is buffered anyway, so it is hashed before it is sent (and refused
   * unsent when it is not the SHA-256 expected): the SHA-256 goes into the metadata and, by
   * default, into the signature, which the server checks on arrival; with `signPayload: none`
   * or `all` the MD5 goes into Content-MD5, which it checks too, and the ETag it answers with.
   */
  private writeWhole(key: string, body: Readable, info: WriteInfo, storageClass: StorageClass): Promise<ObjectInfo> {
    const fail = (received: number | "more") => sizeError(this.url, key, info.size, received);
    return withWholeBody(body, info.size, fail, (data) => this.putWhole(key, data, info, storageClass));
  }

  private async putWhole(key: string, data: Buffer, info: WriteInfo, storageClass: StorageClass): Promise<ObjectInfo> {
    const sha256 = createHash("sha256").update(data).digest("hex");
    checkExpectedHash(this.url, key, info, sha256);
    const proofs = await this.wholeProofs(key);
    const md5 = proofs.wholeMd5 ? createHash("md5").update(data) : undefined;
    // A compressed object's writer gives its content's hash; the bytes hashed here are its frames.
    const attributes = { ...info.attributes, sha256: info.attributes.sha256 ?? sha256 };
    const object = {
      data,
      sha256,
      ...(md5 ? { contentMd5: md5.copy().digest("base64") } : {}),
      storageClass,
      metadata: { ...(info.metadata ?? {}), ...attributesToMetadata(attributes) },
      ...(info.tags && Object.keys(info.tags).length > 0 ? { tagging: taggingHeader(info.tags) } : {}),
    };
    const put = await this.attempt(key, () =>
      this.lean ? this.putLean(key, object, proofs.signWhole) : this.putWithSdk(key, object),
    );
    // The server checked the proof on arrival, and answers with the ETag: no HEAD needed.
    if (md5) await this.checkStoredEtag(key, put, md5.digest("hex"));
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
   * What proves a body sent whole: the location's `signPayload`, except that a signed SHA-256
   * alone proves nothing to a store that does not check it (payload-check.ts): there the body
   * carries its Content-MD5 too, and the answer's ETag is checked against it.
   */
  private async wholeProofs(key: string): Promise<Proofs> {
    const proofs = PROOFS[this.options.signPayload];
    if (proofs.wholeMd5) return proofs;
    this.payloadHashChecked ??= this.attempt(key, () =>
      storeRefusesMismatchedPayload({
        put: (at, body, payloadHash) => this.putForCheck(at, body, payloadHash),
        remove: (at) => this.delete([at]),
      }),
    ).catch((err: unknown) => {
      this.payloadHashChecked = undefined;
      throw err;
    });
    return (await this.payloadHashChecked) ? proofs : { ...proofs, wholeMd5: true };
  }

  /** A PUT of `body` signed with `payloadHash` as its SHA-256, nothing else proving it: the question of payload-check.ts. */
  private async putForCheck(key: string, body: Buffer, payloadHash: string): Promise<void> {
    if (this.lean) {
      await this.lean.put({ objectKey: this.objectKey(key), body, payloadHash, headers: {} });
      return;
    }
    const command = new PutObjectCommand({ Bucket: this.location.bucket, Key: this.objectKey(key), Body: body });
    // Set before signing, as makeClient's unsigned payloads are: the signer signs this value.
    command.middlewareStack.add(
      (next) => (args) => {
        (args.request as { headers: Record<string, string> }).headers["x-amz-content-sha256"] = payloadHash;
        return next(args);
      },
      { step: "build", name: "strataPayloadCheck" },
    );
    await this.client.send(command);
  }

  private putWithSdk(key: string, object: WholeObject): Promise<LeanAnswer> {
    return this.client.send(
      new PutObjectCommand({
        Bucket: this.location.bucket,
        Key: this.objectKey(key),
        Body: object.data,
        ContentLength: object.data.length,
        ContentMD5: object.contentMd5,
        StorageClass: object.storageClass,
        Metadata: object.metadata,
        ...(object.tagging ? { Tagging: object.tagging } : {}),
      }),
    );
  }

  /** The same request as putWithSdk's, headers as the SDK spells them; the SHA-256 signed if `signed`. */
  private putLean(key: string, object: WholeObject, signed: boolean): Promise<LeanAnswer> {
    const headers: Record<string, string> = { "x-amz-storage-class": object.storageClass };
    if (object.contentMd5) headers["content-md5"] = object.contentMd5;
    for (const [name, value] of Object.entries(object.metadata)) headers[`x-amz-meta-${name.toLowerCase()}`] = value;
    if (object.tagging) headers["x-amz-tagging"] = object.tagging;
    if (this.checksummed) headers["x-amz-checksum-crc32"] = crc32Base64(object.data);
    return (this.lean as LeanS3).put({
      objectKey: this.objectKey(key),
      body: object.data,
      payloadHash: signed ? object.sha256 : UNSIGNED_PAYLOAD,
      headers,
    });
  }

  /**
   * A large body goes up in parts (the multipart engine: several in flight, each with its
   * Content-MD5, journaled and resumable); its SHA-256 is known only at the end, so it is
   * recorded as the `strata-sha256` tag.
   */
  private async writeParted(
    key: string,
    body: Readable,
    info: WriteInfo,
    storageClass: StorageClass,
    partSize: number,
  ) {
    const store = this.partStore(key, {
      storageClass,
      metadata: { ...(info.metadata ?? {}), ...attributesToMetadata(info.attributes) },
    });
    const streams = info.streams ?? this.options.partsInFlight;
    const sent = await writeInParts(store, body, {
      url: this.url,
      key,
      info,
      partSize,
      streams,
      buffers: this.buffers,
    });
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
    return this.verifyStored(key, multipartEtag(sent.partMd5s), sent.sha256, tags);
  }

  /**
   * PutObjectTagging replaces the whole set, so the current set is read first and only the
   * named tags change: a location's tags and the `strata-sha256` tag of a multipart object stay.
   */
  async updateTags(key: string, change: TagChange): Promise<void> {
    const request = { Bucket: this.location.bucket, Key: this.objectKey(key) };
    const current = await this.attempt(key, () => this.client.send(new GetObjectTaggingCommand(request)));
    const tags = changedTags(
      Object.fromEntries((current.TagSet ?? []).map((t) => [t.Key ?? "", t.Value ?? ""])),
      change,
    );
    await this.attempt(key, () =>
      this.client.send(
        new PutObjectTaggingCommand({
          ...request,
          Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
        }),
      ),
    );
  }

  async abortUpload(key: string, uploadId: string): Promise<void> {
    await this.partStore(key).abort(uploadId);
  }

  async *listUploads(): AsyncIterable<PendingUpload> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.attempt("", () =>
        this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.location.bucket,
            Prefix: this.objectKey(""),
            KeyMarker: keyMarker,
            UploadIdMarker: uploadIdMarker,
            EncodingType: "url",
          }),
        ),
      );
      for (const upload of page.Uploads ?? []) {
        if (!upload.Key || !upload.UploadId) continue;
        yield {
          key: this.relativeKey(decodeURIComponent(upload.Key)),
          uploadId: upload.UploadId,
          startedAt: upload.Initiated?.getTime() ?? 0,
        };
      }
      const more = page.IsTruncated === true;
      // Markers come back URL-encoded too, and are sent back as they are spelled unencoded.
      keyMarker = more && page.NextKeyMarker ? decodeURIComponent(page.NextKeyMarker) : undefined;
      uploadIdMarker = more ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined);
  }

  private partStore(key: string, object: Pick<S3Upload, "storageClass" | "metadata"> = {}): PartStore {
    return s3PartStore({
      url: this.url,
      key,
      client: this.client,
      bucket: this.location.bucket,
      objectKey: this.objectKey(key),
      checksummed: this.checksummed,
      ...object,
      attempt: (request) => this.attempt(key, request),
    });
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
    await this.lean?.close();
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

/** A body under one part, hashed, and what its PUT carries. */
interface WholeObject {
  data: Buffer;
  sha256: string;
  /** Absent where the signed SHA-256 alone proves the body. */
  contentMd5?: string;
  storageClass: StorageClass;
  metadata: Record<string, string>;
  tagging?: string;
}

/**
 * x-amz-tagging's query string. Spaces are written %20: URLSearchParams writes them `+`, which RGW
 * stores as a plus sign.
 */
function taggingHeader(tags: Record<string, string>): string {
  return Object.entries(tags)
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join("&");
}

/** x-amz-checksum-crc32: the CRC32 as four big-endian bytes, base64. */
function crc32Base64(data: Buffer): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(crc32(data));
  return bytes.toString("base64");
}

function makeClient(options: S3Options, failFast: boolean): S3Client {
  const agent = { keepAlive: true, maxSockets: 256 };
  const client = new S3Client({
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
      // Silence bounded: the handler's socket inactivity timeout (its requestTimeout only
      // logs a warning unless told to throw, and bounds a long upload's whole duration).
      socketTimeout: silenceLimitMs(options, failFast),
    },
  });
  const proofs = PROOFS[options.signPayload];
  const unsigned = new Set([
    ...(proofs.signWhole ? [] : ["PutObjectCommand"]),
    ...(proofs.signParts ? [] : ["UploadPartCommand"]),
  ]);
  if (unsigned.size > 0) {
    // Set before signing (the build step precedes it): the SDK's signer then signs this value
    // instead of hashing the body on the main thread.
    client.middlewareStack.add(
      (next, context) => (args) => {
        const request = args.request as { headers?: Record<string, string> };
        if (unsigned.has(context.commandName ?? "") && request.headers) {
          request.headers["x-amz-content-sha256"] = UNSIGNED_PAYLOAD;
        }
        return next(args);
      },
      { step: "build", name: "strataUnsignedPayload" },
    );
  }
  return client;
}

/**
 * What proves a body to the store under each `signPayload` (s3-options.ts): whether a body sent
 * whole carries its Content-MD5 (then the ETag is checked against it), and whether its SHA-256 and
 * a part's are signed. A part always carries its Content-MD5; an unsigned payload is proven by
 * its Content-MD5 alone. PutObject (and the lean PUT, which sends the same) and UploadPart follow.
 */
interface Proofs {
  wholeMd5: boolean;
  signWhole: boolean;
  signParts: boolean;
}

const PROOFS: Record<S3Options["signPayload"], Proofs> = {
  whole: { wholeMd5: false, signWhole: true, signParts: false },
  all: { wholeMd5: true, signWhole: true, signParts: true },
  none: { wholeMd5: true, signWhole: false, signParts: false },
};

/** The body and range of a GET's answer, from either path. */
interface ObjectBody {
  Body?: unknown;
  ContentRange?: string | undefined;
}

/** What read() takes from a GET's answer, whichever path sent it. */
type GetAnswer = Parameters<typeof infoFrom>[1] & ObjectBody;

function infoFrom(
  key: string,
  out: Pick<HeadObjectCommandOutput, "ContentLength" | "LastModified" | "Metadata" | "ETag" | "Restore"> & {
    StorageClass?: string | undefined;
  },
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
