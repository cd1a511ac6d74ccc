import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { readExactly } from "../../src/backends/bodies.js";

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
