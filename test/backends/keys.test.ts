import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  bytesToKey,
  hasEscapes,
  keyToBytes,
  MalformedKeyError,
  printablePath,
  unsafeRelativeKey,
} from "../../src/backends/keys.js";

describe("POSIX name ↔ key encoding", () => {
  it("leaves valid UTF-8 names as they are", () => {
    for (const name of ["plain.txt", "données/été.nc", "日本語", "emoji 🧪", "line\nbreak", "%41+&"]) {
      expect(bytesToKey(Buffer.from(name))).toBe(name);
      expect(hasEscapes(name)).toBe(false);
    }
  });

  it("round-trips invalid bytes, overlong forms, surrogates and literal private-use characters", () => {
    const cases = [
      [0xff],
      [0x66, 0x80, 0x6f],
      [0xc0, 0xaf], // overlong "/"
      [0xed, 0xa0, 0x80], // a UTF-16 surrogate written as UTF-8
      [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
      [...Buffer.from("\uF700\uF7FF\uF780")],
      [0xe2, 0x82], // truncated sequence
    ];
    for (const bytes of cases) {
      const key = bytesToKey(Buffer.from(bytes));
      expect(key.isWellFormed()).toBe(true);
      expect([...keyToBytes(key)]).toEqual(bytes);
    }
  });

  it("is one to one on random byte strings, and an escape never yields '/' or NUL", () => {
    for (let i = 0; i < 2000; i++) {
      const bytes = randomBytes(1 + (i % 40)).filter((b) => b !== 0x2f && b !== 0);
      const key = bytesToKey(bytes);
      expect(Buffer.compare(keyToBytes(key), Buffer.from(bytes))).toBe(0);
      expect(key.split("/").length).toBe(1);
    }
  });

  it("names what makes a relative key unsafe", () => {
    expect(unsafeRelativeKey("a/b.txt")).toBeUndefined();
    expect(unsafeRelativeKey("../x")).toMatch(/\.\./);
    expect(unsafeRelativeKey("a/./b")).toMatch(/"\."/);
    expect(unsafeRelativeKey("/etc/passwd")).toMatch(/absolute/);
    expect(unsafeRelativeKey("a//b")).toMatch(/empty segment/);
    expect(unsafeRelativeKey("a\0b")).toMatch(/NUL/);
  });

  it("decodes only U+F700-U+F7FF as escapes and refuses the rest as malformed, naming the key", () => {
    expect([...keyToBytes("\uF700\uF7E9")]).toEqual([...Buffer.from("\uF7E9")]);
    for (const key of ["..\uF700/x", "\uF700.\uF700.\uF700/x", "a\uF700", "\uF700\u0000", "\uF742x", "a\uD800"]) {
      expect(() => keyToBytes(key), JSON.stringify(key)).toThrow(MalformedKeyError);
      expect(() => keyToBytes(key)).toThrow(JSON.stringify(key));
    }
  });

  it("confines the decoded path: an escape cannot spell a '..', '/' or NUL the check did not see", () => {
    for (const key of ["..\uF700/x", "\uF700.\uF700.\uF700/x", "a/\uF700.\uF700./x", "\uF700/etc/passwd"]) {
      expect(unsafeRelativeKey(key), JSON.stringify(key)).toBeDefined();
    }
    expect(unsafeRelativeKey("..\uF700/x")).toMatch(/malformed/);
    expect(unsafeRelativeKey(`a/${"n".repeat(256)}`)).toMatch(/255 bytes/);
    expect(unsafeRelativeKey(`a/${"\uF7E9".repeat(255)}`)).toBeUndefined();
    expect(unsafeRelativeKey("r\uF7E9sultat/\uF700\uF700x")).toBeUndefined();
  });

  it("prints a malformed key without throwing", () => {
    expect(printablePath("..\uF700/x")).toBe("..\\uf700/x");
  });
});
