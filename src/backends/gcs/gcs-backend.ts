import { createHash } from "node:crypto";
import { PassThrough, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  CRC32C,
  type File,
  type FileMetadata,
  type CopyOptions as GcsCopyOptions,
  type GetFilesOptions,
  Storage,
  type StorageOptions,
} from "@google-cloud/storage";
import {
  type Backend,
  type ByteRange,
  type Capabilities,
  type CopyOptions,
  InvalidRequestError,
  NotFoundError,
  type ObjectInfo,
  type ObjectReader,
  type RestoreOptions,
  type RestoreStatus,
  type TagChange,
  type WriteInfo,
} from "../backend.js";
import { CheckedBody, checkExpectedHash, readExactly, sizeError } from "../bodies.js";
import type { CloudLocation } from "../descriptor.js";
import { attributesToMetadata, metadataToAttributes, userMetadata } from "../metadata.js";
import { GCS_CAPABILITIES, GCS_STORAGE_CLASSES } from "./gcs-classes.js";
import { bucketMissing, gcsError, httpStatus } from "./gcs-errors.js";
import { fromObjectName, toObjectName } from "./gcs-names.js";
import type { GcsOptions } from "./gcs-options.js";

type GcsLocation = CloudLocation;

const MiB = 1024 * 1024;
/** Up to this size a body is buffered, hashed, and sent in one multipart request whose hashes GCS checks. */
const SIMPLE_UPLOAD_MAX = 8 * MiB;
/**
 * A larger body goes up as a resumable upload in chunks of this size (a multiple of 256 KiB, as
 * GCS requires); the library holds one chunk in memory so it can resend it after a failure.
 */
const CHUNK_SIZE = 16 * MiB;
const LIST_PAGE = 1000;
const DELETES_IN_FLIGHT = 16;
/** The check fails within seconds on an endpoint that does not answer, instead of retrying. */
const CHECK_TIMEOUT_MS = 5000;
const TAG_PREFIX = "strata-tag-";
const MAX_NAME_BYTES = 1024;
const NOT_ARCHIVED: RestoreStatus = { state: "not-archived" };

/**
 * Google Cloud Storage through the JSON API (@google-cloud/storage 7). Every class is read
 * directly, ARCHIVE included, so nothing ever needs a restore. GCS has no object tags: tags
 * ride as custom metadata under `strata-tag-`, next to Strata's `strata-*` attributes.
 */
export class GcsBackend implements Backend {
  readonly caps: Capabilities = GCS_CAPABILITIES;
  readonly url: string;

  private constructor(
    private readonly location: GcsLocation,
    private readonly storage: Storage,
    /** Same credentials, no retries and a short timeout: for check() only. */
    private readonly probe: Storage,
  ) {
    this.url = location.url;
  }

  static async open(location: GcsLocation, options: GcsOptions): Promise<GcsBackend> {
    const storage = new Storage(clientOptions(options));
    const probe = new Storage({
      ...clientOptions(options),
      // `maxRetries: 0` would be read as "unset" (the library tests it for truthiness).
      retryOptions: { autoRetry: false },
      timeout: CHECK_TIMEOUT_MS,
    });
    return new GcsBackend(location, storage, probe);
  }

  /**
   * Lists at most one object under the prefix: the permission every use needs
   * (storage.objects.list), where a bucket metadata get would also need storage.buckets.get,
   * which object-level roles such as roles/storage.objectAdmin do not grant.
   */
  async check(): Promise<void> {
    try {
      await this.probe
        .bucket(this.location.bucket)
        .getFiles({ prefix: this.namePrefix(), maxResults: 1, autoPaginate: false });
    } catch (err) {
      throw this.error(err, "", true);
    }
  }

  async *list(prefix = ""): AsyncIterable<ObjectInfo> {
    const query: GetFilesOptions = {
      prefix: this.namePrefix() + toObjectName(prefix),
      autoPaginate: false,
      maxResults: LIST_PAGE,
    };
    let page = this.page(query);
    for (;;) {
      const { objects, pageToken } = await page;
      if (pageToken) {
        // The next page is fetched while this one is consumed; at most two pages are held.
        page = this.page({ ...query, pageToken });
        page.catch(() => undefined);
      }
      for (const meta of objects) {
        const info = this.listedInfo(meta);
        if (info) yield info;
      }
      if (!pageToken) return;
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const meta = await this.metadataOf(key);
    return meta && objectInfo(key, meta);
  }

  async read(key: string, range?: ByteRange): Promise<ObjectReader> {
    const meta = await this.metadataOf(key);
    if (!meta?.generation) throw new NotFoundError(this.url, key);
    // Pinned to the generation just described, so the body matches the info returned with it.
    const file = this.bucket.file(this.objectName(key), { generation: meta.generation });
    const source = file.createReadStream({
      // The stored bytes, as they are: a gzip-encoded object is not unzipped on the way.
      decompress: false,
      ...(range ? { start: range.start, end: range.end } : {}),
    });
    const body = new PassThrough();
    source.on("error", (err) => body.destroy(this.error(err, key)));
    body.on("close", () => source.destroy());
    source.pipe(body);
    return { info: objectInfo(key, meta), body };
  }

  async write(key: string, body: Readable, info: WriteInfo): Promise<ObjectInfo> {
    const file = this.bucket.file(this.objectName(key));
    const storageClass = this.checkClass(info.storageClass);
    return info.size <= SIMPLE_UPLOAD_MAX
      ? this.writeSimple(key, file, body, info, storageClass)
      : this.writeResumable(key, file, body, info, storageClass);
  }

  /**
   * A small body is read whole first, so its SHA-256 goes into the metadata of the one request
   * and its MD5 and CRC32C into the resource: GCS refuses the upload if the bytes differ, before
   * the object exists. The library also compares the CRC32C it computed with the stored one.
   */
  private async writeSimple(
    key: string,
    file: File,
    body: Readable,
    info: WriteInfo,
    storageClass: string | undefined,
  ): Promise<ObjectInfo> {
    const { data, sha256 } = await this.readExactly(key, body, info.size);
    checkExpectedHash(this.url, key, info, sha256);
    const crc32c = new CRC32C();
    crc32c.update(data);
    const resource: FileMetadata = {
      ...uploadResource(info, storageClass, sha256),
      md5Hash: createHash("md5").update(data).digest("base64"),
      crc32c: crc32c.toString(),
    };
    await this.attempt(key, () => file.save(data, { resumable: false, metadata: resource, validation: "crc32c" }));
    return { ...objectInfo(key, file.metadata), sha256 };
  }

  /**
   * A large body streams up a resumable session, chunk by chunk, hashed on the way. GCS commits
   * the object only with the final chunk, which is sent only once the body has ended at exactly
   * the announced size and SHA-256, so a failed write leaves the previous object in place. The library
   * checks the CRC32C it computed against the stored object (and deletes a mismatch). The
   * SHA-256 is known only at the end: it is added to the metadata of that generation.
   */
  private async writeResumable(
    key: string,
    file: File,
    body: Readable,
    info: WriteInfo,
    storageClass: string | undefined,
  ): Promise<ObjectInfo> {
    const checked = new CheckedBody(this.url, key, info);
    const upload = file.createWriteStream({
      resumable: true,
      chunkSize: CHUNK_SIZE,
      metadata: uploadResource(info, storageClass, info.attributes.sha256),
      validation: "crc32c",
    });
    await this.attempt(key, () => pipeline(body, checked, upload));
    const sha256 = checked.digest();
    let stored = file.metadata;
    if (!info.attributes.sha256 && stored.generation !== undefined) {
      const attributes = attributesToMetadata({ ...info.attributes, sha256 });
      [stored] = await this.attempt(key, () =>
        file.setMetadata({ metadata: attributes }, { ifGenerationMatch: stored.generation }),
      );
    }
    return { ...objectInfo(key, stored), sha256 };
  }

  /**
   * A rewrite: a copy, or a class change when `from` and `to` are the same object. The
   * destination resource is restated whole (class, content type, custom metadata), so the result
   * does not depend on which fields GCS fills in from the source.
   */
  /**
   * A simple upload is buffered whole; a resumable one holds a chunk and the next one filling.
   * The library sends a resumable session's chunks one after another, so streams change nothing.
   */
  writeBuffer(size: number): number {
    return size <= SIMPLE_UPLOAD_MAX ? size : 2 * CHUNK_SIZE;
  }

  async copy(from: string, to: string, opts: CopyOptions = {}): Promise<ObjectInfo> {
    const source = await this.metadataOf(from);
    if (!source?.generation) throw new NotFoundError(this.url, from);
    const storageClass = this.checkClass(opts.storageClass) ?? source.storageClass;
    if (from === to && storageClass === source.storageClass) return objectInfo(from, source);
    const destination: GcsCopyOptions & { storageClass?: string } = {
      metadata: source.metadata ?? {},
      ...(source.contentType ? { contentType: source.contentType } : {}),
      ...(storageClass ? { storageClass } : {}),
      // In place, a write that landed since the stat must not be overwritten with older bytes.
      ...(from === to ? { preconditionOpts: { ifGenerationMatch: source.generation } } : {}),
    };
    const target = this.bucket.file(this.objectName(to));
    const [, response] = await this.attempt(from, () =>
      this.bucket.file(this.objectName(from), { generation: source.generation }).copy(target, destination),
    );
    const resource = rewrittenResource(response) ?? (await this.metadataOf(to));
    if (!resource) throw new NotFoundError(this.url, to);
    return objectInfo(to, resource);
  }

  /** GCS has no multi-object delete in this library: single deletes, several in flight. */
  async delete(keys: string[]): Promise<void> {
    let next = 0;
    const failures: Error[] = [];
    const worker = async () => {
      while (next < keys.length) {
        const key = keys[next++] as string;
        try {
          await this.bucket.file(this.objectName(key)).delete();
        } catch (err) {
          // A missing object is no error; a missing bucket is (the library's ignoreNotFound hides both).
          if (httpStatus(err) !== 404 || bucketMissing(err)) failures.push(this.error(err, key));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELETES_IN_FLIGHT, keys.length) }, worker));
    if (failures.length > 0) throw failures[0];
  }

  /** Every GCS class, ARCHIVE included, is read directly. */
  async restore(_key: string, _opts: RestoreOptions): Promise<RestoreStatus> {
    return NOT_ARCHIVED;
  }

  /** The client holds nothing that needs closing. */
  /**
   * Tags are `strata-tag-` custom metadata: one patch sets the named ones and removes others
   * (a null value deletes a key in GCS's merge), leaving the rest of the metadata as it is.
   */
  async updateTags(key: string, change: TagChange): Promise<void> {
    const patch: Record<string, string | null> = {};
    for (const name of change.remove) patch[`${TAG_PREFIX}${name}`] = null;
    for (const [name, value] of Object.entries(change.set)) patch[`${TAG_PREFIX}${name}`] = value;
    await this.attempt(key, () => this.bucket.file(this.objectName(key)).setMetadata({ metadata: patch }));
  }

  async close(): Promise<void> {}

  private get bucket() {
    return this.storage.bucket(this.location.bucket);
  }

  private namePrefix(): string {
    return this.location.prefix ? `${this.location.prefix}/` : "";
  }

  /** The object name of a key, refused here when GCS would refuse it. */
  private objectName(key: string): string {
    const name = this.namePrefix() + toObjectName(key);
    const bytes = Buffer.byteLength(name);
    if (
      key.length === 0 ||
      !key.isWellFormed() ||
      bytes > MAX_NAME_BYTES ||
      name === "." ||
      name === ".." ||
      name.startsWith(".well-known/acme-challenge/")
    ) {
      throw new InvalidRequestError(
        this.url,
        `invalid key (1 to ${MAX_NAME_BYTES} bytes of UTF-8 with the prefix, not "." or ".."): ${JSON.stringify(key.slice(0, 80))}`,
      );
    }
    return name;
  }

  /** A listed object as a key, or undefined for what is not a file of this location. */
  private listedInfo(meta: FileMetadata): ObjectInfo | undefined {
    const name = meta.name ?? "";
    const prefix = this.namePrefix();
    if (!name.startsWith(prefix)) return undefined;
    const relative = name.slice(prefix.length);
    // "dir/" placeholders of zero bytes are how the console shows folders; no file has such a key.
    if (relative === "" || (relative.endsWith("/") && Number(meta.size ?? 0) === 0)) return undefined;
    return objectInfo(fromObjectName(relative), meta);
  }

  private async page(query: GetFilesOptions): Promise<{ objects: FileMetadata[]; pageToken?: string }> {
    const [files, nextQuery] = await this.attempt("", () => this.bucket.getFiles(query));
    const pageToken = nextQuery?.pageToken;
    return { objects: files.map((file) => file.metadata), ...(pageToken ? { pageToken } : {}) };
  }

  private async metadataOf(key: string): Promise<FileMetadata | undefined> {
    try {
      const [meta] = await this.bucket.file(this.objectName(key)).getMetadata();
      return meta;
    } catch (err) {
      const mapped = this.error(err, key);
      if (mapped instanceof NotFoundError && !bucketMissing(err)) return undefined;
      throw mapped;
    }
  }

  /** Reads a small body whole, hashing it, and insists on the announced size. */
  private async readExactly(key: string, body: Readable, size: number): Promise<{ data: Buffer; sha256: string }> {
    const data = await this.attempt(key, () =>
      readExactly(body, size, (received) => sizeError(this.url, key, size, received)),
    );
    return { data, sha256: createHash("sha256").update(data).digest("hex") };
  }

  /** An explicit class is checked; none means the bucket's default class (which may not be STANDARD). */
  private checkClass(storageClass: string | undefined): string | undefined {
    if (storageClass !== undefined && !(GCS_STORAGE_CLASSES as readonly string[]).includes(storageClass)) {
      throw new InvalidRequestError(
        this.url,
        `storage class ${storageClass} is not one of ${GCS_STORAGE_CLASSES.join(", ")}`,
      );
    }
    return storageClass;
  }

  private async attempt<T>(key: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw this.error(err, key);
    }
  }

  /** Maps client, HTTP and network errors onto the typed errors; `probing` turns "no answer" into Unreachable. */
  private error(err: unknown, key: string, probing = false): Error {
    return gcsError(err, { url: this.url, key, bucket: this.location.bucket, probing });
  }
}

/**
 * Client options. A custom endpoint is an emulator or stand-in when it is plain HTTP: the
 * library then sends no credentials (useAuthWithCustomEndpoint false), and a bearer token never
 * travels in clear text. An https endpoint (Private Service Connect, a regional endpoint) keeps
 * the credentials: Application Default Credentials, or the key file.
 */
function clientOptions(options: GcsOptions): StorageOptions {
  const endpoint = options.apiEndpoint?.replace(/\/+$/, "");
  return {
    ...(options.projectId ? { projectId: options.projectId } : {}),
    ...(options.keyFile ? { keyFilename: options.keyFile } : {}),
    ...(endpoint ? { apiEndpoint: endpoint, useAuthWithCustomEndpoint: new URL(endpoint).protocol === "https:" } : {}),
  };
}

/** The resource sent with an upload: class (when chosen), and attributes, tags and metadata as custom metadata. */
function uploadResource(info: WriteInfo, storageClass: string | undefined, sha256: string | undefined): FileMetadata {
  const attributes = sha256 ? { ...info.attributes, sha256: info.attributes.sha256 ?? sha256 } : info.attributes;
  const tags = Object.fromEntries(Object.entries(info.tags ?? {}).map(([k, v]) => [`${TAG_PREFIX}${k}`, v]));
  return {
    ...(storageClass ? { storageClass } : {}),
    metadata: { ...(info.metadata ?? {}), ...tags, ...attributesToMetadata(attributes) },
  };
}

function objectInfo(key: string, meta: FileMetadata): ObjectInfo {
  const custom = Object.fromEntries(
    Object.entries(meta.metadata ?? {}).flatMap(([k, v]) => (v === null || v === undefined ? [] : [[k, String(v)]])),
  );
  const info: ObjectInfo = {
    key,
    size: Number(meta.size ?? 0),
    // timeCreated is when this generation's bytes were written; `updated` moves with metadata too.
    modifiedUs: Date.parse(meta.timeCreated ?? meta.updated ?? "") * 1000 || 0,
    metadata: userMetadata(custom),
    tags: Object.fromEntries(
      Object.entries(custom).flatMap(([k, v]) => (k.startsWith(TAG_PREFIX) ? [[k.slice(TAG_PREFIX.length), v]] : [])),
    ),
    restore: NOT_ARCHIVED,
  };
  if (meta.storageClass) info.storageClass = meta.storageClass;
  if (meta.etag) info.etag = meta.etag;
  const attributes = metadataToAttributes(custom);
  if (attributes) info.attributes = attributes;
  return info;
}

/** The object resource in a finished rewrite's answer. */
function rewrittenResource(response: unknown): FileMetadata | undefined {
  if (typeof response !== "object" || response === null || !("resource" in response)) return undefined;
  const resource = response.resource;
  return typeof resource === "object" && resource !== null ? (resource as FileMetadata) : undefined;
}
