import type { Readable } from "node:stream";
import type {
  Backend,
  ByteRange,
  CopyOptions,
  ObjectInfo,
  ObjectReader,
  PendingUpload,
  RestoreOptions,
  RestoreStatus,
  TagChange,
  WriteInfo,
} from "../backends/backend.js";
import type { TokenBucket } from "./rate-limit.js";

/**
 * A backend whose requests draw from a token bucket: `--tps` and a location's `tps` keep Strata
 * under a store's request-rate limit (or a shared gateway's fair share) instead of provoking
 * 503 SlowDown answers. Each call is one token; a listing, one per page of items.
 */
export class RateLimitedBackend implements Backend {
  /** Present only where the inner backend keeps tags: callers read its presence as the capability. */
  readonly updateTags?: (key: string, change: TagChange) => Promise<void>;
  /** Present only where the inner backend has it: callers read the capability from its presence. */
  readonly listUploads?: () => AsyncIterable<PendingUpload>;

  constructor(
    private readonly inner: Backend,
    private readonly bucket: TokenBucket,
  ) {
    const update = inner.updateTags?.bind(inner);
    if (update) {
      this.updateTags = async (key, change) => {
        // A read of the current tags and a write: two requests.
        await this.bucket.take(2);
        return update(key, change);
      };
    }
    const listUploads = inner.listUploads?.bind(inner);
    if (listUploads) this.listUploads = () => this.paced(listUploads());
  }

  get url(): string {
    return this.inner.url;
  }

  get caps() {
    return this.inner.caps;
  }

  async check(): Promise<void> {
    await this.bucket.take(1);
    return this.inner.check();
  }

  list(prefix?: string): AsyncIterable<ObjectInfo> {
    return this.paced(this.inner.list(prefix));
  }

  /** A listing's items, one token per page of them. */
  private async *paced<T>(items: AsyncIterable<T>): AsyncIterable<T> {
    let count = 0;
    for await (const item of items) {
      if (count++ % 1000 === 0) await this.bucket.take(1);
      yield item;
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    await this.bucket.take(1);
    return this.inner.stat(key);
  }

  async read(key: string, range?: ByteRange): Promise<ObjectReader> {
    await this.bucket.take(1);
    return this.inner.read(key, range);
  }

  writeBuffer(size: number, streams?: number): number {
    return this.inner.writeBuffer(size, streams);
  }

  async write(key: string, body: Readable, info: WriteInfo): Promise<ObjectInfo> {
    await this.bucket.take(1);
    return this.inner.write(key, body, info);
  }

  async copy(from: string, to: string, opts?: CopyOptions): Promise<ObjectInfo> {
    await this.bucket.take(1);
    return this.inner.copy(from, to, opts);
  }

  async delete(keys: string[]): Promise<void> {
    await this.bucket.take(1);
    return this.inner.delete(keys);
  }

  async restore(key: string, opts: RestoreOptions): Promise<RestoreStatus> {
    await this.bucket.take(1);
    return this.inner.restore(key, opts);
  }

  async abortUpload(key: string, uploadId: string): Promise<void> {
    await this.bucket.take(1);
    return this.inner.abortUpload?.(key, uploadId);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
