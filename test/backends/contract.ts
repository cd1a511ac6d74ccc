import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import {
  type Backend,
  type BackendError,
  IntegrityError,
  InvalidRequestError,
  NeedsRestoreError,
  NotFoundError,
  type WriteInfo,
} from "../../src/backends/backend.js";
import { bytesToKey } from "../../src/backends/keys.js";
import { sha256Hex } from "../support/bytes.js";

/**
 * The one contract every backend passes (rclone's fstests idea): the same cases against each
 * implementation, each on a real store. `make` returns a fresh, empty backend.
 */
export interface ContractSubject {
  name: string;
  make(): Promise<Backend>;
  /** For archive tests: how long this backend's restore takes, in ms. */
  restoreDelayMs: number;
  /**
   * Locations that cannot work (wrong credentials, a missing bucket, an unreachable endpoint),
   * each with the error `check()` must throw for it.
   */
  misconfigured?: () => Promise<Misconfigured[]>;
}

export interface Misconfigured {
  label: string;
  backend: Backend;
  error: abstract new (...args: never[]) => BackendError;
}

/** Bytes of a large object, generated as they stream, so no test holds 100 MiB in memory. */
export function largeBody(size: number): { body: Readable; sha256: Promise<string> } {
  const hash = createHash("sha256");
  let sent = 0;
  const chunk = Buffer.alloc(1024 * 1024);
  const body = new Readable({
    read() {
      if (sent >= size) {
        this.push(null);
        return;
      }
      const n = Math.min(chunk.length, size - sent);
      chunk.writeUInt32LE(sent, 0);
      chunk.writeUInt32LE(0x5eed, n - 4);
      const piece = Buffer.from(chunk.subarray(0, n));
      hash.update(piece);
      sent += n;
      this.push(piece);
    },
  });
  return { body, sha256: new Promise((resolve) => body.on("end", () => resolve(hash.digest("hex")))) };
}

const attrs = (mtimeUs = 1_600_000_000_123_456) => ({ mtimeUs, mode: 0o640, path: "x" });

export function info(size: number, extra: Partial<WriteInfo> = {}): WriteInfo {
  return { size, attributes: attrs(), ...extra };
}

export async function put(backend: Backend, key: string, content: string | Buffer, extra: Partial<WriteInfo> = {}) {
  const body = Buffer.from(content);
  return backend.write(key, Readable.from([body]), info(body.length, extra));
}

export async function get(backend: Backend, key: string, range?: { start: number; end: number }): Promise<Buffer> {
  const { body } = await backend.read(key, range);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function keysOf(backend: Backend, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of backend.list(prefix)) keys.push(object.key);
  return keys;
}

export function backendContract(subject: ContractSubject): void {
  describe(`backend contract: ${subject.name}`, () => {
    it("passes its own check when usable", async () => {
      const b = await subject.make();
      await b.check();
      await b.close();
    });

    it("stores a 100 MiB+ object (in parts where the backend has them) and reads it back whole", async () => {
      const b = await subject.make();
      const size = 100 * 1024 * 1024 + 12_345;
      const { body, sha256 } = largeBody(size);
      const stored = await b.write("big/object.bin", body, info(size));
      expect(stored.size).toBe(size);
      expect(stored.sha256).toBe(await sha256);
      const back = createHash("sha256");
      for await (const piece of (await b.read("big/object.bin")).body) back.update(piece as Buffer);
      expect(back.digest("hex")).toBe(await sha256);
      const tail = await get(b, "big/object.bin", { start: size - 4, end: size - 1 });
      expect(tail.readUInt32LE(0)).toBe(0x5eed);
      await b.delete(["big/object.bin"]);
      await b.close();
    }, 240_000);

    if (subject.misconfigured) {
      const cases = subject.misconfigured;
      it("names a location that cannot work in one clear error, at once", async () => {
        for (const bad of await cases()) {
          const started = Date.now();
          const error = await bad.backend.check().then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error, bad.label).toBeInstanceOf(bad.error);
          expect((error as BackendError).message, bad.label).toContain(bad.backend.url);
          expect((error as BackendError).message, bad.label).not.toMatch(/\n/);
          expect(Date.now() - started, bad.label).toBeLessThan(15_000);
          await bad.backend.close();
        }
      }, 60_000);
    }

    it("writes, stats and reads back the same bytes, reporting their SHA-256", async () => {
      const b = await subject.make();
      const content = Buffer.from("hello, research data\n".repeat(1000));
      const stored = await put(b, "dir/file.txt", content);
      expect(stored.size).toBe(content.length);
      expect(stored.sha256).toBe(sha256Hex(content));
      expect((await b.stat("dir/file.txt"))?.size).toBe(content.length);
      expect(await get(b, "dir/file.txt")).toEqual(content);
      expect(await b.stat("dir/missing")).toBeUndefined();
      await b.close();
    });

    it("overwrites in place and reads ranges inclusively", async () => {
      const b = await subject.make();
      await put(b, "k", "first version");
      await put(b, "k", "0123456789");
      expect((await get(b, "k")).toString()).toBe("0123456789");
      expect((await get(b, "k", { start: 2, end: 5 })).toString()).toBe("2345");
      expect((await get(b, "k", { start: 9, end: 9 })).toString()).toBe("9");
      await b.close();
    });

    it("lists 2,500 keys in byte order, streamed, with prefixes", async () => {
      const b = await subject.make();
      const keys: string[] = [];
      for (let i = 0; i < 2500; i++) keys.push(`many/${String(i).padStart(4, "0")}`);
      keys.push("many.txt", "many/sub/deep", "manx");
      for (let i = 0; i < keys.length; i += 100) {
        await Promise.all(keys.slice(i, i + 100).map((k) => put(b, k, k)));
      }
      const sorted = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      expect(await keysOf(b)).toEqual(sorted);
      expect(await keysOf(b, "many/")).toEqual(sorted.filter((k) => k.startsWith("many/")));
      expect(await keysOf(b, "many/24")).toHaveLength(100);
      expect(await keysOf(b, "nothing/")).toEqual([]);
      await b.close();
    });

    it("keeps odd names exact: unicode, spaces, URL characters, newline, 255 and 1,000 bytes, non-UTF-8", async () => {
      const b = await subject.make();
      const names = [
        "données/naïve résumé.txt",
        "space in name",
        "url+chars%20#?=&;.dat",
        "line\nbreak",
        "x".repeat(255),
        `deep/${"é".repeat(127)}`,
        bytesToKey(Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e])),
        "\uF700\uF7A0 private use",
        `${`${"d".repeat(199)}/`.repeat(5).slice(0, 999)}z`, // 1,000 bytes in segments a filesystem allows
      ];
      for (const name of names) await put(b, name, `content of ${name}`);
      for (const name of names) expect((await get(b, name)).toString()).toBe(`content of ${name}`);
      expect((await keysOf(b)).sort()).toEqual([...names].sort());
      await b.close();
    });

    it("carries file attributes, metadata and tags as far as the backend can", async () => {
      const b = await subject.make();
      await put(b, "attrs", "abc", { metadata: { project: "climate" }, tags: { owner: "lab-7" } });
      const stat = await b.stat("attrs");
      expect(stat?.attributes?.mtimeUs).toBe(1_600_000_000_123_456);
      expect(stat?.attributes?.mode).toBe(0o640);
      if (b.caps.userMetadata) {
        expect(stat?.metadata).toEqual({ project: "climate" });
        expect(stat?.tags).toEqual({ owner: "lab-7" });
        expect(stat?.attributes?.sha256).toBe(sha256Hex("abc"));
      }
      await b.close();
    });

    it("changes an object's tags in place where the store keeps tags, leaving its other tags and bytes", async () => {
      const b = await subject.make();
      // A capability: stores without tags (POSIX trees) do not offer it.
      expect(b.updateTags === undefined).toBe(!b.caps.userMetadata);
      if (b.updateTags) {
        await put(b, "tagged", "abc", { tags: { owner: "lab-7", site: "north" } });
        await b.updateTags("tagged", { set: { project: "climate", owner: "lab-8" }, remove: ["site"] });
        const stat = await b.stat("tagged");
        expect(stat?.tags).toEqual({ owner: "lab-8", project: "climate" });
        expect(stat?.attributes?.sha256).toBe(sha256Hex("abc"));
        expect((await get(b, "tagged")).toString()).toBe("abc");
        await expect(b.updateTags("never-written", { set: { a: "b" }, remove: [] })).rejects.toBeInstanceOf(
          NotFoundError,
        );
      }
      await b.close();
    });

    it("refuses hostile keys without touching anything outside", async () => {
      const b = await subject.make();
      for (const key of ["../escape", "/absolute", "a/../../escape", ""]) {
        const attempt = put(b, key, "x");
        if (b.caps.fileAttributes) {
          await expect(attempt).rejects.toBeInstanceOf(InvalidRequestError);
        } else if (key === "") {
          await expect(attempt).rejects.toBeInstanceOf(InvalidRequestError);
        } else {
          // An object store treats them as opaque flat keys: stored and read back as written.
          await attempt;
          expect((await get(b, key)).toString()).toBe("x");
        }
      }
      expect(await keysOf(b, "../")).toEqual(b.caps.fileAttributes ? [] : ["../escape"]);
      await b.close();
    });

    it("leaves the previous object whole when a write fails midway", async () => {
      const b = await subject.make();
      await put(b, "precious", "the good version");
      async function* failing() {
        yield Buffer.from("partial data that must never be seen");
        throw new Error("connection lost");
      }
      await expect(b.write("precious", Readable.from(failing()), info(1000))).rejects.toThrow();
      await expect(b.write("new-one", Readable.from(failing()), info(1000))).rejects.toThrow();
      expect((await get(b, "precious")).toString()).toBe("the good version");
      expect(await keysOf(b)).toEqual(["precious"]);
      await b.close();
    });

    it("refuses bytes that are not the SHA-256 expected, leaving the previous object exactly as it was", async () => {
      const b = await subject.make();
      const good = Buffer.from("the only good copy of this file");
      await put(b, "kept", good);
      const before = await b.stat("kept");
      const expectedSha256 = sha256Hex(good);
      const refused = (attempt: Promise<unknown>) => expect(attempt).rejects.toBeInstanceOf(IntegrityError);
      await refused(put(b, "kept", "damaged bytes of the same file", { expectedSha256 }));
      // Large enough for parts, blocks or a resumable session wherever the backend has them.
      const size = 20 * 1024 * 1024 + 5;
      await refused(b.write("kept", largeBody(size).body, info(size, { expectedSha256 })));
      await refused(put(b, "absent", "damaged", { expectedSha256 }));
      if (b.writeRanges) {
        const damaged = Buffer.from("damaged bytes, written by offset");
        await refused(
          b.writeRanges("kept", info(damaged.length, { expectedSha256 }), (sink) => sink.write(damaged, 0)),
        );
      }
      expect(await get(b, "kept")).toEqual(good);
      expect(await b.stat("kept")).toEqual(before);
      expect(await keysOf(b)).toEqual(["kept"]);
      const next = Buffer.from("the next version");
      expect((await put(b, "kept", next, { expectedSha256: sha256Hex(next) })).sha256).toBe(sha256Hex(next));
      expect(await get(b, "kept")).toEqual(next);
      await b.close();
    }, 120_000);

    it("rejects a body shorter or longer than announced", async () => {
      const b = await subject.make();
      await expect(b.write("short", Readable.from([Buffer.from("abc")]), info(10))).rejects.toThrow(
        /expected 10 bytes/,
      );
      expect(await b.stat("short")).toBeUndefined();
      await b.close();
    });

    it("copies server-side, and changes storage class in place", async () => {
      const b = await subject.make();
      await put(b, "src", "copy me");
      await b.copy("src", "dst/copied");
      expect((await get(b, "dst/copied")).toString()).toBe("copy me");
      const other = b.caps.storageClasses.find(
        (c) => !b.caps.archiveClasses.includes(c) && c !== b.caps.storageClasses[0],
      );
      if (other) {
        const moved = await b.copy("src", "src", { storageClass: other });
        expect(moved.storageClass).toBe(other);
        expect((await b.stat("src"))?.storageClass).toBe(other);
        expect((await get(b, "src")).toString()).toBe("copy me");
      }
      await b.close();
    });

    it("deletes in batches, and deleting what is gone is no error", async () => {
      const b = await subject.make();
      await Promise.all(["a", "b", "c/d"].map((k) => put(b, k, k)));
      await b.delete(["a", "c/d", "never-existed"]);
      expect(await keysOf(b)).toEqual(["b"]);
      await b.close();
    });

    it("maps a missing object to NotFoundError naming the location", async () => {
      const b = await subject.make();
      const error = await b.read("nope").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as BackendError).message).toContain(b.url);
      expect((error as BackendError).retryable).toBe(false);
      await b.close();
    });

    it("archives: an archived object needs a restore, which takes its time, then reads", async () => {
      const b = await subject.make();
      const archive = b.caps.archiveClasses[0];
      if (!archive) {
        expect(await b.restore("any", { days: 1, tier: "standard" })).toEqual({ state: "not-archived" });
        return;
      }
      await put(b, "cold", "frozen bytes", { storageClass: archive });
      await expect(b.read("cold")).rejects.toBeInstanceOf(NeedsRestoreError);
      const first = await b.restore("cold", { days: 1, tier: "standard" });
      expect(first.state).toBe("restoring");
      await expect(b.read("cold")).rejects.toBeInstanceOf(NeedsRestoreError);
      expect((await b.stat("cold"))?.restore?.state).toBe("restoring");
      await sleep(subject.restoreDelayMs + 50);
      expect((await b.stat("cold"))?.restore?.state).toBe("restored");
      expect((await get(b, "cold")).toString()).toBe("frozen bytes");
      await b.close();
    });
  });
}
