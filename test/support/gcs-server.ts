import { createHash, type Hash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { listenLocally } from "./http-proxy.js";

/**
 * A stand-in for the Google Cloud Storage JSON API, for the GCS backend's contract suite. It
 * exists because no GCS emulator can be installed here: fake-gcs-server is not packaged for
 * npm or Debian, and the Firebase emulator needs Java 21 and downloads a jar at run time. It
 * follows Google's documented behaviour (and Google's own storage-testbench where the
 * documentation is silent), plain HTTP on 127.0.0.1, no authentication, data in memory.
 *
 * Endpoints (paths under the endpoint; object names URL-encoded in the path):
 *   GET    /storage/v1/b/{bucket}                          buckets.get
 *   GET    /storage/v1/b/{bucket}/o                        objects.list: prefix, delimiter (+ prefixes),
 *                                                          startOffset, endOffset, maxResults, pageToken
 *   GET    /storage/v1/b/{bucket}/o/{object}               objects.get: metadata, or alt=media (Range → 206)
 *   GET    /download/storage/v1/b/{bucket}/o/{object}      the same media download (mediaLink)
 *   PATCH  /storage/v1/b/{bucket}/o/{object}               objects.patch (JSON merge of metadata)
 *   PUT    /storage/v1/b/{bucket}/o/{object}               objects.update (metadata replaced)
 *   DELETE /storage/v1/b/{bucket}/o/{object}               objects.delete (404 when missing)
 *   POST   /storage/v1/b/{b}/o/{o}/rewriteTo/b/{b2}/o/{o2} objects.rewrite (in steps when the class changes)
 *   POST   /upload/storage/v1/b/{bucket}/o                 uploadType=media | multipart | resumable
 *   PUT    /upload/storage/v1/b/{bucket}/o?upload_id=…     resumable chunks and status queries
 *   DELETE /upload/storage/v1/b/{bucket}/o?upload_id=…     cancels a resumable session (499)
 * Preconditions ifGenerationMatch, ifGenerationNotMatch, ifMetagenerationMatch and
 * ifMetagenerationNotMatch (and ifSource… on rewrite) answer 412; md5Hash and crc32c sent with
 * an upload are checked before the object is committed (400 on mismatch), as GCS does.
 *
 * What it cannot show: authentication and IAM (a bucket can only be switched to "forbidden"),
 * real latency, throttling (429) and 5xx, resumable sessions that persist part of a chunk, the
 * XML API, object versioning, composite objects, and how the real service orders a listing
 * beyond the documented lexicographic order by UTF-8 bytes.
 */
export interface GcsStandIn {
  /** For `apiEndpoint`, e.g. http://127.0.0.1:43123 */
  endpoint: string;
  /** Every request received, in order, so a test can assert which protocol was used. */
  requests: RecordedRequest[];
  createBucket(name: string): void;
  /** From now on every request on this bucket answers 403, like a bucket of another project. */
  forbidBucket(name: string): void;
  /** Flips a byte of a stored object and leaves its hashes as they were: a download must notice. */
  tamper(bucket: string, name: string): void;
  /** Flips a byte of the next upload as it arrives, as a transfer damaged on the way would. */
  damageNextUpload(): void;
  stop(): Promise<void>;
}

export interface RecordedRequest {
  method: string;
  /** The raw path, object names still URL-encoded. */
  path: string;
  query: URLSearchParams;
  contentRange?: string;
  /** Whether the request carried an Authorization header. */
  authorized: boolean;
}

const MiB = 1024 * 1024;
const MAX_PAGE = 1000;
/** Non-final resumable chunks must be multiples of 256 KiB. */
const CHUNK_GRANULE = 256 * 1024;
/** Bytes rewritten per call when a rewrite changes the storage class (GCS then needs several). */
const REWRITE_STEP = 8 * MiB;
const CLASSES = ["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE", "MULTI_REGIONAL", "REGIONAL"];

interface StoredObject {
  name: string;
  data: Buffer;
  generation: string;
  metageneration: number;
  contentType: string;
  storageClass: string;
  metadata: Record<string, string>;
  md5Hash: string;
  crc32c: string;
  timeCreated: string;
  updated: string;
  timeStorageClassUpdated: string;
}

interface BucketState {
  name: string;
  objects: Map<string, StoredObject>;
  forbidden: boolean;
  timeCreated: string;
}

/** The writable fields of an object resource that the stand-in honours. */
interface ObjectFields {
  name?: string;
  contentType?: string;
  storageClass?: string;
  metadata?: Record<string, string | null> | null;
  md5Hash?: string;
  crc32c?: string;
}

interface UploadSession {
  id: string;
  bucket: string;
  name: string;
  fields: ObjectFields;
  contentType: string | undefined;
  query: URLSearchParams;
  chunks: Buffer[];
  size: number;
  md5: Hash;
  crc: number;
  done?: StoredObject;
}

interface RewriteState {
  srcBucket: string;
  srcName: string;
  srcGeneration: string;
  dstBucket: string;
  dstName: string;
  fields: ObjectFields;
  query: URLSearchParams;
  rewritten: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startGcsStandIn(): Promise<GcsStandIn> {
  const state = new StandInState();
  const server = createServer((req, res) => {
    state.handle(req, res).catch((err: unknown) => sendError(res, err));
  });
  const { endpoint, close } = await listenLocally(server);
  return {
    endpoint,
    requests: state.requests,
    createBucket: (name) => state.createBucket(name),
    forbidBucket: (name) => state.forbid(name),
    tamper: (bucket, name) => state.tamper(bucket, name),
    damageNextUpload: () => {
      state.damageNext = true;
    },
    stop: close,
  };
}

class StandInState {
  readonly requests: RecordedRequest[] = [];
  private readonly buckets = new Map<string, BucketState>();
  private readonly uploads = new Map<string, UploadSession>();
  private readonly rewrites = new Map<string, RewriteState>();
  private clock = 0;
  damageNext = false;

  createBucket(name: string): void {
    if (!this.buckets.has(name)) {
      this.buckets.set(name, { name, objects: new Map(), forbidden: false, timeCreated: new Date().toISOString() });
    }
  }

  forbid(name: string): void {
    this.createBucket(name);
    (this.buckets.get(name) as BucketState).forbidden = true;
  }

  tamper(bucket: string, name: string): void {
    const object = this.buckets.get(bucket)?.objects.get(name);
    if (!object || object.data.length === 0) throw new Error(`no object ${bucket}/${name} to tamper with`);
    object.data = Buffer.from(object.data);
    object.data[0] = (object.data[0] as number) ^ 0xff;
  }

  /** The bytes as received: damaged once when a test asked for it. */
  private received(data: Buffer): Buffer {
    if (!this.damageNext || data.length === 0) return data;
    this.damageNext = false;
    const damaged = Buffer.from(data);
    damaged[0] = (damaged[0] as number) ^ 0xff;
    return damaged;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://stand-in");
    const method = req.method ?? "GET";
    this.requests.push({
      method,
      path: url.pathname,
      query: url.searchParams,
      ...(typeof req.headers["content-range"] === "string" ? { contentRange: req.headers["content-range"] } : {}),
      authorized: req.headers.authorization !== undefined,
    });
    const base = `http://${req.headers.host ?? "127.0.0.1"}`;
    const segments = url.pathname.split("/").slice(1);
    // /storage/v1/b/…, /upload/storage/v1/b/{bucket}/o and /download/storage/v1/b/…
    const [root, next] = segments;
    if (root === "storage") return this.route(req, res, url, base, segments.slice(1), "json");
    if (root === "upload" && next === "storage" && segments[5] === "o" && segments.length === 6) {
      return this.upload(req, res, url, base, segments.slice(2));
    }
    if (root === "download" && next === "storage")
      return this.route(req, res, url, base, segments.slice(2), "download");
    throw new HttpError(501, "notImplemented", `the stand-in does not implement ${method} ${url.pathname}`);
  }

  /** `segments` starts after "storage": ["v1", "b", bucket, "o", …]. */
  private async route(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    base: string,
    segments: string[],
    kind: "json" | "download",
  ): Promise<void> {
    const method = req.method ?? "GET";
    if (segments[0] !== "v1" || segments[1] !== "b" || segments[2] === undefined) {
      throw new HttpError(501, "notImplemented", `the stand-in does not implement ${method} ${url.pathname}`);
    }
    const bucket = this.bucket(decodeSegment(segments[2]));
    if (segments.length === 3 && method === "GET" && kind === "json") return sendJson(res, 200, bucketResource(bucket));
    if (segments[3] !== "o") {
      throw new HttpError(501, "notImplemented", `the stand-in does not implement ${method} ${url.pathname}`);
    }
    if (segments.length === 4 && method === "GET") return sendJson(res, 200, this.list(bucket, url.searchParams, base));
    const rest = segments.slice(4);
    const rewriteAt = rest.indexOf("rewriteTo");
    if (rewriteAt > 0 && rest[rewriteAt + 1] === "b" && rest[rewriteAt + 3] === "o" && method === "POST") {
      const source = { bucket, name: decodeSegment(rest.slice(0, rewriteAt).join("/")) };
      const target = {
        bucket: this.bucket(decodeSegment(rest[rewriteAt + 2] ?? "")),
        name: decodeSegment(rest.slice(rewriteAt + 4).join("/")),
      };
      const body = await readBody(req);
      return sendJson(res, 200, this.rewrite(source, target, objectFields(parseJson(body)), url.searchParams, base));
    }
    const name = decodeSegment(rest.join("/"));
    if (method === "GET" && (kind === "download" || url.searchParams.get("alt") === "media")) {
      return this.media(req, res, bucket, name, url.searchParams);
    }
    if (kind === "download") throw new HttpError(404, "notFound", "Not Found");
    switch (method) {
      case "GET":
        return sendJson(res, 200, objectResource(bucket.name, this.object(bucket, name, url.searchParams), base));
      case "PATCH":
      case "PUT": {
        const fields = objectFields(parseJson(await readBody(req)));
        const updated = this.updateMetadata(bucket, name, url.searchParams, fields, method === "PATCH");
        return sendJson(res, 200, objectResource(bucket.name, updated, base));
      }
      case "DELETE":
        this.object(bucket, name, url.searchParams);
        bucket.objects.delete(name);
        res.writeHead(204).end();
        return;
    }
    throw new HttpError(501, "notImplemented", `the stand-in does not implement ${method} ${url.pathname}`);
  }

  private bucket(name: string): BucketState {
    const bucket = this.buckets.get(name);
    if (!bucket) throw new HttpError(404, "notFound", "The specified bucket does not exist.");
    if (bucket.forbidden) {
      throw new HttpError(
        403,
        "forbidden",
        `anonymous-caller does not have access to the Google Cloud Storage bucket ${name}. ` +
          "Permission denied on resource (or it may not exist).",
      );
    }
    return bucket;
  }

  /** The live object, checked against `generation` and the preconditions of the query. */
  private object(bucket: BucketState, name: string, query: URLSearchParams): StoredObject {
    const found = bucket.objects.get(name);
    const generation = query.get("generation");
    if (!found || (generation !== null && generation !== found.generation)) {
      throw new HttpError(404, "notFound", `No such object: ${bucket.name}/${name}`);
    }
    checkPreconditions(query, found, "");
    return found;
  }

  // --- objects.list ---

  private list(bucket: BucketState, query: URLSearchParams, base: string): Record<string, unknown> {
    const prefix = query.get("prefix") ?? "";
    const delimiter = query.get("delimiter") ?? "";
    const startOffset = query.get("startOffset") ?? "";
    const endOffset = query.get("endOffset");
    const maxResults = Math.min(Number(query.get("maxResults") ?? MAX_PAGE) || MAX_PAGE, MAX_PAGE);
    const token = query.get("pageToken");
    const after = token ? Buffer.from(token, "base64url") : undefined;
    const names = [...bucket.objects.keys()]
      .filter((name) => name.startsWith(prefix))
      .map((name) => ({ name, bytes: Buffer.from(name) }))
      .filter(({ bytes }) => Buffer.compare(bytes, Buffer.from(startOffset)) >= 0)
      .filter(({ bytes }) => endOffset === null || Buffer.compare(bytes, Buffer.from(endOffset)) < 0)
      .sort((x, y) => Buffer.compare(x.bytes, y.bytes));
    const items: StoredObject[] = [];
    const prefixes: string[] = [];
    let last: string | undefined;
    let more = false;
    for (const { name, bytes } of names) {
      const rolled = rolledUp(name, prefix, delimiter);
      const entry = rolled ?? name;
      // Entries up to the token were on earlier pages; a prefix is listed once, on its first name.
      if (after && Buffer.compare(rolled === undefined ? bytes : Buffer.from(entry), after) <= 0) continue;
      if (rolled !== undefined && rolled === last) continue;
      if (items.length + prefixes.length >= maxResults) {
        more = true;
        break;
      }
      if (rolled !== undefined) prefixes.push(rolled);
      else items.push(bucket.objects.get(name) as StoredObject);
      last = entry;
    }
    const response: Record<string, unknown> = { kind: "storage#objects" };
    if (items.length > 0) response.items = items.map((o) => objectResource(bucket.name, o, base));
    if (prefixes.length > 0) response.prefixes = prefixes;
    if (more && last !== undefined) response.nextPageToken = Buffer.from(last).toString("base64url");
    return response;
  }

  // --- media download ---

  private media(
    req: IncomingMessage,
    res: ServerResponse,
    bucket: BucketState,
    name: string,
    query: URLSearchParams,
  ): void {
    const object = this.object(bucket, name, query);
    const size = object.data.length;
    const headers: Record<string, string> = {
      "Content-Type": object.contentType,
      ETag: etag(object),
      "Last-Modified": new Date(object.updated).toUTCString(),
      "Accept-Ranges": "bytes",
      "x-goog-generation": object.generation,
      "x-goog-metageneration": String(object.metageneration),
      "x-goog-storage-class": object.storageClass,
      "x-goog-stored-content-length": String(size),
      "x-goog-stored-content-encoding": "identity",
      "x-goog-hash": `crc32c=${object.crc32c},md5=${object.md5Hash}`,
    };
    const range = parseRange(req.headers.range, size);
    if (!range) {
      res.writeHead(200, { ...headers, "Content-Length": String(size) }).end(object.data);
      return;
    }
    res
      .writeHead(206, {
        ...headers,
        "Content-Length": String(range.end - range.start + 1),
        "Content-Range": `bytes ${range.start}-${range.end}/${size}`,
      })
      .end(object.data.subarray(range.start, range.end + 1));
  }

  // --- patch / update ---

  private updateMetadata(
    bucket: BucketState,
    name: string,
    query: URLSearchParams,
    fields: ObjectFields,
    merge: boolean,
  ): StoredObject {
    const object = this.object(bucket, name, query);
    if (fields.contentType !== undefined) object.contentType = fields.contentType;
    object.metadata = merge ? mergeMetadata(object.metadata, fields.metadata) : mergeMetadata({}, fields.metadata);
    object.metageneration += 1;
    object.updated = new Date().toISOString();
    return object;
  }

  // --- rewrite ---

  private rewrite(
    source: { bucket: BucketState; name: string },
    target: { bucket: BucketState; name: string },
    bodyFields: ObjectFields,
    query: URLSearchParams,
    base: string,
  ): Record<string, unknown> {
    const token = query.get("rewriteToken");
    let job: RewriteState | undefined;
    if (token) {
      job = this.rewrites.get(token);
      if (!job) throw new HttpError(400, "invalid", "Invalid rewrite token.");
    } else {
      const src = this.object(source.bucket, source.name, sourceQuery(query));
      job = {
        srcBucket: source.bucket.name,
        srcName: source.name,
        srcGeneration: src.generation,
        dstBucket: target.bucket.name,
        dstName: target.name,
        fields: bodyFields,
        query,
        rewritten: 0,
      };
    }
    const src = source.bucket.objects.get(job.srcName);
    if (!src || src.generation !== job.srcGeneration) {
      throw new HttpError(404, "notFound", `No such object: ${job.srcBucket}/${job.srcName}`);
    }
    checkClass(job.fields.storageClass);
    const changesClass = job.fields.storageClass !== undefined && job.fields.storageClass !== src.storageClass;
    const step = Math.max(Number(job.query.get("maxBytesRewrittenPerCall") ?? REWRITE_STEP) || REWRITE_STEP, MiB);
    job.rewritten = changesClass ? Math.min(job.rewritten + step, src.data.length) : src.data.length;
    const progress = {
      kind: "storage#rewriteResponse",
      totalBytesRewritten: String(job.rewritten),
      objectSize: String(src.data.length),
    };
    if (job.rewritten < src.data.length) {
      const next = token ?? randomUUID();
      this.rewrites.set(next, job);
      return { ...progress, done: false, rewriteToken: next };
    }
    if (token) this.rewrites.delete(token);
    const dstBucket = this.bucket(job.dstBucket);
    checkName(job.dstName);
    checkPreconditions(job.query, dstBucket.objects.get(job.dstName), "");
    const now = new Date().toISOString();
    const copied = this.store(dstBucket, {
      ...src,
      name: job.dstName,
      contentType: job.fields.contentType ?? src.contentType,
      storageClass: job.fields.storageClass ?? src.storageClass,
      metadata: mergeMetadata(src.metadata, job.fields.metadata),
      timeStorageClassUpdated: changesClass ? now : src.timeStorageClassUpdated,
    });
    return { ...progress, done: true, resource: objectResource(dstBucket.name, copied, base) };
  }

  // --- uploads ---

  private async upload(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    base: string,
    segments: string[],
  ): Promise<void> {
    if (segments[0] !== "v1" || segments[1] !== "b") {
      throw new HttpError(501, "notImplemented", `the stand-in does not implement ${req.method} ${url.pathname}`);
    }
    const query = url.searchParams;
    const uploadId = query.get("upload_id");
    if (uploadId !== null) return this.resumableRequest(req, res, uploadId, base);
    const bucket = this.bucket(decodeSegment(segments[2] ?? ""));
    const body = await readBody(req);
    switch (query.get("uploadType")) {
      case "media": {
        const name = query.get("name") ?? "";
        const stored = this.commit(bucket, name, {}, req.headers["content-type"], [body], query);
        return sendJson(res, 200, objectResource(bucket.name, stored, base));
      }
      case "multipart": {
        const { fields, contentType, data } = parseMultipart(req.headers["content-type"], body);
        const name = query.get("name") ?? fields.name ?? "";
        const stored = this.commit(bucket, name, fields, contentType, [data], query);
        return sendJson(res, 200, objectResource(bucket.name, stored, base));
      }
      case "resumable": {
        const fields = body.length > 0 ? objectFields(parseJson(body)) : {};
        const name = query.get("name") ?? fields.name ?? "";
        checkName(name);
        checkClass(fields.storageClass);
        const id = randomUUID();
        const contentType = req.headers["x-upload-content-type"];
        this.uploads.set(id, {
          id,
          bucket: bucket.name,
          name,
          fields,
          contentType: typeof contentType === "string" ? contentType : undefined,
          query,
          chunks: [],
          size: 0,
          md5: createHash("md5"),
          crc: 0,
        });
        const location = `${base}/upload/storage/v1/b/${encodeURIComponent(bucket.name)}/o?uploadType=resumable&upload_id=${id}`;
        res.writeHead(200, { Location: location, "Content-Length": "0" }).end();
        return;
      }
    }
    throw new HttpError(400, "invalid", `uploadType ${query.get("uploadType") ?? "(none)"} is not supported`);
  }

  /** One request on a resumable session: a chunk, the final chunk, a status query or a cancel. */
  private async resumableRequest(req: IncomingMessage, res: ServerResponse, id: string, base: string): Promise<void> {
    const session = this.uploads.get(id);
    if (!session) throw new HttpError(404, "notFound", "No such upload session.");
    if (req.method === "DELETE") {
      this.uploads.delete(id);
      res.writeHead(499, { "Content-Length": "0" }).end();
      return;
    }
    if (req.method !== "PUT") throw new HttpError(405, "invalid", "Resumable sessions take PUT.");
    const body = await readBody(req);
    if (session.done) return sendJson(res, 200, objectResource(session.bucket, session.done, base));
    const range = parseContentRange(req.headers["content-range"]);
    let total = range.total;
    if (range.first !== undefined) {
      if (range.last !== undefined && range.last - range.first + 1 !== body.length) {
        throw new HttpError(400, "invalid", "The Content-Range does not match the number of bytes sent.");
      }
      if (range.first > session.size) {
        throw new HttpError(
          400,
          "invalid",
          `Invalid request: the upload offset ${range.first} is past ${session.size}.`,
        );
      }
      // Bytes the server already has are ignored, as GCS does when a client resends them.
      const fresh = this.received(body.subarray(session.size - range.first));
      const final = total !== undefined || range.last === undefined;
      if (!final && (session.size + fresh.length) % CHUNK_GRANULE !== 0) {
        throw new HttpError(400, "invalid", "Non-final chunks must be a multiple of 256 KiB.");
      }
      session.chunks.push(fresh);
      session.size += fresh.length;
      session.md5.update(fresh);
      session.crc = crc32c(fresh, session.crc);
      // "bytes a-*/*": the end of this request is the end of the object.
      if (range.last === undefined && total === undefined) total = session.size;
    } else if (range.none && body.length > 0) {
      throw new HttpError(400, "invalid", "A status query carries no bytes.");
    }
    if (total !== undefined && total === session.size) {
      const expected = req.headers["x-goog-hash"];
      checkHashHeader(typeof expected === "string" ? expected : undefined, session);
      const bucket = this.bucket(session.bucket);
      const hashes = { md5Hash: session.md5.copy().digest("base64"), crc32c: crc32cBase64(session.crc) };
      session.done = this.commit(
        bucket,
        session.name,
        session.fields,
        session.contentType,
        session.chunks,
        session.query,
        hashes,
      );
      session.chunks = [];
      return sendJson(res, 200, objectResource(session.bucket, session.done, base));
    }
    if (total !== undefined && total < session.size) {
      throw new HttpError(400, "invalid", `Received ${session.size} bytes for an object of ${total}.`);
    }
    const headers: Record<string, string> = { "Content-Length": "0" };
    if (session.size > 0) headers.Range = `bytes=0-${session.size - 1}`;
    res.writeHead(308, headers).end();
  }

  /** Makes an uploaded object visible, whole, after the checks GCS makes before committing. */
  private commit(
    bucket: BucketState,
    name: string,
    fields: ObjectFields,
    contentType: string | undefined,
    chunks: Buffer[],
    query: URLSearchParams,
    hashes?: { md5Hash: string; crc32c: string },
  ): StoredObject {
    checkName(name);
    checkClass(fields.storageClass);
    const whole = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    // A resumable session's bytes were taken in (and maybe damaged) chunk by chunk already.
    const data = hashes ? whole : this.received(whole);
    const md5Hash = hashes?.md5Hash ?? createHash("md5").update(data).digest("base64");
    const crc = hashes?.crc32c ?? crc32cBase64(crc32c(data));
    if (fields.md5Hash !== undefined && fields.md5Hash !== md5Hash) {
      throw new HttpError(
        400,
        "invalid",
        `Provided MD5 hash "${fields.md5Hash}" doesn't match calculated MD5 hash "${md5Hash}".`,
      );
    }
    if (fields.crc32c !== undefined && fields.crc32c !== crc) {
      throw new HttpError(
        400,
        "invalid",
        `Provided CRC32C "${fields.crc32c}" doesn't match calculated CRC32C "${crc}".`,
      );
    }
    checkPreconditions(query, bucket.objects.get(name), "");
    const now = new Date().toISOString();
    return this.store(bucket, {
      name,
      data,
      generation: "",
      metageneration: 1,
      contentType: fields.contentType ?? contentType ?? "application/octet-stream",
      storageClass: fields.storageClass ?? "STANDARD",
      metadata: mergeMetadata({}, fields.metadata),
      md5Hash,
      crc32c: crc,
      timeCreated: now,
      updated: now,
      timeStorageClassUpdated: now,
    });
  }

  /** Stores a new generation under the name, replacing the live one. */
  private store(bucket: BucketState, object: StoredObject): StoredObject {
    const now = new Date().toISOString();
    const stored: StoredObject = {
      ...object,
      generation: this.nextGeneration(),
      metageneration: 1,
      timeCreated: now,
      updated: now,
    };
    bucket.objects.set(stored.name, stored);
    return stored;
  }

  /** Generations are microsecond timestamps on GCS; kept strictly increasing here. */
  private nextGeneration(): string {
    this.clock = Math.max(this.clock + 1, Date.now() * 1000);
    return String(this.clock);
  }
}

// --- resources ---

function bucketResource(bucket: BucketState): Record<string, unknown> {
  return {
    kind: "storage#bucket",
    id: bucket.name,
    name: bucket.name,
    projectNumber: "000000000000",
    metageneration: "1",
    location: "US",
    locationType: "multi-region",
    storageClass: "STANDARD",
    timeCreated: bucket.timeCreated,
    updated: bucket.timeCreated,
    etag: "CAE=",
  };
}

function objectResource(bucket: string, o: StoredObject, base: string): Record<string, unknown> {
  const path = `b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(o.name)}`;
  return {
    kind: "storage#object",
    id: `${bucket}/${o.name}/${o.generation}`,
    selfLink: `${base}/storage/v1/${path}`,
    mediaLink: `${base}/download/storage/v1/${path}?generation=${o.generation}&alt=media`,
    name: o.name,
    bucket,
    generation: o.generation,
    metageneration: String(o.metageneration),
    contentType: o.contentType,
    storageClass: o.storageClass,
    size: String(o.data.length),
    md5Hash: o.md5Hash,
    crc32c: o.crc32c,
    etag: etag(o),
    timeCreated: o.timeCreated,
    updated: o.updated,
    timeStorageClassUpdated: o.timeStorageClassUpdated,
    ...(Object.keys(o.metadata).length > 0 ? { metadata: { ...o.metadata } } : {}),
  };
}

function etag(o: StoredObject): string {
  return Buffer.from(`${o.generation}/${o.metageneration}`).toString("base64");
}

// --- request parsing ---

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, "invalid", "The object name is not valid URL-encoded UTF-8.");
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    throw new HttpError(400, "parseError", "Parse Error");
  }
}

function objectFields(value: unknown): ObjectFields {
  if (typeof value !== "object" || value === null) throw new HttpError(400, "invalid", "Expected an object resource.");
  const record = value as Record<string, unknown>;
  const fields: ObjectFields = {};
  for (const key of ["name", "contentType", "storageClass", "md5Hash", "crc32c"] as const) {
    const field = record[key];
    if (field === undefined || field === null) continue;
    if (typeof field !== "string") throw new HttpError(400, "invalid", `Invalid value for ${key}.`);
    fields[key] = field;
  }
  const metadata = record.metadata;
  if (metadata === null) fields.metadata = null;
  else if (typeof metadata === "object" && metadata !== undefined) {
    fields.metadata = Object.fromEntries(
      Object.entries(metadata as Record<string, unknown>).map(([k, v]) => [k, v === null ? null : String(v)]),
    );
  } else if (metadata !== undefined) {
    throw new HttpError(400, "invalid", "Invalid value for metadata.");
  }
  return fields;
}

/** A JSON merge of custom metadata: a null value removes its key, a null map removes all. */
function mergeMetadata(
  current: Record<string, string>,
  patch: Record<string, string | null> | null | undefined,
): Record<string, string> {
  if (patch === null) return {};
  const merged = { ...current };
  for (const [key, value] of Object.entries(patch ?? {})) {
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

/** multipart/related: a JSON part with the object resource, then the media part. */
function parseMultipart(
  contentType: string | undefined,
  body: Buffer,
): { fields: ObjectFields; contentType: string | undefined; data: Buffer } {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType ?? "")?.[1];
  if (!/^multipart\/related/i.test(contentType ?? "") || !boundary) {
    throw new HttpError(400, "invalid", "A multipart upload needs Content-Type multipart/related with a boundary.");
  }
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: { headers: string; content: Buffer }[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === "--") break;
    const headerEnd = body.indexOf("\r\n\r\n", start);
    const next = body.indexOf(Buffer.concat([Buffer.from("\r\n"), delimiter]), headerEnd);
    if (headerEnd < 0 || next < 0) throw new HttpError(400, "invalid", "Malformed multipart body.");
    parts.push({ headers: body.subarray(start, headerEnd).toString(), content: body.subarray(headerEnd + 4, next) });
    at = next + 2;
  }
  const [meta, media] = parts;
  if (!meta || !media || parts.length !== 2) throw new HttpError(400, "invalid", "A multipart upload has two parts.");
  return {
    fields: objectFields(parseJson(meta.content)),
    contentType: /content-type:\s*([^\r\n]+)/i.exec(media.headers)?.[1],
    data: media.content,
  };
}

/** Content-Range of a resumable PUT: "bytes a-b/total", "bytes a-b/*", "bytes a-*\/…", "bytes *\/…". */
function parseContentRange(header: string | string[] | undefined): {
  first?: number;
  last?: number;
  total?: number;
  none?: boolean;
} {
  if (header === undefined) return { first: 0 };
  const match = typeof header === "string" ? /^bytes (\*|(\d+)-(\d+|\*))\/(\*|\d+)$/.exec(header.trim()) : null;
  if (!match) throw new HttpError(400, "invalid", `Invalid Content-Range: ${String(header)}`);
  const total = match[4] === "*" ? undefined : Number(match[4]);
  if (match[1] === "*") return { none: true, ...(total !== undefined ? { total } : {}) };
  return {
    first: Number(match[2]),
    ...(match[3] !== "*" ? { last: Number(match[3]) } : {}),
    ...(total !== undefined ? { total } : {}),
  };
}

function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return undefined;
  let start: number;
  let end: number;
  if (match[1] === "") {
    start = Math.max(size - Number(match[2]), 0);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === "" ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start >= size || start > end) {
    throw new HttpError(416, "requestedRangeNotSatisfiable", "The requested range cannot be satisfied.");
  }
  return { start, end };
}

/** GCS's object naming rules: 1 to 1,024 bytes of UTF-8, no CR or LF, not "." or "..". */
function checkName(name: string): void {
  const bytes = Buffer.byteLength(name);
  if (
    bytes === 0 ||
    bytes > 1024 ||
    /[\r\n]/.test(name) ||
    name === "." ||
    name === ".." ||
    name.startsWith(".well-known/acme-challenge/") ||
    !name.isWellFormed()
  ) {
    throw new HttpError(400, "invalid", "The specified object name is not valid.");
  }
}

function checkClass(storageClass: string | undefined): void {
  if (storageClass !== undefined && !CLASSES.includes(storageClass)) {
    throw new HttpError(400, "invalid", `Invalid argument: storage class ${storageClass}.`);
  }
}

function checkPreconditions(query: URLSearchParams, object: StoredObject | undefined, prefix: "" | "ifSource"): void {
  const name = (condition: string) => (prefix ? `${prefix}${condition}` : `if${condition}`);
  const generation = object?.generation ?? "0";
  const metageneration = object ? String(object.metageneration) : undefined;
  const failed =
    (query.has(name("GenerationMatch")) && query.get(name("GenerationMatch")) !== generation) ||
    (query.has(name("GenerationNotMatch")) && query.get(name("GenerationNotMatch")) === generation) ||
    (query.has(name("MetagenerationMatch")) && query.get(name("MetagenerationMatch")) !== metageneration) ||
    (query.has(name("MetagenerationNotMatch")) && query.get(name("MetagenerationNotMatch")) === metageneration);
  if (failed) {
    throw new HttpError(412, "conditionNotMet", "At least one of the pre-conditions you specified did not hold.");
  }
}

/** The source side of a rewrite: sourceGeneration and the ifSource… preconditions. */
function sourceQuery(query: URLSearchParams): URLSearchParams {
  const source = new URLSearchParams();
  const generation = query.get("sourceGeneration");
  if (generation !== null) source.set("generation", generation);
  for (const [key, value] of query) {
    if (key.startsWith("ifSource")) source.set(`if${key.slice("ifSource".length)}`, value);
  }
  return source;
}

/** X-Goog-Hash on the final request of a resumable upload: checked before the commit. */
function checkHashHeader(header: string | undefined, session: UploadSession): void {
  for (const entry of header?.split(",") ?? []) {
    const at = entry.indexOf("=");
    const [kind, value] = [entry.slice(0, at).trim(), entry.slice(at + 1).trim()];
    const actual = kind === "md5" ? session.md5.copy().digest("base64") : crc32cBase64(session.crc);
    if ((kind === "md5" || kind === "crc32c") && value !== actual) {
      throw new HttpError(400, "invalid", `Provided ${kind} hash doesn't match the uploaded data.`);
    }
  }
}

/** rolled-up prefix of `name` for a delimiter listing, or undefined when the name is an item. */
function rolledUp(name: string, prefix: string, delimiter: string): string | undefined {
  if (!delimiter) return undefined;
  const at = name.indexOf(delimiter, prefix.length);
  return at < 0 ? undefined : name.slice(0, at + delimiter.length);
}

// --- responses ---

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      "Content-Type": "application/json; charset=UTF-8",
      "Content-Length": String(Buffer.byteLength(text)),
    })
    .end(text);
}

/** GCS's JSON error format: {"error": {"code", "message", "errors": [{"message", "domain", "reason"}]}}. */
function sendError(res: ServerResponse, err: unknown): void {
  const error = err instanceof HttpError ? err : new HttpError(500, "backendError", String(err));
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, error.status, {
    error: {
      code: error.status,
      message: error.message,
      errors: [{ message: error.message, domain: "global", reason: error.reason }],
    },
  });
}

// --- CRC32C (Castagnoli), written here so the stand-in does not share the client's implementation ---

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32C of `data`, continuing from `previous` (the CRC of the bytes before it). */
export function crc32c(data: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  for (let i = 0; i < data.length; i++) {
    crc = (CRC32C_TABLE[(crc ^ (data[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  }
  return ~crc >>> 0;
}

/** As GCS writes it: the big-endian 32-bit value, base64. */
export function crc32cBase64(value: number): string {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value >>> 0);
  return bytes.toString("base64");
}
