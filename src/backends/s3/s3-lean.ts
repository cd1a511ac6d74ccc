import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { rootCertificates } from "node:tls";
import { type S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { SignatureV4 } from "@smithy/signature-v4";
import type { Pool } from "undici";
import { isThrottling } from "../errors.js";

/**
 * A lean signed request path for single-request PUTs and object HEADs and tag reads, beside the
 * AWS SDK's command stack.
 *
 * The SDK spends about 2 ms of client CPU per PutObject in its middleware, signing and response
 * handling (bench/ANALYSIS.md), which is what limits an upload of many small files on a machine
 * that also runs the store. This path signs with the SDK's own SigV4 signer, credential chain,
 * region and endpoint resolution, retries with the SDK client's own retry strategy (attempts,
 * backoff and retry quota), and answers failures as the SDK's S3ServiceException, so s3Error
 * maps them exactly as it maps the SDK's. It sends over an undici keep-alive pool.
 */

/** What one lean PUT sends besides the body; header names lower case. */
export interface LeanPut {
  /** The key in the bucket, prefix included, unencoded. */
  objectKey: string;
  body: Buffer;
  /** The body's SHA-256 in hex when the payload is signed (S3 checks it too), or UNSIGNED_PAYLOAD. */
  payloadHash: string;
  headers: Record<string, string>;
}

/** The answer's headers a caller checks, named as the SDK's PutObject output names them. */
export interface LeanAnswer {
  ETag?: string;
  ServerSideEncryption?: string;
}

/** An object's head, named as the SDK's HeadObject output names it. */
export interface LeanHead extends LeanAnswer {
  ContentLength?: number;
  LastModified?: Date;
  StorageClass?: string;
  Restore?: string;
  Metadata: Record<string, string>;
}

/** One signed request: `subresource` is a query like `tagging`. */
interface LeanRequest {
  method: "PUT" | "HEAD" | "GET";
  objectKey: string;
  subresource?: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** x-amz-content-sha256: the body's SHA-256 in hex, or UNSIGNED_PAYLOAD; absent: no body. */
  payloadHash?: string;
  /** A 404 is an answer (the object is absent), not a failure: no exception built for it. */
  absentIsAnswer?: boolean;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/** An object's bytes as they arrive, and its head: what a GET answers. */
export interface LeanObject {
  head: LeanHead;
  /** The value of Content-Range, for a ranged read. */
  contentRange?: string;
  body: Readable;
}

type Headers = Record<string, string | string[] | undefined>;

/** The SHA-256 of no body, the payload hash of a HEAD or GET. */
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/** The payload hash of a body proven by its Content-MD5 alone: the store hashes it once, not twice. */
export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";
const META_PREFIX = "x-amz-meta-";

/** The SDK's retry strategy with retry tokens (StandardRetryStrategy), the one its clients make. */
type RetryStrategy = Extract<Awaited<ReturnType<S3Client["config"]["retryStrategy"]>>, { recordSuccess: unknown }>;
type RetryToken = Awaited<ReturnType<RetryStrategy["acquireInitialRetryToken"]>>;

/** Keep-alive sockets per store, as the SDK client's agents allow. */
const CONNECTIONS = 256;
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * A body over this goes to undici in slices (views, no copy). undici times the wait for an
 * answer from the request's start, re-armed only as the body's writes drain: one write of a
 * whole body that a slow link takes minutes to drain would be taken for the store's silence.
 */
const SLICE_BYTES = 256 * 1024;

export class LeanS3 {
  private constructor(
    /** Scheme, host and port of the resolved endpoint. */
    private readonly origin: URL,
    /** The endpoint's path, bucket included for path-style, without a trailing slash. */
    private readonly basePath: string,
    private readonly signer: SignatureV4,
    private readonly retries: RetryStrategy,
    private readonly makePool: () => Promise<Pool>,
  ) {}

  /**
   * The keep-alive pool, made at the first request: undici (about 7 MB resident) is loaded only
   * by a command that sends through this path, not by every command that opens the store (a
   * no-op sync sends nothing).
   */
  private pool: Promise<Pool> | undefined;

  /**
   * The endpoint, signing name and region of `bucket` as `client` resolves them; undefined when
   * the client retries with a legacy strategy whose tokens this path cannot share.
   */
  /** `silenceMs`: how long an answer may be awaited, or a body stall, before the request is dropped. */
  static async open(client: S3Client, bucket: string, silenceMs: number): Promise<LeanS3 | undefined> {
    const config = client.config;
    const retries = await config.retryStrategy();
    if (!("recordSuccess" in retries)) return undefined;
    const region = await config.region();
    const endpoint = config.endpoint ? await config.endpoint() : undefined;
    const resolved = config.endpointProvider({
      Bucket: bucket,
      Region: region,
      UseFIPS: await config.useFipsEndpoint(),
      UseDualStack: await config.useDualstackEndpoint(),
      ForcePathStyle: config.forcePathStyle ?? false,
      Accelerate: config.useAccelerateEndpoint ?? false,
      ...(endpoint
        ? {
            Endpoint: `${endpoint.protocol}//${endpoint.hostname}${endpoint.port ? `:${endpoint.port}` : ""}${endpoint.path}`,
          }
        : {}),
    });
    const url = new URL(resolved.url.href);
    const scheme = (
      resolved.properties?.authSchemes as { signingName?: string; signingRegion?: string }[] | undefined
    )?.[0];
    const signer = new SignatureV4({
      service: scheme?.signingName ?? "s3",
      region: scheme?.signingRegion ?? region,
      credentials: config.credentials,
      sha256: config.sha256,
      // S3 signs the path as sent: the key is encoded once, here, not again by the signer.
      uriEscapePath: false,
      applyChecksum: false,
    });
    const tls = url.protocol === "https:" ? trustedCertificates() : {};
    const makePool = async () =>
      new (await import("undici")).default.Pool(url.origin, {
        connections: CONNECTIONS,
        // Re-armed as each slice of a body drains (`inSlices`): a long upload is not silence.
        headersTimeout: silenceMs,
        bodyTimeout: silenceMs,
        connect: { timeout: CONNECT_TIMEOUT_MS, ...tls },
      });
    return new LeanS3(url, url.pathname.replace(/\/+$/, ""), signer, retries, makePool);
  }

  async put({ objectKey, body, payloadHash, headers }: LeanPut): Promise<LeanAnswer> {
    return answerOf((await this.request({ method: "PUT", objectKey, body, payloadHash, headers })).headers);
  }

  /** The object's head; undefined when it is absent (or its bucket is: the SDK path's stat says the same). */
  async head(objectKey: string): Promise<LeanHead | undefined> {
    const { status, headers } = await this.request({ method: "HEAD", objectKey, absentIsAnswer: true });
    return status === 404 ? undefined : headOf(headers);
  }

  /**
   * The object's bytes (those of `range`, "bytes=first-last", if given) as they come, after its
   * head. Retried until the answer's head arrives; a failure in its body fails the stream.
   */
  async get(objectKey: string, range?: string): Promise<LeanObject> {
    const answer = await this.retried(() =>
      this.open({ method: "GET", objectKey, ...(range ? { headers: { range } } : {}) }),
    );
    // undici fails a body let go of before its end with an AbortError, which a reader that let
    // go on purpose (a range abandoned, a body read some other way) does not listen for: the
    // process would die of it. The SDK's bodies (Node's IncomingMessage) raise nothing then;
    // readers still see any failure through their own reading (iteration, pipeline).
    answer.body.on("error", () => {});
    const contentRange = header(answer.headers, "content-range");
    return { head: headOf(answer.headers), ...(contentRange ? { contentRange } : {}), body: answer.body };
  }

  /** The object's tags (GetObjectTagging); undefined when it is absent. */
  async tags(objectKey: string): Promise<Record<string, string> | undefined> {
    const { status, text } = await this.request({
      method: "GET",
      objectKey,
      subresource: "tagging",
      absentIsAnswer: true,
    });
    if (status === 404) return undefined;
    const tags: Record<string, string> = {};
    for (const [, tag = ""] of text.matchAll(/<Tag>(.*?)<\/Tag>/gs))
      tags[xmlText(tag, "Key") ?? ""] = xmlText(tag, "Value") ?? "";
    return tags;
  }

  /** One request, retried as the SDK client retries; failures are thrown as the SDK throws them. */
  private request(request: LeanRequest): Promise<Answer> {
    return this.retried(() => this.send(request));
  }

  private async retried<T>(attempt: () => Promise<T>): Promise<T> {
    let token: RetryToken = await this.retries.acquireInitialRetryToken("s3");
    for (;;) {
      try {
        const answer = await attempt();
        this.retries.recordSuccess(token);
        return answer;
      } catch (err) {
        token = await this.retries.refreshRetryTokenForRetry(token, { errorType: retryType(err) }).catch(() => {
          throw err;
        });
        await sleep(token.getRetryDelay());
      }
    }
  }

  async close(): Promise<void> {
    if (this.pool) await (await this.pool).close();
  }

  private async send(request: LeanRequest): Promise<Answer> {
    const answer = await this.open(request);
    const text = await answer.body.text();
    return { status: answer.status, headers: answer.headers, text };
  }

  /** One signed request sent, its answer's body not yet read; an error answer is thrown. */
  private async open(request: LeanRequest): Promise<{ status: number; headers: Headers; body: BodyOf<Pool> }> {
    const { method, objectKey, subresource, headers, body, payloadHash } = request;
    const path = `${this.basePath}/${encodeKey(objectKey)}`;
    const signed = await this.signer.sign({
      method,
      protocol: this.origin.protocol,
      hostname: this.origin.hostname,
      ...(this.origin.port ? { port: Number(this.origin.port) } : {}),
      path,
      query: subresource ? { [subresource]: "" } : {},
      headers: {
        ...headers,
        host: this.origin.host,
        ...(body ? { "content-length": String(body.length) } : {}),
        "x-amz-content-sha256": payloadHash ?? EMPTY_SHA256,
      },
    });
    this.pool ??= this.makePool();
    const answer = await (await this.pool).request({
      method,
      path: subresource ? `${path}?${subresource}` : path,
      headers: signed.headers,
      ...(body ? { body: inSlices(body) } : {}),
      // undici closes a connection after each HEAD by default (a guard against servers that send
      // a HEAD answer a body); S3 does not, and a new connection per stat costs more than the HEAD.
      ...(method === "HEAD" ? { reset: false } : {}),
    });
    const status = answer.statusCode;
    if (status >= 300 && !(status === 404 && request.absentIsAnswer)) {
      throw serviceException(status, answer.headers, await answer.body.text());
    }
    return { status, headers: answer.headers, body: answer.body };
  }
}

type BodyOf<P extends Pool> = Awaited<ReturnType<P["request"]>>["body"];

/** A body as undici should write it: whole when small, else slice by slice (see SLICE_BYTES). */
function inSlices(body: Buffer): Buffer | Readable {
  if (body.length <= SLICE_BYTES) return body;
  return Readable.from(
    (function* () {
      for (let at = 0; at < body.length; at += SLICE_BYTES) yield body.subarray(at, at + SLICE_BYTES);
    })(),
    { objectMode: false },
  );
}

/** An object's head from its answer's headers, named as the SDK names HeadObject's output. */
function headOf(headers: Headers): LeanHead {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(META_PREFIX) && typeof value === "string") metadata[name.slice(META_PREFIX.length)] = value;
  }
  const length = header(headers, "content-length");
  const modified = header(headers, "last-modified");
  const storageClass = header(headers, "x-amz-storage-class");
  const restore = header(headers, "x-amz-restore");
  return {
    ...answerOf(headers),
    ...(length ? { ContentLength: Number(length) } : {}),
    ...(modified ? { LastModified: new Date(modified) } : {}),
    ...(storageClass ? { StorageClass: storageClass } : {}),
    ...(restore ? { Restore: restore } : {}),
    Metadata: metadata,
  };
}

function answerOf(headers: Headers): LeanAnswer {
  const etag = header(headers, "etag");
  const sse = header(headers, "x-amz-server-side-encryption");
  return { ...(etag ? { ETag: etag } : {}), ...(sse ? { ServerSideEncryption: sse } : {}) };
}

/**
 * A key as S3's SigV4 wants it in the path: each segment percent-encoded except RFC 3986's
 * unreserved characters, slashes kept (the SDK's greedy `{Key+}` label encodes the same way).
 */
export function encodeKey(key: string): string {
  return key
    .split("/")
    .map((segment) =>
      encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
    )
    .join("/");
}

/**
 * An error answer as the SDK raises it: S3's XML error body read for its Code and Message. A
 * HEAD's answer has no body: its 404 is NotFound, as the SDK names it.
 */
function serviceException(status: number, headers: Headers, body: string): S3ServiceException {
  const code = xmlText(body, "Code") ?? (status === 404 ? "NotFound" : `HTTP ${status}`);
  const requestId = header(headers, "x-amz-request-id");
  return new S3ServiceException({
    name: code,
    $fault: status >= 500 ? "server" : "client",
    $metadata: { httpStatusCode: status, ...(requestId ? { requestId } : {}) },
    message: xmlText(body, "Message") ?? "UnknownError",
  });
}

/** How the SDK's retry strategy is told a failure: slow-downs back off longer; 4xx is final. */
function retryType(err: unknown): "THROTTLING" | "TRANSIENT" | "CLIENT_ERROR" {
  if (!(err instanceof S3ServiceException)) {
    // No answer (reset, refused, timed out) is worth another try; missing credentials are not.
    return (err as Error).name === "CredentialsProviderError" ? "CLIENT_ERROR" : "TRANSIENT";
  }
  const status = err.$metadata.httpStatusCode ?? 0;
  if (isThrottling({ status, code: err.name })) return "THROTTLING";
  return status >= 500 || status === 408 ? "TRANSIENT" : "CLIENT_ERROR";
}

const XML_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** An element's text in S3's flat XML answers, its entities and character references decoded. */
function xmlText(xml: string, element: string): string | undefined {
  const text = new RegExp(`<${element}>([^<]*)</${element}>`).exec(xml)?.[1];
  return text?.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, name: string) =>
    name.startsWith("#")
      ? String.fromCodePoint(Number.parseInt(name.slice(name[1] === "x" ? 2 : 1), name[1] === "x" ? 16 : 10))
      : (XML_ENTITIES[name] ?? ""),
  );
}

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * AWS_CA_BUNDLE as the aws CLI reads it: the certificates an https endpoint is checked against.
 * Node's own roots (and NODE_EXTRA_CA_CERTS) stay trusted, as they are for the SDK's requests,
 * so the two paths accept the same servers.
 */
function trustedCertificates(): { ca?: string[] } {
  const bundle = process.env.AWS_CA_BUNDLE;
  if (!bundle) return {};
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  return {
    ca: [...rootCertificates, readFileSync(bundle, "utf8"), ...(extra ? [readFileSync(extra, "utf8")] : [])],
  };
}
