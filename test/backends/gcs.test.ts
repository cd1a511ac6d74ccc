import { createHash, randomBytes } from "node:crypto";
import { createServer as createHttpServer } from "node:http";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ParsedLocation, parseLocationUrl } from "../../src/backends/all.js";
import { AccessDeniedError, NotFoundError, TransientError, UnreachableError } from "../../src/backends/backend.js";
import { GcsBackend } from "../../src/backends/gcs/gcs-backend.js";
import { fromObjectName, toObjectName } from "../../src/backends/gcs/gcs-names.js";
import { sha256Hex } from "../support/bytes.js";
import { crc32c, crc32cBase64, type GcsStandIn, type RecordedRequest, startGcsStandIn } from "../support/gcs-server.js";
import { type LocalServer, listenLocally } from "../support/http-proxy.js";
import { freePort } from "../support/ports.js";
import { backendContract, get, info, largeBody, put } from "./contract.js";

const BUCKET = "strata-test";
const FORBIDDEN = "strata-forbidden";
const MiB = 1024 * 1024;

let server: GcsStandIn;
/** Accepts connections and never answers: an endpoint behind a firewall that drops packets. */
let silent: LocalServer;

beforeAll(async () => {
  // The library would send every JSON API call there instead of to apiEndpoint.
  delete process.env.STORAGE_EMULATOR_HOST;
  server = await startGcsStandIn();
  server.createBucket(BUCKET);
  server.forbidBucket(FORBIDDEN);
  silent = await listenLocally(createHttpServer(() => undefined));
});

afterAll(async () => {
  await silent?.close();
  await server?.stop();
});

function gcsLocation(bucket: string, prefix: string): Extract<ParsedLocation, { kind: "gcs" }> {
  const location = parseLocationUrl(`gs://${bucket}/${prefix}`);
  if (location.kind !== "gcs") throw new Error(`not a gs:// location: ${location.url}`);
  return location;
}

/**
 * A backend on a fresh prefix of the stand-in's bucket, so every test starts empty. The prefix is
 * short: GCS names are at most 1,024 bytes, prefix included, and the contract writes a 1,000-byte key.
 */
function fresh(bucket = BUCKET, endpoint = server.endpoint): Promise<GcsBackend> {
  return GcsBackend.open(gcsLocation(bucket, `t${randomBytes(4).toString("hex")}`), { apiEndpoint: endpoint });
}

/** Requests since `mark` whose decoded path or name query mentions `needle`. */
function requestsFor(mark: number, needle: string): RecordedRequest[] {
  return server.requests
    .slice(mark)
    .filter((r) => decodeURIComponent(r.path).includes(needle) || (r.query.get("name") ?? "").includes(needle));
}

backendContract({
  name: "gcs (stand-in server)",
  restoreDelayMs: 0,
  make: () => fresh(),
  misconfigured: async () => [
    { label: "a bucket that does not exist", backend: await fresh("strata-no-such-bucket"), error: NotFoundError },
    {
      label: "an endpoint nothing listens on",
      backend: await fresh(BUCKET, `http://127.0.0.1:${await freePort()}`),
      error: UnreachableError,
    },
    { label: "a bucket the caller may not use", backend: await fresh(FORBIDDEN), error: AccessDeniedError },
    {
      label: "an endpoint that never answers",
      backend: await fresh(BUCKET, silent.endpoint),
      error: UnreachableError,
    },
  ],
});

describe("gcs specifics (stand-in server)", () => {
  it("uploads a 100 MiB+ body through a resumable session, in 256 KiB-aligned chunks", async () => {
    const b = await fresh();
    const size = 100 * MiB + 7;
    const mark = server.requests.length;
    const { body, sha256 } = largeBody(size);
    const stored = await b.write("huge.bin", body, info(size));
    expect(stored.sha256).toBe(await sha256);
    const mine = requestsFor(mark, "huge.bin");
    expect(mine.filter((r) => r.query.get("uploadType") === "multipart")).toEqual([]);
    const start = mine.find((r) => r.method === "POST" && r.query.get("uploadType") === "resumable");
    expect(start?.path).toBe(`/upload/storage/v1/b/${BUCKET}/o`);
    const chunks = server.requests
      .slice(mark)
      .filter((r) => r.method === "PUT" && r.query.get("upload_id") !== null)
      .map((r) => r.contentRange);
    expect(chunks.length).toBeGreaterThanOrEqual(7);
    expect(chunks[0]).toBe(`bytes 0-${16 * MiB - 1}/*`);
    expect(chunks.at(-1)).toMatch(new RegExp(`^bytes \\d+-${size - 1}/${size}$`));
    // The SHA-256, known only at the end, was added to the stored generation's metadata.
    expect((await b.stat("huge.bin"))?.attributes?.sha256).toBe(await sha256);
    expect(mine.some((r) => r.method === "PATCH" && r.query.get("ifGenerationMatch") !== null)).toBe(true);
    await b.delete(["huge.bin"]);
    await b.close();
  }, 240_000);

  it("sends a small body in one multipart request, with no credentials to a plain-HTTP endpoint", async () => {
    const b = await fresh();
    const mark = server.requests.length;
    const stored = await put(b, "small.txt", "tiny", { metadata: { a: "1" } });
    expect(stored.sha256).toBe(sha256Hex("tiny"));
    const uploads = requestsFor(mark, "small.txt").filter((r) => r.path.startsWith("/upload/"));
    expect(uploads.map((r) => r.query.get("uploadType"))).toEqual(["multipart"]);
    expect(server.requests.slice(mark).every((r) => !r.authorized)).toBe(true);
    // The hash went up with the object, so no metadata patch followed.
    expect(requestsFor(mark, "small.txt").filter((r) => r.method === "PATCH")).toEqual([]);
    expect((await b.stat("small.txt"))?.attributes?.sha256).toBe(sha256Hex("tiny"));
    await b.close();
  });

  it("changes the class by a rewrite that keeps the bytes, metadata, tags and attributes", async () => {
    const b = await fresh();
    await put(b, "cold.txt", "keep me", { metadata: { project: "x" }, tags: { owner: "lab" } });
    const before = await b.stat("cold.txt");
    const mark = server.requests.length;
    const moved = await b.copy("cold.txt", "cold.txt", { storageClass: "COLDLINE" });
    expect(moved.storageClass).toBe("COLDLINE");
    expect(requestsFor(mark, "/rewriteTo/").length).toBe(1);
    const after = await b.stat("cold.txt");
    expect(after?.storageClass).toBe("COLDLINE");
    expect(after?.metadata).toEqual({ project: "x" });
    expect(after?.tags).toEqual({ owner: "lab" });
    expect(after?.attributes).toEqual(before?.attributes);
    expect((await get(b, "cold.txt")).toString()).toBe("keep me");
    await b.close();
  });

  it("follows a rewrite that takes several calls (a class change of a large object)", async () => {
    const b = await fresh();
    const size = 20 * MiB;
    const { body, sha256 } = largeBody(size);
    await b.write("big-cold.bin", body, info(size));
    const mark = server.requests.length;
    await b.copy("big-cold.bin", "big-cold.bin", { storageClass: "ARCHIVE" });
    const calls = requestsFor(mark, "/rewriteTo/");
    expect(calls.length).toBe(3);
    expect(calls.slice(1).every((r) => r.query.get("rewriteToken") !== null)).toBe(true);
    // ARCHIVE objects are read directly on GCS: no restore.
    expect(await b.restore("big-cold.bin", { days: 1, tier: "standard" })).toEqual({ state: "not-archived" });
    const { body: back } = await b.read("big-cold.bin");
    const hash = createHash("sha256");
    for await (const piece of back) hash.update(piece as Buffer);
    expect(hash.digest("hex")).toBe(await sha256);
    await b.delete(["big-cold.bin"]);
    await b.close();
  }, 60_000);

  it("escapes CR and LF, which GCS names cannot hold, and still lists in key order", async () => {
    const b = await fresh();
    const keys = ["a\tz", "a\nb", "a\n", "a\x0Bc", "a\x0Cd", "a\re", "a\x0Ef", "a!", "a", "a\x0Bn"];
    for (const key of keys) await put(b, key, key);
    const listed: string[] = [];
    for await (const object of b.list()) listed.push(object.key);
    expect(listed).toEqual([...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
    for (const key of keys) expect((await get(b, key)).toString()).toBe(key);
    expect((await b.stat("a\nb"))?.key).toBe("a\nb");
    await b.close();
  });

  it("fails a resumable upload whose body ends short before anything is committed", async () => {
    const b = await fresh();
    await put(b, "keep.bin", "old");
    const mark = server.requests.length;
    const short = Readable.from(
      (async function* () {
        for (let i = 0; i < 9; i++) yield Buffer.alloc(MiB, i);
      })(),
    );
    await expect(b.write("keep.bin", short, info(10 * MiB))).rejects.toThrow(/expected 10485760 bytes, received/);
    const ranges = server.requests
      .slice(mark)
      .filter((r) => r.method === "PUT" && r.query.get("upload_id") !== null)
      .map((r) => r.contentRange ?? "");
    // The announced size never reached the server: no request could have finalized the object.
    expect(ranges.every((range) => range.endsWith("/*"))).toBe(true);
    expect((await get(b, "keep.bin")).toString()).toBe("old");
    await b.close();
  });

  it("names an object the caller may not use as AccessDeniedError, and a missing bucket as NotFoundError", async () => {
    const denied = await fresh(FORBIDDEN);
    await expect(put(denied, "x", "y")).rejects.toBeInstanceOf(AccessDeniedError);
    await expect(denied.stat("x")).rejects.toBeInstanceOf(AccessDeniedError);
    const missing = await fresh("strata-no-such-bucket");
    const error = await put(missing, "x", "y").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toMatch(/bucket "strata-no-such-bucket" does not exist/);
    await expect(missing.stat("x")).rejects.toBeInstanceOf(NotFoundError);
    const size = 9 * MiB;
    const large = await missing.write("big", largeBody(size).body, info(size)).catch((e: unknown) => e);
    expect((large as Error).message).toMatch(/bucket "strata-no-such-bucket" does not exist/);
    // Deleting what is gone is fine; deleting from a bucket that is gone is not.
    await expect(missing.delete(["x"])).rejects.toBeInstanceOf(NotFoundError);
  });

  it("verifies whole downloads by CRC32C (ranges are not verified: GCS has no hash of a range)", async () => {
    const b = await fresh();
    await put(b, "tampered.txt", "0123456789");
    const [name] = requestsFor(0, "tampered.txt")
      .map((r) => r.query.get("name"))
      .filter((n) => n !== null);
    server.tamper(BUCKET, name as string);
    const whole = await get(b, "tampered.txt").catch((e: unknown) => e);
    expect(whole).toBeInstanceOf(TransientError);
    expect((whole as Error).message).toMatch(/checksum mismatch/);
    expect((await get(b, "tampered.txt", { start: 0, end: 1 })).toString()).not.toBe("01");
    await b.close();
  });

  it("has a damaged small upload refused by GCS before it replaces anything", async () => {
    const b = await fresh();
    await put(b, "precious.txt", "good");
    server.damageNextUpload();
    await expect(put(b, "precious.txt", "better")).rejects.toBeInstanceOf(TransientError);
    expect((await get(b, "precious.txt")).toString()).toBe("good");
    await b.close();
  });

  it("has a damaged large upload caught by the library's CRC32C check, which deletes what it stored", async () => {
    const b = await fresh();
    await put(b, "large.bin", "previous");
    server.damageNextUpload();
    const size = 9 * MiB;
    const error = await b.write("large.bin", largeBody(size).body, info(size)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(/checksum mismatch/);
    // GCS committed the damaged bytes with the final chunk; the library then deleted them, so
    // the previous object is gone too. A resumable upload cannot carry the CRC32C of a body
    // that is still streaming (the library does not send X-Goog-Hash on the last chunk).
    expect(await b.stat("large.bin")).toBeUndefined();
    await b.close();
  });

  it("maps keys to names one to one, keeping byte order", () => {
    const keys = ["", "plain", "\n", "\x0B", "\r", "\x0E", "\x0Bn", "\x0Er\n\r", "x\ty", "é\n"];
    for (const key of keys) {
      const name = toObjectName(key);
      expect(name).not.toMatch(/[\r\n]/);
      expect(fromObjectName(name)).toBe(key);
    }
    const sortedKeys = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    const sortedNames = keys
      .map(toObjectName)
      .sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
      .map(fromObjectName);
    expect(sortedNames).toEqual(sortedKeys);
  });

  it("stand-in: CRC32C matches the published check value", () => {
    // RFC 3720 (iSCSI) check value of "123456789" for CRC32C.
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    expect(crc32c(Buffer.from("56789"), crc32c(Buffer.from("1234")))).toBe(0xe3069283);
    expect(crc32cBase64(0xe3069283)).toBe(Buffer.from([0xe3, 0x06, 0x92, 0x83]).toString("base64"));
  });
});
