import { randomBytes } from "node:crypto";
import { appendFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { positionalReadsOf, readExactly } from "../../src/backends/bodies.js";
import { PosixBackend } from "../../src/backends/posix/posix-backend.js";
import { tempDir } from "../support/tmp.js";

const fail = (received: number | "more") => new Error(`received ${received}`);

describe("readExactly: a small body read once into one buffer of its size", () => {
  it("takes a body that comes as one chunk of its size as it is, and fills one buffer from many", async () => {
    const one = randomBytes(5000);
    expect(await readExactly(Readable.from([one]), one.length, fail)).toBe(one);
    const whole = randomBytes(200_000);
    const chunks = [whole.subarray(0, 1), whole.subarray(1, 65_537), whole.subarray(65_537)];
    const read = await readExactly(Readable.from(chunks), whole.length, fail);
    expect(read).toEqual(whole);
    expect(read.length).toBe(whole.length);
    expect((await readExactly(Readable.from([]), 0, fail)).length).toBe(0);
  });

  it("fails a body that runs longer as soon as it does, and one that ends short at its end", async () => {
    const body = randomBytes(100);
    await expect(readExactly(Readable.from([body, body]), 150, fail)).rejects.toThrow("received more");
    await expect(readExactly(Readable.from([body]), 99, fail)).rejects.toThrow("received more");
    await expect(readExactly(Readable.from([body, body]), 300, fail)).rejects.toThrow("received 200");
  });
});

/** Above the size a tree's read takes whole at once (READ_NOW_MAX): such files are read by offset as consumed. */
const STREAMED = 1024 ** 2 + 4096;

describe("readExactly of a file's body: read by offset, checked as its stream would be", () => {
  const fileBody = async (content: Buffer) => {
    const dir = tempDir();
    writeFileSync(join(dir, "f"), content);
    const { body } = await new PosixBackend(dir, `file://${dir}`).read("f");
    expect(positionalReadsOf(body)).toBeDefined();
    return { body, path: join(dir, "f") };
  };

  it("reads the file whole and lets go of it", async () => {
    for (const content of [randomBytes(70_000), randomBytes(STREAMED)]) {
      const { body } = await fileBody(content);
      expect(await readExactly(body, content.length, fail)).toEqual(content);
      expect(body.destroyed).toBe(true);
    }
  });

  it("fails a file longer or shorter than announced, and one changed since it was opened", async () => {
    const content = randomBytes(STREAMED);
    await expect(readExactly((await fileBody(content)).body, STREAMED - 96, fail)).rejects.toThrow("received more");
    await expect(readExactly((await fileBody(content)).body, STREAMED + 904, fail)).rejects.toThrow(
      `received ${STREAMED}`,
    );
    const grown = await fileBody(content);
    appendFileSync(grown.path, "x");
    await expect(readExactly(grown.body, STREAMED, fail)).rejects.toThrow("received more");
    const shrunk = await fileBody(content);
    truncateSync(shrunk.path, 100);
    await expect(readExactly(shrunk.body, STREAMED, fail)).rejects.toThrow("received 100");
    const rewritten = await fileBody(content);
    writeFileSync(rewritten.path, randomBytes(STREAMED));
    await new Promise((resolve) => setTimeout(resolve, 20));
    writeFileSync(rewritten.path, randomBytes(STREAMED));
    await expect(readExactly(rewritten.body, STREAMED, fail)).rejects.toThrow("changed while it was being read");
  });

  it("takes a small file whole as it was when its read was asked for: the bytes themselves, sized exactly", async () => {
    const content = randomBytes(4096);
    const read = await fileBody(content);
    expect(positionalReadsOf(read.body)?.held).toEqual(content);
    // Changed after the read was made: the body is still the version read, never a mix of two.
    writeFileSync(read.path, randomBytes(4096));
    expect(await readExactly(read.body, 4096, fail)).toEqual(content);
    await expect(readExactly((await fileBody(content)).body, 4000, fail)).rejects.toThrow("received more");
    await expect(readExactly((await fileBody(content)).body, 5000, fail)).rejects.toThrow("received 4096");
    // Its stream gives the same bytes, for readers that stream.
    const streamed: Buffer[] = [];
    for await (const chunk of (await fileBody(content)).body) streamed.push(chunk as Buffer);
    expect(Buffer.concat(streamed)).toEqual(content);
  });
});
