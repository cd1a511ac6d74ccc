import { createHash, randomBytes } from "node:crypto";
import { createServer, request } from "node:http";
import { Readable } from "node:stream";
import { GetObjectTaggingCommand, HeadObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLocationUrl } from "../../src/backends/all.js";
import {
  AccessDeniedError,
  BucketNotFoundError,
  InvalidRequestError,
  TransientError,
} from "../../src/backends/backend.js";
import { heldBody } from "../../src/backends/bodies.js";
import { bodyBuffers } from "../../src/backends/body-buffers.js";
import { PAYLOAD_CHECK_PREFIX } from "../../src/backends/s3/payload-check.js";
import { S3Backend } from "../../src/backends/s3/s3-backend.js";
import { s3OptionsSchema } from "../../src/backends/s3/s3-options.js";
import { type LocalServer, listenLocally, relay } from "../support/http-proxy.js";
import {
  isObjectPut,
  isPartPut,
  isPayloadCheck,
  type LoggedRequest,
  type RequestLogProxy,
  startRequestLogProxy,
} from "../support/request-log-proxy.js";
import { useRgwCredentials } from "../support/rgw-credentials.js";
import { type RgwWithBuckets, startRgwWithBuckets } from "../support/rgw-server.js";
import { type FaultProxy, startFaultProxy } from "../support/s3-fault-proxy.js";
import { startThrottledProxy } from "../support/throttled-proxy.js";
import { startUncheckingStore, type UncheckingStore } from "../support/unchecking-store-proxy.js";
import { get, info, put } from "./contract.js";

/*
 * The lean signed PUT (s3-lean.ts) against a real RGW: what it stores must be what the SDK's
 * PutObject stores, and its failures must be retried and typed as the SDK path's are.
 */

const BUCKET = "strata-lean";
let rgw: RgwWithBuckets;
let faults: FaultProxy;
let damaging: LocalServer;
let log: RequestLogProxy;
let unchecking: UncheckingStore;

/** Keys whose SigV4 canonical path differs from a naive one: spaces, unicode, `+ % ~ /` and RFC 3986's sub-delims. */
const AWKWARD_KEYS = [
  "with space.txt",
  "ünïcødé/файл 数据.bin",
  "plus+sign",
  "per%cent%20literal",
  "tilde~and-dot_.x",
  "deep/er/path/file",
  "bang!quote'(paren)*star",
  "amp&eq=semi;colon,comma@at$dollar",
  "double//slash",
];

beforeAll(async () => {
  rgw = await startRgwWithBuckets([BUCKET]);
  faults = await startFaultProxy(rgw.endpoint);
  damaging = await startDamagingProxy(rgw.endpoint);
  log = await startRequestLogProxy(rgw.endpoint);
  unchecking = await startUncheckingStore(rgw.endpoint, rgw.client);
  useRgwCredentials(rgw);
}, 180_000);

afterAll(async () => {
  await damaging?.close();
  await log?.close();
  await unchecking?.close();
  await faults?.close();
  rgw?.stop();
});

function open(bucket: string, endpoint: string, extra: Record<string, unknown> = {}): Promise<S3Backend> {
  const location = parseLocationUrl(`s3://${bucket}`);
  if (location.kind !== "s3") throw new Error("not s3");
  const options = s3OptionsSchema.parse({ endpoint, forcePathStyle: true, checksums: "when_required", ...extra });
  return S3Backend.open(location, options);
}

/**
 * A backend that has sent its first body, so it has asked the store its one question
 * (payload-check.ts): the requests a test counts after it are the writes' own.
 */
async function opened(endpoint: string, extra: Record<string, unknown> = {}): Promise<S3Backend> {
  const b = await open(BUCKET, endpoint, extra);
  await put(b, `${randomBytes(6).toString("hex")}/first`, "first");
  return b;
}

async function stored(objectKey: string) {
  const request = { Bucket: BUCKET, Key: objectKey };
  const head = await rgw.client.send(new HeadObjectCommand(request));
  const tagging = await rgw.client.send(new GetObjectTaggingCommand(request));
  return {
    etag: head.ETag,
    size: head.ContentLength,
    storageClass: head.StorageClass ?? "STANDARD",
    metadata: head.Metadata,
    tags: Object.fromEntries((tagging.TagSet ?? []).map((t) => [t.Key, t.Value])),
  };
}

describe("lean PUT against RGW", () => {
  it("stores awkward keys with their metadata, tags and class, as the SDK's PutObject does", async () => {
    const prefix = randomBytes(6).toString("hex");
    const lean = await open(BUCKET, rgw.endpoint);
    const sdk = await open(BUCKET, rgw.endpoint, { leanRequests: false });
    for (const [n, key] of AWKWARD_KEYS.entries()) {
      const body = randomBytes(100 + n);
      const extra = {
        storageClass: "STANDARD_IA",
        metadata: { project: "climate" },
        tags: { owner: "lab a+b", "cost centre": "42/7" },
      };
      const written = await put(lean, `${prefix}/lean/${key}`, body, extra);
      await put(sdk, `${prefix}/sdk/${key}`, body, extra);
      expect(written.sha256).toBe(createHash("sha256").update(body).digest("hex"));
      expect(written.etag).toBe(`"${createHash("md5").update(body).digest("hex")}"`);
      expect((await get(lean, `${prefix}/lean/${key}`)).equals(body)).toBe(true);
      const viaLean = await stored(`${prefix}/lean/${key}`);
      expect(viaLean).toEqual(await stored(`${prefix}/sdk/${key}`));
      expect(viaLean.storageClass).toBe("STANDARD_IA");
      expect(viaLean.metadata?.project).toBe("climate");
      expect(viaLean.metadata?.["strata-sha256"]).toBe(written.sha256);
      expect(viaLean.tags).toEqual({ owner: "lab a+b", "cost centre": "42/7" });
      // stat() reads the head and tags through the lean path: the same as the SDK reads them.
      const leanStat = await lean.stat(`${prefix}/sdk/${key}`);
      expect(leanStat).toEqual(await sdk.stat(`${prefix}/sdk/${key}`));
      expect(leanStat?.tags).toEqual({ owner: "lab a+b", "cost centre": "42/7" });
      expect(leanStat?.sha256).toBe(written.sha256);
    }
    await expect(lean.stat(`${prefix}/never written`)).resolves.toBeUndefined();
    await lean.updateTags(`${prefix}/lean/${AWKWARD_KEYS[0]}`, {
      set: { markup: `<a href="x">&amp;</a>` },
      remove: [],
    });
    expect((await lean.stat(`${prefix}/lean/${AWKWARD_KEYS[0]}`))?.tags?.markup).toBe(`<a href="x">&amp;</a>`);
    const listed: string[] = [];
    for await (const object of lean.list(`${prefix}/lean/`)) listed.push(object.key);
    expect(listed.sort()).toEqual(AWKWARD_KEYS.map((key) => `${prefix}/lean/${key}`).sort());
    await lean.close();
    await sdk.close();
  });

  it.each([
    { proof: "its signed SHA-256 alone (the default)", signPayload: undefined },
    { proof: "Content-MD5 alone (signPayload: none)", signPayload: "none" },
    { proof: "both (signPayload: all)", signPayload: "all" },
  ])("is refused by $proof when the body changes in flight: nothing is stored", async ({ signPayload }) => {
    const b = await open(BUCKET, damaging.endpoint, { signPayload });
    const key = `${randomBytes(6).toString("hex")}/damaged`;
    await expect(put(b, key, randomBytes(2000))).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(rgw.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).rejects.toThrow();
    await b.close();
  });

  it("backs off and retries on 503 SlowDown, 500 and a reset, then stores the object", async () => {
    const b = await opened(faults.endpoint);
    const key = `${randomBytes(6).toString("hex")}/busy`;
    faults.resetCounts();
    faults.failNext(1, "slowDown");
    faults.failNext(1, "internalError");
    faults.failNext(1, "reset");
    const body = randomBytes(5000);
    await put(b, key, body);
    expect(faults.count("PutObject")).toBe(4);
    expect(faults.faults).toEqual({ slowDown: 1, internalError: 1, reset: 1, hang: 0 });
    expect((await get(b, key)).equals(body)).toBe(true);
    await b.close();
  });

  it.each([
    { path: "the lean PUT", leanRequests: true },
    { path: "the SDK's PutObject", leanRequests: false },
  ])(
    "drops a request the store leaves unanswered after requestTimeout and tries again ($path)",
    async ({ leanRequests }) => {
      const b = await open(BUCKET, faults.endpoint, { leanRequests, requestTimeout: "1s" });
      const key = `${randomBytes(6).toString("hex")}/silence`;
      faults.resetCounts();
      faults.failNext(1, "hang", "PutObject");
      const body = randomBytes(3000);
      const started = Date.now();
      await put(b, key, body);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect(faults.count("PutObject")).toBe(2);
      expect(faults.faults.hang).toBe(1);
      expect((await get(b, key)).equals(body)).toBe(true);
      await b.close();
    },
  );

  it("does not take a long upload on a slow link for the store's silence", async () => {
    // 2 MiB/s up: the body takes about 16 s to send, the socket buffers a few MB of it at once.
    const slow = await startThrottledProxy(rgw.endpoint, 2 * 1024 ** 2);
    try {
      const b = await open(BUCKET, slow.endpoint, { requestTimeout: "8s", partSize: "64MiB" });
      const key = `${randomBytes(6).toString("hex")}/slow-link`;
      const body = randomBytes(32 * 1024 ** 2);
      await put(b, key, body);
      const head = await rgw.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
      expect(head.ContentLength).toBe(body.length);
      await b.close();
    } finally {
      await slow.close();
    }
  }, 120_000);

  it("reports a store that stays silent, after four attempts, and a probe of one at once", async () => {
    const b = await opened(faults.endpoint, { requestTimeout: "1s" });
    faults.resetCounts();
    faults.setFaults({ hang: 1 });
    try {
      const failed = put(b, "never-answered", "x");
      await expect(failed).rejects.toBeInstanceOf(TransientError);
      await expect(failed).rejects.toThrow(
        /"never-answered": .*no answer from the store within 1\.0 s \(s3\.requestTimeout\)/,
      );
      expect(faults.count("PutObject")).toBe(4);
      // The probe at a command's start: one attempt, its bound the smaller of 10 s and requestTimeout.
      const started = Date.now();
      await expect(b.check()).rejects.toThrow(/unreachable: .*no answer from the store within 1\.0 s$/);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      faults.setFaults({});
    }
    await b.close();
    expect(() => s3OptionsSchema.parse({ requestTimeout: 500 })).toThrow(/expected at least 1s/);
  });

  it("gives up after the SDK's four attempts on a persistent 5xx, with a typed error naming the key", async () => {
    const b = await opened(faults.endpoint);
    faults.resetCounts();
    faults.setFaults({ slowDown: 1 });
    try {
      const failed = put(b, "always-busy", "x");
      await expect(failed).rejects.toBeInstanceOf(TransientError);
      await expect(failed).rejects.toThrow(
        /"always-busy": SlowDown \(Please reduce your request rate\.\) \(HTTP 503\)/,
      );
      expect(faults.count("PutObject")).toBe(4);
    } finally {
      faults.setFaults({});
    }
    await b.close();
  });

  it("maps refused credentials and a missing bucket to the SDK path's typed errors, without retrying", async () => {
    const wrong = await open(BUCKET, faults.endpoint, { profile: "wrong" });
    faults.resetCounts();
    await expect(put(wrong, "denied", "x")).rejects.toBeInstanceOf(AccessDeniedError);
    // The first body's question to the store (payload-check.ts) was refused, once; the body was not sent.
    expect(faults.count("PayloadCheck")).toBe(1);
    expect(faults.count("PutObject")).toBe(0);
    await wrong.close();

    const missing = await open("strata-no-such-bucket", faults.endpoint);
    await expect(put(missing, "nowhere", "x")).rejects.toBeInstanceOf(BucketNotFoundError);
    await missing.close();
  });
});

describe("a body under one part, buffered for its PUT", () => {
  it("lands in a buffer lent by the pool, given back after the PUT; a body the reader holds stays the reader's", async () => {
    const lean = await open(BUCKET, rgw.endpoint);
    const prefix = randomBytes(6).toString("hex");
    // 300,000 bytes: the pool's 512 KiB shelf, which no other test of this file uses.
    const content = randomBytes(300_000);
    const shelf = 512 * 1024;
    const before = bodyBuffers.kept;
    const streamed = Readable.from([content.subarray(0, 100_000), content.subarray(100_000)]);
    await lean.write(`${prefix}/streamed`, streamed, info(content.length));
    expect(bodyBuffers.kept).toBe(before + shelf);

    const lent = bodyBuffers.take(content.length);
    content.copy(lent);
    expect(bodyBuffers.kept).toBe(before);
    await lean.write(`${prefix}/held`, heldBody(lent), info(content.length));
    expect(bodyBuffers.kept).toBe(before);
    bodyBuffers.giveBack(lent);
    expect(bodyBuffers.kept).toBe(before + shelf);

    expect((await get(lean, `${prefix}/streamed`)).equals(content)).toBe(true);
    expect((await get(lean, `${prefix}/held`)).equals(content)).toBe(true);
    await lean.close();
  });
});

describe("what proves a body to the store", () => {
  const PART = 5 * 1024 * 1024;

  /** The bodies a backend sent through the log proxy: each PUT's payload hash and Content-MD5. */
  async function sentProofs(extra: Record<string, unknown>) {
    const b = await open(BUCKET, log.endpoint, { partSize: "5MiB", ...extra });
    const prefix = randomBytes(6).toString("hex");
    log.reset();
    const small = randomBytes(3000);
    const large = randomBytes(PART + 1234);
    await put(b, `${prefix}/small`, small);
    await put(b, `${prefix}/large`, large);
    expect((await get(b, `${prefix}/large`)).equals(large)).toBe(true);
    await b.close();
    // Parts go up in parallel: in part order here.
    const proofs = (filter: (r: LoggedRequest) => boolean) =>
      log.requests
        .filter(filter)
        .sort((a, b) => Number(a.query.get("partNumber")) - Number(b.query.get("partNumber")))
        .map((r) => ({ payload: r.headers["x-amz-content-sha256"], md5: r.headers["content-md5"] }));
    return { small, large, single: proofs(isObjectPut), parts: proofs(isPartPut) };
  }

  const md5 = (body: Buffer) => createHash("md5").update(body).digest("base64");
  const sha256 = (body: Buffer) => createHash("sha256").update(body).digest("hex");

  const unsignedParts = (large: Buffer) => [
    { payload: "UNSIGNED-PAYLOAD", md5: md5(large.subarray(0, PART)) },
    { payload: "UNSIGNED-PAYLOAD", md5: md5(large.subarray(PART)) },
  ];

  it.each([{ leanRequests: true }, { leanRequests: false }])(
    "by default a whole body by its signed SHA-256 alone (the client hashes it once), a part by its Content-MD5 (%o)",
    async (path) => {
      const { small, large, single, parts } = await sentProofs(path);
      expect(single).toEqual([{ payload: sha256(small), md5: undefined }]);
      expect(parts).toEqual(unsignedParts(large));
    },
  );

  it.each([{ signPayload: "none" }, { signPayload: false }])(
    "with %o, every body by its Content-MD5, the payload unsigned",
    async (setting) => {
      const { small, large, single, parts } = await sentProofs(setting);
      expect(single).toEqual([{ payload: "UNSIGNED-PAYLOAD", md5: md5(small) }]);
      expect(parts).toEqual(unsignedParts(large));
    },
  );

  it.each([{ signPayload: "all" }, { signPayload: true }])(
    "with %o, each body's and part's SHA-256 is signed, and its Content-MD5 sent",
    async (setting) => {
      const { small, large, single, parts } = await sentProofs(setting);
      expect(single).toEqual([{ payload: sha256(small), md5: md5(small) }]);
      expect(parts).toEqual([
        { payload: sha256(large.subarray(0, PART)), md5: md5(large.subarray(0, PART)) },
        { payload: sha256(large.subarray(PART)), md5: md5(large.subarray(PART)) },
      ]);
    },
  );
});

describe("whether the store checks a body's signed SHA-256, asked once per backend", () => {
  const PATHS = [{ leanRequests: true }, { leanRequests: false }];
  const md5 = (body: Buffer) => createHash("md5").update(body).digest("hex");

  async function keysAsking(): Promise<string[]> {
    const listed = await rgw.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: PAYLOAD_CHECK_PREFIX }));
    return (listed.Contents ?? []).map((object) => object.Key ?? "");
  }

  it.each(PATHS)(
    "RGW refuses the question: whole bodies keep their signed SHA-256 alone, nothing left (%o)",
    async (path) => {
      const b = await open(BUCKET, log.endpoint, path);
      const prefix = randomBytes(6).toString("hex");
      log.reset();
      for (const n of [1, 2, 3]) await put(b, `${prefix}/${n}`, randomBytes(1000 + n));
      await b.close();
      expect(log.requests.filter(isPayloadCheck)).toHaveLength(1);
      const bodies = log.requests.filter((r) => isObjectPut(r) && r.path.includes(prefix));
      expect(bodies.map((r) => r.headers["content-md5"])).toEqual([undefined, undefined, undefined]);
      expect(await keysAsking()).toEqual([]);
    },
  );

  it.each(PATHS)(
    "a store that keeps it gets each whole body with its Content-MD5; the question's object is deleted (%o)",
    async (path) => {
      const b = await open(BUCKET, unchecking.endpoint, path);
      const prefix = randomBytes(6).toString("hex");
      const body = randomBytes(3000);
      const written = await put(b, `${prefix}/kept`, body);
      expect(written.etag).toBe(`"${md5(body)}"`);
      expect((await get(b, `${prefix}/kept`)).equals(body)).toBe(true);
      await b.close();
      expect(unchecking.puts.filter((p) => p.path.includes(prefix))).toEqual([
        { path: `/${BUCKET}/${prefix}/kept`, contentMd5: true },
      ]);
      expect(unchecking.puts.filter((p) => p.path.includes(PAYLOAD_CHECK_PREFIX)).length).toBeGreaterThan(0);
      expect(await keysAsking()).toEqual([]);
    },
  );

  it.each(PATHS)(
    "a body damaged on its way to a store that does not check is refused, not stored (%o)",
    async (path) => {
      const b = await open(BUCKET, unchecking.endpoint, path);
      const key = `${randomBytes(6).toString("hex")}/damaged`;
      unchecking.damage(true);
      try {
        await expect(put(b, key, randomBytes(2000))).rejects.toBeInstanceOf(InvalidRequestError);
      } finally {
        unchecking.damage(false);
      }
      await expect(rgw.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).rejects.toThrow();
      expect(await keysAsking()).toEqual([]);
      await b.close();
    },
  );
});

describe("lean GET against RGW", () => {
  it("reads what the SDK path reads: whole, a range with the object's size, metadata; retried; typed errors", async () => {
    const lean = await open(BUCKET, faults.endpoint);
    const sdk = await open(BUCKET, rgw.endpoint, { leanRequests: false });
    const key = `${randomBytes(6).toString("hex")}/ünïcødé read+me`;
    const body = randomBytes(70_000);
    await put(sdk, key, body);
    expect((await get(lean, key)).equals(body)).toBe(true);
    const [viaLean, viaSdk] = await Promise.all([lean.read(key), sdk.read(key)]);
    viaLean.body.destroy();
    viaSdk.body.destroy();
    expect(viaLean.info).toEqual(viaSdk.info);
    expect((await get(lean, key, { start: 1000, end: 1999 })).equals(body.subarray(1000, 2000))).toBe(true);
    const ranged = await lean.read(key, { start: 1000, end: 1999 });
    ranged.body.destroy();
    expect(ranged.info.size).toBe(body.length);

    faults.resetCounts();
    faults.failNext(1, "slowDown");
    faults.failNext(1, "reset");
    expect((await get(lean, key)).equals(body)).toBe(true);
    expect(faults.count("GetObject")).toBe(3);
    await expect(lean.read("no/such/key")).rejects.toThrow(/no\/such\/key/);
    const denied = await open(BUCKET, faults.endpoint, { profile: "wrong" });
    await expect(denied.read(key)).rejects.toBeInstanceOf(AccessDeniedError);
    await Promise.all([lean.close(), sdk.close(), denied.close()]);
  });
});

describe("lean path over https", () => {
  it("opens with AWS_CA_BUNDLE set, and a store that does not answer is a transient failure after the retries", async () => {
    process.env.AWS_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";
    const b = await open(BUCKET, "https://127.0.0.1:9");
    await expect(put(b, "nowhere", "x")).rejects.toBeInstanceOf(TransientError);
    await b.close();
  });
});

/** Forwards every request to RGW but flips a byte of each PUT's body: a body damaged in flight. */
async function startDamagingProxy(upstream: string): Promise<LocalServer> {
  const target = new URL(upstream);
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (req.method === "PUT" && body.length > 0) body[0] = (body[0] ?? 0) ^ 0xff;
    const out = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => relay(answer, res),
    );
    out.on("error", () => res.destroy());
    out.end(body);
  });
  return listenLocally(server);
}
