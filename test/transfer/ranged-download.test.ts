/**
 * Large downloads in parallel ranges, on the embedded store and on a real Ceph RGW. In front of
 * RGW sits a thin proxy (defined here): it forwards every request unchanged (so SigV4 signatures
 * verify), counts the ranged GETs and how many run at once, and on demand flips one byte of one
 * range's answer or cuts it short: the faults a ranged download must catch. The embedded store's
 * reads are counted by instrumenting the backend instance.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseLocationUrl } from "../../src/backends/all.js";
import {
  type Backend,
  type ByteRange,
  IntegrityError,
  type ObjectReader,
  type RangeSink,
  type WriteInfo,
} from "../../src/backends/backend.js";
import { LocalStoreBackend } from "../../src/backends/local/local-backend.js";
import { PosixBackend } from "../../src/backends/posix/posix-backend.js";
import { S3Backend } from "../../src/backends/s3/s3-backend.js";
import { s3OptionsSchema as s3Schema } from "../../src/backends/s3/s3-options.js";
import { copyVerified } from "../../src/transfer/copy.js";
import { info, largeBody } from "../backends/contract.js";
import { sha256Hex } from "../support/bytes.js";
import { strata } from "../support/cli.js";
import { forward, listenLocally } from "../support/http-proxy.js";
import { type RgwWithBuckets, rgwLocationYaml, startRgwWithBuckets } from "../support/rgw-server.js";
import { tempDir } from "../support/tmp.js";

const MiB = 1024 * 1024;
const BIG = 100 * MiB + 12_345;
/** Ranges are 8 MiB: 100 MiB and a bit is 13 of them. */
const RANGES = Math.ceil(BIG / (8 * MiB));
const BUCKET = "strata-ranged";
const ATTRS = { mtimeUs: 1_600_000_000_123_456, mode: 0o640 };

async function fileSha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Temp files of writes in progress left in a POSIX directory (there must be none). */
function partials(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((name) => name.startsWith(".strata-partial-")) : [];
}

/** Counts a backend's reads, ranged or whole, and the most in flight at once. */
function countReads(backend: Backend) {
  const counts = { ranged: 0, whole: 0, inFlight: 0, maxInFlight: 0 };
  const read = backend.read.bind(backend);
  backend.read = async (key: string, range?: ByteRange): Promise<ObjectReader> => {
    counts[range ? "ranged" : "whole"] += 1;
    counts.inFlight += 1;
    counts.maxInFlight = Math.max(counts.maxInFlight, counts.inFlight);
    const reader = await read(key, range);
    // A body is done at its end (its file closes later, in the background) or when destroyed.
    let done = false;
    const settle = () => {
      if (!done) counts.inFlight -= 1;
      done = true;
    };
    reader.body.once("end", settle).once("close", settle);
    return reader;
  };
  return counts;
}

describe("ranged download from the embedded store", () => {
  let store: LocalStoreBackend;
  let expected: string;

  beforeAll(async () => {
    const dir = tempDir();
    store = await LocalStoreBackend.open(dir, `local://${dir}`, { restoreDelayMs: 0 });
    const { body, sha256 } = largeBody(BIG);
    await store.write("big.bin", body, info(BIG));
    expected = await sha256;
  });
  afterAll(() => store?.close());

  it("copies a 100 MiB+ object byte-identical with 4 ranged reads at once, counted", async () => {
    const dir = tempDir();
    const target = new PosixBackend(dir, `file://${dir}`);
    const reads = countReads(store);
    const result = await copyVerified({
      source: store,
      sourceKey: "big.bin",
      target,
      targetKey: "out/big.bin",
      size: BIG,
      attributes: ATTRS,
      expectedHash: expected,
      streams: 4,
    });
    expect(result.sha256).toBe(expected);
    expect(reads).toMatchObject({ ranged: RANGES, whole: 0, maxInFlight: 4 });
    const path = join(dir, "out/big.bin");
    expect(await fileSha256(path)).toBe(expected);
    expect(statSync(path).mode & 0o7777).toBe(0o640);
    expect(Math.round(statSync(path).mtimeMs * 1000)).toBe(ATTRS.mtimeUs);
    expect(partials(join(dir, "out"))).toEqual([]);
  });

  it("reads a large object in one stream with one stream, and a small one whole with many", async () => {
    const dir = tempDir();
    const target = new PosixBackend(dir, `file://${dir}`);
    const reads = countReads(store);
    await copyVerified({ ...bigCopy(store, target, "one.bin"), expectedHash: expected, streams: 1 });
    expect(reads).toMatchObject({ ranged: 0, whole: 1 });
    await store.write("small.bin", Readable.from([Buffer.from("small")]), info(5));
    await copyVerified({ ...bigCopy(store, target, "small.bin"), sourceKey: "small.bin", size: 5, streams: 8 });
    expect(reads).toMatchObject({ ranged: 0, whole: 2 });
    expect(readFileSync(join(dir, "small.bin"), "utf8")).toBe("small");
  });
});

function bigCopy(source: Backend, target: Backend, targetKey: string) {
  return { source, sourceKey: "big.bin", target, targetKey, size: BIG, attributes: ATTRS };
}

/** The ranged-write part of the backend contract, for each backend that offers it. */
describe.each([
  {
    name: "posix",
    make: async () => {
      const dir = tempDir();
      return { backend: new PosixBackend(dir, `file://${dir}`), temps: () => partials(dir) };
    },
  },
  {
    name: "embedded store",
    make: async () => {
      const dir = tempDir();
      const backend = await LocalStoreBackend.open(dir, `local://${dir}`, { restoreDelayMs: 0 });
      return { backend, temps: () => readdirSync(join(dir, "blobs", "tmp")) };
    },
  },
])("writeRanges on $name", ({ make }) => {
  const data = randomBytes(3 * MiB + 17);
  /** Pieces of 100,000 bytes, written last first, three at a time. */
  const backwards = async (sink: RangeSink, skip?: number) => {
    const starts = Array.from({ length: Math.ceil(data.length / 100_000) }, (_, i) => i * 100_000).reverse();
    for (let i = 0; i < starts.length; i += 3) {
      await Promise.all(
        starts
          .slice(i, i + 3)
          .filter((start) => start !== skip)
          .map((start) => sink.write(data.subarray(start, start + 100_000), start)),
      );
    }
  };

  async function get(backend: Backend, key: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of (await backend.read(key)).body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  it("stores ranges written in any order, visible only once whole, with the SHA-256 of the whole", async () => {
    const { backend } = await make();
    await backend.write("k", Readable.from([Buffer.from("previous")]), info(8));
    const stored = await backend.writeRanges?.("k", { ...info(data.length), expectedSha256: sha256Hex(data) }, (sink) =>
      backwards(sink).then(async () => {
        expect((await get(backend, "k")).toString()).toBe("previous");
      }),
    );
    expect(stored?.sha256).toBe(sha256Hex(data));
    expect((await get(backend, "k")).equals(data)).toBe(true);
  });

  it("refuses missing, repeated or unexpected bytes, leaving the previous object and no temp file", async () => {
    const { backend, temps } = await make();
    await backend.write("k", Readable.from([Buffer.from("previous")]), info(8));
    const attempts: [string, WriteInfo, (sink: RangeSink) => Promise<void>][] = [
      ["a piece missing", info(data.length), (sink) => backwards(sink, 1_000_000)],
      ["a piece twice", info(data.length), (sink) => backwards(sink).then(() => sink.write(data.subarray(5, 9), 5))],
      ["past the end", info(data.length), (sink) => sink.write(Buffer.from("x"), data.length)],
      ["another hash", { ...info(data.length), expectedSha256: sha256Hex("other") }, (sink) => backwards(sink)],
    ];
    for (const [label, rangedInfo, fill] of attempts) {
      const error = await backend.writeRanges?.("k", rangedInfo, fill).catch((e: unknown) => e);
      expect(error, label).toBeInstanceOf(Error);
      if (label === "another hash") expect(error, label).toBeInstanceOf(IntegrityError);
      expect((await get(backend, "k")).toString(), label).toBe("previous");
      expect(temps(), label).toEqual([]);
    }
  });
});

interface RangeProxy {
  endpoint: string;
  /** Start offsets of the ranged GETs seen, in order. */
  ranged: number[];
  whole: number;
  maxInFlight: number;
  /** Flip one byte in the answer to the ranged GET starting here. */
  flipAt?: number;
  /** Cut short the answer to the ranged GET starting here. */
  cutAt?: number;
  reset(): void;
  close(): Promise<void>;
}

async function startRangeProxy(upstream: string): Promise<RangeProxy> {
  const target = new URL(upstream);
  let inFlight = 0;
  const proxy: RangeProxy = {
    endpoint: "",
    ranged: [],
    whole: 0,
    maxInFlight: 0,
    reset() {
      proxy.ranged = [];
      proxy.whole = 0;
      proxy.maxInFlight = 0;
      delete proxy.flipAt;
      delete proxy.cutAt;
    },
    close: () => served.close(),
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    // An object GET carries no sub-resource (the SDK adds only x-id=GetObject); listings and tags do.
    const query = new URL(req.url ?? "/", "http://proxy").searchParams;
    const isObjectGet = req.method === "GET" && [...query.keys()].every((name) => name === "x-id");
    const start = /^bytes=(\d+)-/.exec(req.headers.range ?? "")?.[1];
    if (isObjectGet) {
      if (start === undefined) proxy.whole += 1;
      else proxy.ranged.push(Number(start));
      inFlight += 1;
      proxy.maxInFlight = Math.max(proxy.maxInFlight, inFlight);
      res.once("close", () => {
        inFlight -= 1;
      });
    }
    forward(target, req, res, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      const offset = start === undefined ? undefined : Number(start);
      if (offset !== undefined && offset === proxy.flipAt) return flipOneByte(answer, res);
      if (offset !== undefined && offset === proxy.cutAt) return cutShort(answer, res);
      answer.pipe(res);
    });
  });
  const served = await listenLocally(server);
  proxy.endpoint = served.endpoint;
  return proxy;
}

/** Passes the answer on with its 1,000th byte inverted: same length, other content. */
function flipOneByte(answer: IncomingMessage, res: ServerResponse): void {
  let seen = 0;
  answer.on("data", (chunk: Buffer) => {
    if (seen <= 1000 && seen + chunk.length > 1000) chunk[1000 - seen] = (chunk[1000 - seen] as number) ^ 0xff;
    seen += chunk.length;
    res.write(chunk);
  });
  answer.on("end", () => res.end());
}

/** Passes on the first megabyte of the answer, then drops the connection. */
function cutShort(answer: IncomingMessage, res: ServerResponse): void {
  let seen = 0;
  answer.on("data", (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > MiB) {
      answer.destroy();
      res.destroy();
    } else res.write(chunk);
  });
}

describe("ranged download from Ceph RGW", () => {
  let rgw: RgwWithBuckets;
  let proxy: RangeProxy;
  let s3: S3Backend;
  let expected: string;

  beforeAll(async () => {
    rgw = await startRgwWithBuckets([BUCKET]);
    proxy = await startRangeProxy(rgw.endpoint);
    // The SDK's standard chain, in this process and in the CLI processes it starts.
    Object.assign(process.env, rgw.env);
    // Uploaded straight to RGW with the SDK alone, so these tests do not depend on Strata's upload path.
    const { body, sha256 } = largeBody(BIG);
    await rgw.client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: "data/big.bin", Body: body, ContentLength: BIG }),
    );
    expected = await sha256;
    const location = parseLocationUrl(`s3://${BUCKET}/data`);
    if (location.kind !== "s3") throw new Error("not s3");
    s3 = await S3Backend.open(
      location,
      s3Schema.parse({ endpoint: proxy.endpoint, forcePathStyle: true, checksums: "when_required" }),
    );
  }, 240_000);

  afterAll(async () => {
    await s3?.close();
    await proxy?.close();
    rgw?.stop();
  });

  /** Copies the object, through the proxy, to big.bin in `dir`: 4 ranged GETs at once. */
  const copyInto = (dir: string) =>
    copyVerified({
      ...bigCopy(s3, new PosixBackend(dir, `file://${dir}`), "big.bin"),
      expectedHash: expected,
      streams: 4,
    });

  it("copies a 100 MiB+ object byte-identical with 4 ranged GETs at once, counted by the proxy", async () => {
    proxy.reset();
    const dir = tempDir();
    const result = await copyInto(dir);
    expect(result.sha256).toBe(expected);
    expect(proxy.whole).toBe(0);
    expect(proxy.ranged.sort((a, b) => a - b)).toEqual(Array.from({ length: RANGES }, (_, i) => i * 8 * MiB));
    expect(proxy.maxInFlight).toBe(4);
    expect(await fileSha256(join(dir, "big.bin"))).toBe(expected);
    expect(partials(dir)).toEqual([]);
  });

  it("fails on a flipped byte in one range, keeping the file that was there and leaving no partial file", async () => {
    proxy.reset();
    proxy.flipAt = 5 * 8 * MiB;
    const dir = tempDir();
    writeFileSync(join(dir, "big.bin"), "the previous version");
    const error = await copyInto(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect(proxy.ranged).toContain(5 * 8 * MiB);
    expect(readFileSync(join(dir, "big.bin"), "utf8")).toBe("the previous version");
    expect(partials(dir)).toEqual([]);
  });

  it("fails when a range is cut short, stopping the other reads and leaving nothing", async () => {
    proxy.reset();
    proxy.cutAt = 2 * 8 * MiB;
    const dir = tempDir();
    const started = Date.now();
    const error = await copyInto(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    // The remaining ranges were not all fetched: the failure stopped the download.
    expect(proxy.ranged.length).toBeLessThan(RANGES);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(readdirSync(dir)).toEqual([]);
  });

  /** A config whose location "bucket" is the bucket's `prefix`, reached through the proxy. */
  function writeConfig(work: string, prefix: string, more: string[] = []): void {
    const lines = ["locations:", ...more, ...rgwLocationYaml("bucket", `s3://${BUCKET}/${prefix}`, proxy.endpoint), ""];
    writeFileSync(join(work, "strata.yaml"), lines.join("\n"));
  }

  it("strata sync from the bucket to a directory reads in ranges: --streams 3, and more by default", async () => {
    const work = tempDir();
    writeConfig(work, "data");
    // The cap is exact; how close a busy machine comes to it is not, so the floor shows only
    // that ranges overlapped (and, for auto, that more than three did).
    for (const [dir, flags, floor, cap] of [
      ["three", ["--streams", "3"], 2, 3],
      ["auto", [], 4, 8],
    ] as const) {
      proxy.reset();
      const result = await strata(["sync", "bucket", join(work, dir), ...flags], { cwd: work });
      expect(result.code, result.stderr).toBe(0);
      expect(proxy.ranged).toHaveLength(RANGES);
      expect(proxy.maxInFlight).toBeLessThanOrEqual(cap);
      expect(proxy.maxInFlight).toBeGreaterThanOrEqual(floor);
      expect(await fileSha256(join(work, dir, "big.bin"))).toBe(expected);
    }
  }, 120_000);

  it("strata restore brings a replica back from the bucket in ranges, with its mtime", async () => {
    const work = tempDir();
    const tree = join(work, "tree");
    mkdirSync(tree);
    const { body, sha256 } = largeBody(BIG);
    await pipeline(body, createWriteStream(join(tree, "big.bin")));
    utimesSync(join(tree, "big.bin"), 1_600_000_000, 1_600_000_000);
    writeConfig(work, "restore", ["  scratch:", "    url: ./tree"]);
    const synced = await strata(["sync", "scratch", "bucket"], { cwd: work });
    expect(synced.code, synced.stderr).toBe(0);
    rmSync(join(tree, "big.bin"));
    proxy.reset();
    const restored = await strata(["restore", "scratch:big.bin", "--streams", "3"], { cwd: work });
    expect(restored.code, restored.stderr).toBe(0);
    expect(proxy.ranged).toHaveLength(RANGES);
    expect(proxy.maxInFlight).toBe(3);
    expect(await fileSha256(join(tree, "big.bin"))).toBe(await sha256);
    expect(statSync(join(tree, "big.bin")).mtimeMs).toBe(1_600_000_000_000);
  }, 120_000);
});
