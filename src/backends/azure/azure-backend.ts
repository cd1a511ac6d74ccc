import { createHash } from "node:crypto";
import { PassThrough, Readable } from "node:stream";
import {
  AnonymousCredential,
  type BlobBatchDeleteBlobsResponse,
  type BlobClient,
  type BlobItem,
  BlobServiceClient,
  type BlockBlobClient,
  type BlockBlobUploadOptions,
  type ContainerClient,
  RestError,
  type StoragePipelineOptions,
  StorageSharedKeyCredential,
  type Tags,
} from "@azure/storage-blob";
import {
  type Backend,
  BackendError,
  BucketNotFoundError,
  type ByteRange,
  type Capabilities,
  type CopyOptions,
  changedTags,
  InvalidRequestError,
  NeedsRestoreError,
  NotFoundError,
  type ObjectInfo,
  type ObjectReader,
  type RestoreOptions,
  type RestoreStatus,
  type TagChange,
  TransientError,
  type WriteInfo,
} from "../backend.js";
import { checkExpectedHash, readExactly, sizeError } from "../bodies.js";
import type { CloudLocation } from "../descriptor.js";
import { attributesToMetadata, metadataToAttributes, userMetadata } from "../metadata.js";
import { BufferPool, writeInParts } from "../multipart.js";
import { AZURE_CAPABILITIES, AZURE_TIERS, type AzureTier } from "./azure-classes.js";
import { azureError } from "./azure-errors.js";
import { decodeName, encodeName, encodePrefix, fromAzureMetadata, toAzureName } from "./azure-names.js";
import type { AzureOptions } from "./azure-options.js";
import { azurePartStore } from "./azure-upload.js";

type AzureLocation = CloudLocation;
type Credential = BlobServiceClient["credential"];

// Azure's block blob limits: 50,000 committed blocks of up to 4000 MiB each.
const MiB = 1024 * 1024;
const MAX_BLOCKS = 50_000;
const MAX_BLOCK = 4000 * MiB;
/** Small enough that `concurrency` blocks in memory stay modest, large enough for throughput. */
const DEFAULT_BLOCK = 8 * MiB;
/** A blob batch holds at most 256 sub-requests. */
const DELETE_BATCH = 256;
/** Deletes in flight when batches cannot be used. */
const PARALLEL_DELETES = 16;
const LIST_PAGE = 1000;
const MAX_NAME_CHARS = 1024;
/** Accounts without a hierarchical namespace allow at most 254 path segments. */
const MAX_SEGMENTS = 254;
/** Names and values of all metadata together. */
const MAX_METADATA_BYTES = 8 * 1024;
const MAX_TAGS = 10;
/**
 * Azure rehydrates an archived blob for good (it becomes Hot), so "restored" cannot be read
 * from the blob itself. restore() leaves this blob index tag (tags, unlike metadata, may be
 * written while a blob is archived): until the date it holds, a rehydrated blob reports
 * `restored`; afterwards it is simply a Hot blob.
 */
const RESTORE_TAG = "strata-restore-expires";
const STRATA_TAG_PREFIX = "strata-";

/**
 * Azure Blob Storage through @azure/storage-blob. Keys are relative to the location's prefix.
 * Credentials come from the environment only (never the config): a connection string, else an
 * account with a shared key or a SAS token, else DefaultAzureCredential.
 */
export class AzureBackend implements Backend {
  readonly caps: Capabilities = AZURE_CAPABILITIES;
  readonly url: string;

  private readonly container: ContainerClient;
  /** Set once a blob batch has failed here (Azurite refuses them with a SAS): one delete per blob since. */
  private batchFailed = false;
  private readonly buffers = new BufferPool();

  private constructor(
    private readonly location: AzureLocation,
    private readonly options: AzureOptions,
    private readonly clients: Record<Pipeline, ContainerClient>,
  ) {
    this.url = location.url;
    this.container = clients.retrying;
  }

  static async open(location: AzureLocation, options: AzureOptions): Promise<AzureBackend> {
    const access = await resolveAccess(location, options);
    const client = (pipeline: Pipeline) =>
      new BlobServiceClient(`${access.endpoint}${access.query}`, access.credential, pipelineOptions(pipeline))
        // Container names are validated by the location parser; the SDK only appends it.
        .getContainerClient(location.bucket);
    return new AzureBackend(location, options, {
      retrying: client("retrying"),
      probe: client("probe"),
      once: client("once"),
    });
  }

  async check(): Promise<void> {
    try {
      await this.clients.probe.getProperties();
    } catch (err) {
      throw this.error(err, "", true);
    }
  }

  async *list(prefix = ""): AsyncIterable<ObjectInfo> {
    const namePrefix = encodePrefix(this.path(prefix));
    const pages = this.container
      .listBlobsFlat({ prefix: namePrefix || undefined, includeMetadata: true, includeTags: true })
      .byPage({ maxPageSize: LIST_PAGE });
    const iterator = pages[Symbol.asyncIterator]();
    for (;;) {
      let page: Awaited<ReturnType<typeof iterator.next>>;
      try {
        page = await iterator.next();
      } catch (err) {
        throw this.error(err, prefix);
      }
      if (page.done) return;
      for (const item of page.value.segment.blobItems) {
        const key = this.keyOf(item.name);
        // Escaped names can share an encoded prefix without sharing the key prefix.
        if (key?.startsWith(prefix)) yield toInfo(key, factsOfItem(item));
      }
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const facts = await this.facts(key);
    return facts && toInfo(key, facts);
  }

  async read(key: string, range?: ByteRange): Promise<ObjectReader> {
    if (range && (range.start < 0 || range.end < range.start)) {
      throw new InvalidRequestError(this.url, `${JSON.stringify(key)}: invalid range ${range.start}-${range.end}`);
    }
    const blob = this.blob(key);
    try {
      const count = range ? range.end - range.start + 1 : undefined;
      // maxRetryRequests: the SDK resumes a broken download where it stopped, pinned to the ETag.
      const response = await blob.download(range?.start ?? 0, count, { maxRetryRequests: 5 });
      const stream = response.readableStreamBody;
      if (!stream) throw new TransientError(this.url, `${JSON.stringify(key)}: the download had no body`);
      const info = toInfo(key, {
        size: totalSize(response.contentRange) ?? response.contentLength ?? 0,
        lastModified: response.lastModified,
        etag: response.etag,
        metadata: response.metadata,
      });
      return { info, body: this.mapStreamErrors(stream, key) };
    } catch (err) {
      throw this.error(err, key);
    }
  }

  async write(key: string, body: Readable, info: WriteInfo): Promise<ObjectInfo> {
    try {
      // Everything that can be refused is refused before a byte is read.
      const blob = this.blob(key);
      const tier = info.storageClass === undefined ? undefined : this.checkTier(info.storageClass);
      const tags = this.checkTags(info.tags ?? {});
      this.toAzureMetadata(info.metadata ?? {});
      const blockSize = this.blockSize(key, info.size);
      const stored =
        info.size <= blockSize
          ? await this.writeWhole(blob, key, body, info, tier, tags)
          : await this.writeBlocks(blob, key, body, info, blockSize, tier, tags);
      const { response, sha256 } = stored;
      const attributes = { ...info.attributes, sha256: info.attributes.sha256 ?? sha256 };
      return {
        key,
        size: info.size,
        modifiedUs: (response.lastModified?.getTime() ?? Date.now()) * 1000,
        ...(tier ? { storageClass: tier } : {}),
        ...(response.etag ? { etag: response.etag } : {}),
        sha256,
        attributes,
        metadata: userMetadata(info.metadata ?? {}),
        tags: { ...tags },
      };
    } catch (err) {
      // The caller's stream (often an open file) is not left half read.
      body.destroy();
      throw this.error(err, key);
    }
  }

  /** One block is buffered whole; staged blocks hold `streams` in flight and one filling. */
  writeBuffer(size: number, streams = this.options.concurrency): number {
    const blockSize = blockSizeFor(size, this.options.blockSize);
    return size <= blockSize ? size : blockSize * (streams + 1);
  }

  async copy(from: string, to: string, opts: CopyOptions = {}): Promise<ObjectInfo> {
    const tier = opts.storageClass === undefined ? undefined : this.checkTier(opts.storageClass);
    const source = await this.facts(from);
    if (!source) throw new NotFoundError(this.url, from);
    if (from === to) return this.retier(from, source, tier);
    if (source.accessTier === "Archive") throw new NeedsRestoreError(this.url, from);
    const target = this.blob(to);
    const tags = userTags(source.tags);
    try {
      // Copy Blob within one account is server-side and needs no SAS for its source; unlike
      // Copy Blob From URL it has no 256 MiB limit. Tags are not copied, so they are passed.
      const poller = await target.beginCopyFromURL(this.blob(from).url, {
        tier: tier ?? (source.accessTierInferred ? undefined : source.accessTier),
        ...(Object.keys(tags).length > 0 ? { tags } : {}),
        intervalInMs: 500,
      });
      const done = await poller.pollUntilDone();
      if (done.copyStatus !== "success") {
        throw new BackendError(
          `${JSON.stringify(to)}: copy ended ${done.copyStatus ?? "without a status"}`,
          this.url,
          true,
        );
      }
    } catch (err) {
      throw this.error(err, to);
    }
    return this.statOrFail(to);
  }

  async delete(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      await this.deleteBatch(keys.slice(i, i + DELETE_BATCH));
    }
  }

  async restore(key: string, opts: RestoreOptions): Promise<RestoreStatus> {
    const facts = await this.facts(key);
    if (!facts) throw new NotFoundError(this.url, key);
    const status = restoreStatus(facts);
    if (status.state !== "archived") return status;
    const blob = this.blob(key);
    try {
      const userTagCount = Object.keys(userTags(facts.tags)).length;
      // With ten user tags there is no room for the marker: the restore still happens, and the
      // blob then reads as an ordinary Hot blob.
      if (userTagCount < MAX_TAGS) {
        const expiresAt = new Date(Date.now() + opts.days * 86_400_000);
        await blob.setTags({ ...userTags(facts.tags), [RESTORE_TAG]: expiresAt.toISOString() });
      }
      // Rehydration is permanent on Azure; Hot is the tier a restored blob is read from.
      await blob.setAccessTier("Hot", { rehydratePriority: opts.tier === "expedited" ? "High" : "Standard" });
    } catch (err) {
      throw this.error(err, key);
    }
    return { state: "restoring" };
  }

  /**
   * Blob index tags are replaced as a set: the current tags are read, the user's checked as a
   * write checks them, and Strata's own (the restore marker) kept.
   */
  async updateTags(key: string, change: TagChange): Promise<void> {
    const blob = this.blob(key);
    try {
      const { tags } = await blob.getTags();
      const user = this.checkTags(changedTags(userTags(tags), change));
      const own = Object.fromEntries(Object.entries(tags).filter(([name]) => name.startsWith(STRATA_TAG_PREFIX)));
      await blob.setTags({ ...user, ...own });
    } catch (err) {
      throw err instanceof BackendError ? err : this.error(err, key);
    }
  }

  /** Nothing to release: the SDK's HTTP agents are shared and keep-alive sockets time out. */
  /**
   * Forgets a journaled block upload that nothing will resume. Staged blocks cannot be deleted
   * one by one; uncommitted, the service drops them after a week (or at the blob's next commit).
   */
  async abortUpload(): Promise<void> {}

  async close(): Promise<void> {
    this.buffers.clear();
  }

  // ---- reading blob facts ----

  /** Properties, metadata and tags of a blob, or undefined when there is none. */
  private async facts(key: string): Promise<BlobFacts | undefined> {
    const blob = this.blob(key);
    try {
      const props = await blob.getProperties();
      // Tags cost a second request; most blobs written by Strata without tags skip it.
      const tags = (props.tagCount ?? 0) > 0 ? (await blob.getTags()).tags : {};
      return factsOf(props, props.metadata, tags);
    } catch (err) {
      const mapped = this.error(err, key);
      if (mapped instanceof NotFoundError && !(mapped instanceof BucketNotFoundError)) return undefined;
      throw mapped;
    }
  }

  private async statOrFail(key: string): Promise<ObjectInfo> {
    const info = await this.stat(key);
    if (!info) throw new NotFoundError(this.url, key);
    return info;
  }

  // ---- writing ----

  /** A body that fits one block goes up in a single Put Blob, which the service checks by MD5. */
  /** A body of one block is read whole, checked, and sent in one request with its Content-MD5. */
  private async writeWhole(
    blob: BlockBlobClient,
    key: string,
    body: Readable,
    info: WriteInfo,
    tier: AzureTier | undefined,
    tags: Tags,
  ): Promise<Stored> {
    const data = await readExactly(body, info.size, (received) => sizeError(this.url, key, info.size, received));
    const sha256 = createHash("sha256").update(data).digest("hex");
    checkExpectedHash(this.url, key, info, sha256);
    const md5 = createHash("md5").update(data).digest();
    return { response: await this.commit(blob, { kind: "whole", data, md5 }, info, sha256, tier, tags), sha256 };
  }

  /**
   * Larger bodies go up as staged blocks through the multipart engine: `streams` at a time
   * (default `concurrency`), each with its MD5 so the service rejects a damaged block,
   * journaled and resumable. Nothing is visible until the block list is committed, so a failed
   * write leaves the previous blob (or none) in place.
   */
  private async writeBlocks(
    blob: BlockBlobClient,
    key: string,
    body: Readable,
    info: WriteInfo,
    blockSize: number,
    tier: AzureTier | undefined,
    tags: Tags,
  ): Promise<Stored> {
    const store = azurePartStore({
      url: this.url,
      key,
      blob,
      // The engine has checked the body's SHA-256 by then; the blob keeps it as metadata.
      commit: (ids, { md5, sha256 }) => this.commit(blob, { kind: "blocks", ids, md5 }, info, sha256, tier, tags),
    });
    const streams = info.streams ?? this.options.concurrency;
    const write = { url: this.url, key, info, partSize: blockSize, streams, buffers: this.buffers, wholeMd5: true };
    const sent = await writeInParts(store, body, write);
    return { response: sent.completed, sha256: sent.sha256 };
  }

  /** Makes the blob visible, with its metadata, tags and tier, in one request. */
  private commit(
    blob: BlockBlobClient,
    upload: Upload,
    info: WriteInfo,
    sha256: string,
    tier: AzureTier | undefined,
    tags: Tags,
  ) {
    const attributes = { ...info.attributes, sha256: info.attributes.sha256 ?? sha256 };
    const metadata = this.toAzureMetadata({ ...(info.metadata ?? {}), ...attributesToMetadata(attributes) });
    // No tier unless asked for: the account's default applies, and premium accounts have none.
    const common = {
      metadata,
      ...(tier ? { tier } : {}),
      ...(Object.keys(tags).length > 0 ? { tags } : {}),
      // Stored as the blob's Content-MD5, so any later reader can check the whole blob.
      blobHTTPHeaders: { blobContentMD5: upload.md5 },
    };
    if (upload.kind === "blocks") return blob.commitBlockList(upload.ids, common);
    // The SDK passes transactionalContentMD5 on to Put Blob's Content-MD5 header (which the
    // service verifies) though its upload options type does not declare it.
    const options: BlockBlobUploadOptions & { transactionalContentMD5: Uint8Array } = {
      ...common,
      transactionalContentMD5: upload.md5,
    };
    return blob.upload(upload.data, upload.data.length, options);
  }

  /** Azure's limits decide the block size: the configured (or default) size, raised to fit. */
  private blockSize(key: string, size: number): number {
    const chosen = blockSizeFor(size, this.options.blockSize);
    if (chosen > MAX_BLOCK) {
      throw new InvalidRequestError(
        this.url,
        `${JSON.stringify(key)}: ${size} bytes need blocks over Azure's ${MAX_BLOCK / MiB} MiB limit (at most ${MAX_BLOCKS} blocks)`,
      );
    }
    return chosen;
  }

  // ---- tiers, restore, delete ----

  /** A tier change in place; leaving the archive this way is a rehydration, as Azure does it. */
  private async retier(key: string, facts: BlobFacts, tier: AzureTier | undefined): Promise<ObjectInfo> {
    const blob = this.blob(key);
    try {
      if (tier && tier !== facts.accessTier) {
        const leavingArchive = facts.accessTier === "Archive" && tier !== "Archive";
        await blob.setAccessTier(tier, leavingArchive ? { rehydratePriority: "Standard" } : {});
      }
      // A class chosen by hand ends any earlier restore, as on the other backends.
      if (tier && facts.tags?.[RESTORE_TAG] !== undefined) await blob.setTags(userTags(facts.tags));
    } catch (err) {
      throw this.error(err, key);
    }
    return this.statOrFail(key);
  }

  /** One Blob Batch request for up to 256 deletes; a blob already gone answers 404, which is fine. */
  private async deleteBatch(keys: string[]): Promise<void> {
    if (keys.length > 1 && !this.batchFailed) {
      const clients: BlobClient[] = keys.map((key) => this.blob(key));
      let response: BlobBatchDeleteBlobsResponse | undefined;
      try {
        response = await this.clients.once.getBlobBatchClient().deleteBlobs(clients);
      } catch {
        // The batch as a whole failed or was refused. Single deletes, each retried by the SDK,
        // then either do the work or report the real problem for the key concerned.
        this.batchFailed = true;
      }
      if (response) {
        const failed = response.subResponses.find((sub) => sub.status >= 300 && sub.status !== 404);
        if (!failed) return;
        const index = clients.findIndex((client) => client.url === failed._request.url);
        const error = new RestError(failed.statusMessage || `HTTP ${failed.status}`, {
          statusCode: failed.status,
          ...(failed.errorCode ? { code: failed.errorCode } : {}),
        });
        throw this.error(error, keys[index] ?? keys[0] ?? "");
      }
    }
    await this.deleteEach(keys);
  }

  private async deleteEach(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += PARALLEL_DELETES) {
      await Promise.all(
        keys.slice(i, i + PARALLEL_DELETES).map(async (key) => {
          const blob = this.blob(key);
          try {
            await blob.deleteIfExists();
          } catch (err) {
            throw this.error(err, key);
          }
        }),
      );
    }
  }

  // ---- names and validation ----

  /** The key under the location's prefix, before the name encoding. */
  private path(key: string): string {
    return this.location.prefix ? `${this.location.prefix}/${key}` : key;
  }

  private blob(key: string): BlockBlobClient {
    if (key.length === 0 || !key.isWellFormed()) {
      throw new InvalidRequestError(this.url, `invalid key ${JSON.stringify(key.slice(0, 80))}`);
    }
    const name = encodeName(this.path(key));
    if (name.length > MAX_NAME_CHARS || name.split("/").length > MAX_SEGMENTS) {
      throw new InvalidRequestError(
        this.url,
        `${JSON.stringify(key.slice(0, 80))}: blob names hold at most ${MAX_NAME_CHARS} characters in ${MAX_SEGMENTS} segments`,
      );
    }
    return this.container.getBlockBlobClient(name);
  }

  /** The key of a listed blob name, or undefined when it is not under this location. */
  private keyOf(name: string): string | undefined {
    const path = decodeName(name);
    if (!this.location.prefix) return path;
    const head = `${this.location.prefix}/`;
    return path.startsWith(head) ? path.slice(head.length) : undefined;
  }

  private checkTier(storageClass: string): AzureTier {
    const tier = AZURE_TIERS.find((t) => t === storageClass);
    if (!tier) {
      throw new InvalidRequestError(this.url, `storage class ${storageClass} is not one of ${AZURE_TIERS.join(", ")}`);
    }
    return tier;
  }

  /** Blob index tags: at most ten, of Azure's characters; "strata-" names are Strata's own. */
  private checkTags(tags: Record<string, string>): Tags {
    const entries = Object.entries(tags);
    if (entries.length > MAX_TAGS) throw new InvalidRequestError(this.url, `Azure allows at most ${MAX_TAGS} tags`);
    for (const [name, value] of entries) {
      if (!/^[A-Za-z0-9 +\-./:=_]{1,128}$/.test(name) || !/^[A-Za-z0-9 +\-./:=_]{0,256}$/.test(value)) {
        throw new InvalidRequestError(
          this.url,
          `tag ${JSON.stringify(name)}: Azure tags use letters, digits, space and + - . / : = _ (names up to 128, values up to 256)`,
        );
      }
      if (name.startsWith(STRATA_TAG_PREFIX)) {
        throw new InvalidRequestError(this.url, `tag ${JSON.stringify(name)}: names starting "strata-" are reserved`);
      }
    }
    return { ...tags };
  }

  /**
   * Azure metadata names must be C# identifiers and are matched without regard to case (and
   * Node lowercases them in responses), so Strata's `strata-x-y` names travel as `strata_x_y`
   * and user names must be lowercase identifiers that do not start with `strata_`.
   */
  private toAzureMetadata(meta: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {};
    let bytes = 0;
    for (const [name, value] of Object.entries(meta)) {
      const azureName = toAzureName(name);
      if (azureName === undefined) {
        throw new InvalidRequestError(
          this.url,
          `metadata name ${JSON.stringify(name)} cannot be stored on Azure (lowercase letters, digits and _, not starting with a digit or "strata_")`,
        );
      }
      // Values travel as HTTP header values: printable ASCII, and spaces at the ends are lost.
      if (!/^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/.test(value)) {
        throw new InvalidRequestError(this.url, `metadata ${JSON.stringify(name)}: values must be printable ASCII`);
      }
      bytes += azureName.length + value.length;
      out[azureName] = value;
    }
    if (bytes > MAX_METADATA_BYTES) {
      throw new InvalidRequestError(this.url, `metadata totals ${bytes} bytes; Azure allows ${MAX_METADATA_BYTES}`);
    }
    return out;
  }

  // ---- errors ----

  /** Read errors surface on the body stream; they are mapped like any other. */
  private mapStreamErrors(stream: NodeJS.ReadableStream, key: string): Readable {
    const source = stream instanceof Readable ? stream : Readable.from(stream);
    const out = new PassThrough();
    source.on("error", (err) => out.destroy(this.error(err, key)));
    out.on("close", () => source.destroy());
    return source.pipe(out);
  }

  /** One line naming the location and key, never a credential; typed so callers can retry. */
  private error(err: unknown, key: string, probing = false): Error {
    return azureError(err, { url: this.url, key, bucket: this.location.bucket, probing });
  }
}

/**
 * The SDK's RestError carries the request (URL with any SAS token, headers) and is left out of
 * the chain so no logger can print it; its code and status are in the message.
 */
// ---- credentials and clients ----

interface Access {
  endpoint: string;
  /** A SAS token as a query string ("?sv=..."), or "". */
  query: string;
  credential: Credential;
}

/** Credentials from the environment only, so they never reach the config, the catalog or a message. */
async function resolveAccess(location: AzureLocation, options: AzureOptions): Promise<Access> {
  const env = process.env;
  const connectionString = env.AZURE_STORAGE_CONNECTION_STRING;
  if (connectionString) return fromConnectionString(location, options, connectionString);
  const account = options.account ?? env.AZURE_STORAGE_ACCOUNT;
  const endpoint = configuredEndpoint(location, options) ?? (account && `https://${account}.blob.core.windows.net`);
  const key = env.AZURE_STORAGE_KEY;
  const sas = env.AZURE_STORAGE_SAS_TOKEN;
  if (!endpoint || (key && !account)) {
    throw new InvalidRequestError(location.url, "no storage account: set azure.account or AZURE_STORAGE_ACCOUNT");
  }
  if (key && account) return { endpoint, query: "", credential: new StorageSharedKeyCredential(account, key) };
  if (sas) return { endpoint, query: `?${sas.replace(/^\?/, "")}`, credential: new AnonymousCredential() };
  if (new URL(endpoint).protocol !== "https:") {
    // The SDK would refuse to send a token in clear at the first request, with a vaguer message.
    throw new InvalidRequestError(location.url, `Azure AD credentials need an https endpoint, not ${endpoint}`);
  }
  // @azure/identity is large and only needed here.
  const { DefaultAzureCredential } = await import("@azure/identity");
  return { endpoint, query: "", credential: new DefaultAzureCredential() };
}

/** The endpoint from the config, which must not carry a SAS token: credentials live in the environment. */
function configuredEndpoint(location: AzureLocation, options: AzureOptions): string | undefined {
  if (!options.endpoint) return undefined;
  const url = new URL(options.endpoint);
  if (url.search || url.username || url.password) {
    throw new InvalidRequestError(
      location.url,
      `azure.endpoint must be a plain URL (${url.origin}${url.pathname}); put a SAS token in AZURE_STORAGE_SAS_TOKEN`,
    );
  }
  return trimSlash(`${url.origin}${url.pathname}`);
}

function fromConnectionString(location: AzureLocation, options: AzureOptions, text: string): Access {
  let service: BlobServiceClient;
  try {
    service = BlobServiceClient.fromConnectionString(text);
  } catch {
    // The SDK's message may quote the string; it is not repeated here.
    throw new InvalidRequestError(location.url, "AZURE_STORAGE_CONNECTION_STRING is not a valid connection string");
  }
  const parsed = new URL(service.url);
  return {
    endpoint: configuredEndpoint(location, options) ?? trimSlash(`${parsed.origin}${parsed.pathname}`),
    query: parsed.search,
    credential: service.credential,
  };
}

/**
 * retrying: everyday requests, retried by the SDK on 5xx, 429 and network errors.
 * probe: check() makes one short attempt, so a wrong endpoint fails in seconds, not minutes.
 * once: blob batches, whose failure falls back to single (retried) deletes.
 */
type Pipeline = "retrying" | "probe" | "once";

function pipelineOptions(pipeline: Pipeline): StoragePipelineOptions {
  const retryOptions = {
    retrying: { maxTries: 4 },
    probe: { maxTries: 1, tryTimeoutInMs: 5_000 },
    once: { maxTries: 1 },
  }[pipeline];
  return { retryOptions, userAgentOptions: { userAgentPrefix: "strata" } };
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}

// ---- blob facts to ObjectInfo ----

interface BlobFacts {
  size: number;
  lastModified?: Date;
  etag?: string;
  accessTier?: string;
  accessTierInferred?: boolean;
  archiveStatus?: string;
  metadata?: Record<string, string>;
  tags?: Record<string, string>;
}

/** The properties a blob's facts are read from, as both a HEAD and a listing item carry them. */
interface BlobProperties {
  contentLength?: number;
  lastModified?: Date;
  etag?: string;
  accessTier?: string;
  accessTierInferred?: boolean;
  archiveStatus?: string;
}

function factsOf(
  p: BlobProperties,
  metadata: Record<string, string> | undefined,
  tags: Record<string, string>,
): BlobFacts {
  return {
    size: p.contentLength ?? 0,
    lastModified: p.lastModified,
    etag: p.etag,
    accessTier: p.accessTier,
    accessTierInferred: p.accessTierInferred,
    archiveStatus: p.archiveStatus,
    metadata,
    tags,
  };
}

function factsOfItem(item: BlobItem): BlobFacts {
  return factsOf(item.properties, item.metadata, item.tags ?? {});
}

function toInfo(key: string, facts: BlobFacts): ObjectInfo {
  const metadata = fromAzureMetadata(facts.metadata ?? {});
  const info: ObjectInfo = {
    key,
    size: facts.size,
    modifiedUs: (facts.lastModified?.getTime() ?? 0) * 1000,
    metadata: userMetadata(metadata),
  };
  if (facts.accessTier) info.storageClass = facts.accessTier;
  if (facts.etag) info.etag = facts.etag;
  if (facts.tags) {
    info.tags = userTags(facts.tags);
    info.restore = restoreStatus(facts);
  }
  const attributes = metadataToAttributes(metadata);
  if (attributes) {
    info.attributes = attributes;
    if (attributes.sha256) info.sha256 = attributes.sha256;
  }
  return info;
}

function restoreStatus(facts: BlobFacts): RestoreStatus {
  if (facts.accessTier === "Archive") {
    return facts.archiveStatus?.startsWith("rehydrate-pending-to-") ? { state: "restoring" } : { state: "archived" };
  }
  const marked = facts.tags?.[RESTORE_TAG];
  const expiresAt = marked ? new Date(marked) : undefined;
  if (expiresAt && expiresAt.getTime() > Date.now()) return { state: "restored", expiresAt };
  return { state: "not-archived" };
}

function userTags(tags: Record<string, string> | undefined): Tags {
  return Object.fromEntries(Object.entries(tags ?? {}).filter(([name]) => !name.startsWith(STRATA_TAG_PREFIX)));
}

/** "bytes 2-5/10" → 10. */
function totalSize(contentRange: string | undefined): number | undefined {
  const total = contentRange && /\/(\d+)$/.exec(contentRange)?.[1];
  return total ? Number(total) : undefined;
}

// ---- block uploads ----

/** The configured (or default) block size, raised so `size` fits in Azure's 50,000 blocks. */
export function blockSizeFor(size: number, configured: number | undefined): number {
  const needed = Math.ceil(Math.ceil(size / MAX_BLOCKS) / MiB) * MiB;
  return Math.max(configured ?? DEFAULT_BLOCK, needed);
}

type Upload = { kind: "whole"; data: Buffer; md5: Buffer } | { kind: "blocks"; ids: string[]; md5: Buffer };

interface Stored {
  response: { lastModified?: Date; etag?: string };
  sha256: string;
}
