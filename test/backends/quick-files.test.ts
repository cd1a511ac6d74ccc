import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { QuickFiles } from "../../src/backends/quick-files.js";
import { tempDir } from "../support/tmp.js";

function treeWith(files: Record<string, Buffer>): string {
  const dir = tempDir("strata-read-now-");
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

describe("QuickFiles: small files read and written whole on the calling thread while the tree is quick", () => {
  it("gives a small file's bytes and status, only the status of a larger file or a directory", () => {
    const small = randomBytes(5000);
    const dir = treeWith({ small, large: randomBytes(9000) });
    mkdirSync(join(dir, "sub"));
    const reads = new QuickFiles();

    const read = reads.read(join(dir, "small"), 8192);
    expect(read?.data).toEqual(small);
    expect(read?.opened.size).toBe(5000);
    expect(reads.read(join(dir, "small"), 5000)?.data).toEqual(small);

    const large = reads.read(join(dir, "large"), 8192);
    expect(large?.opened.size).toBe(9000);
    expect(large?.data).toBeUndefined();
    const sub = reads.read(join(dir, "sub"), 8192);
    expect(sub?.opened.isDirectory()).toBe(true);
    expect(sub?.data).toBeUndefined();
  });

  it("leaves a symlink and a missing file to the caller's own read", () => {
    const dir = treeWith({ target: Buffer.from("x") });
    symlinkSync(join(dir, "target"), join(dir, "link"));
    const reads = new QuickFiles();
    expect(reads.read(join(dir, "link"), 8192)).toBeUndefined();
    expect(reads.read(join(dir, "gone"), 8192)).toBeUndefined();
  });

  it("creates a new file with the bytes given, and never replaces one", () => {
    const dir = treeWith({ taken: Buffer.from("keep") });
    const files = new QuickFiles();
    const data = randomBytes(70_000);
    expect(files.create(join(dir, "new"), data)).toBe(true);
    expect(readFileSync(join(dir, "new"))).toEqual(data);
    expect(() => files.create(join(dir, "taken"), data)).toThrow(/EEXIST/);
    expect(readFileSync(join(dir, "taken"), "utf8")).toBe("keep");
  });

  it("hands a slow tree to the thread pool for a pause, then tries again", async () => {
    const dir = treeWith({ a: Buffer.from("a") });
    // Every read counts as slow here: the first is made, the next ones wait out the pause.
    const reads = new QuickFiles({ slowMs: -1, pauseMs: 100 });
    expect(reads.read(join(dir, "a"), 10)?.data?.toString()).toBe("a");
    expect(reads.read(join(dir, "a"), 10)).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(reads.read(join(dir, "a"), 10)?.data?.toString()).toBe("a");

    // A write is not made while paused: the caller writes through the pool.
    const writes = new QuickFiles({ slowMs: -1, pauseMs: 60_000 });
    expect(writes.create(join(dir, "b"), Buffer.from("b"))).toBe(true);
    expect(writes.create(join(dir, "c"), Buffer.from("c"))).toBe(false);
    expect(existsSync(join(dir, "c"))).toBe(false);

    const quick = new QuickFiles({ slowMs: 1_000, pauseMs: 100 });
    for (let i = 0; i < 50; i++) expect(quick.read(join(dir, "a"), 10)?.data?.toString()).toBe("a");
  });
});
