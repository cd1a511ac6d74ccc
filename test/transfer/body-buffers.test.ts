import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { ObjectInfo, WriteInfo } from "../../src/backends/backend.js";
import { positionalReadsOf } from "../../src/backends/bodies.js";
import { BodyBuffers, bodyBuffers } from "../../src/backends/body-buffers.js";
import { PosixBackend } from "../../src/backends/posix/posix-backend.js";
import { copyVerified } from "../../src/transfer/copy.js";
import { tempDir } from "../support/tmp.js";

describe("BodyBuffers: small bodies' buffers lent and given back", () => {
  it("lends a buffer of the size asked, and lends its memory again once given back", () => {
    const pool = new BodyBuffers(1024 ** 2);
    const first = pool.take(5000);
    expect(first.length).toBe(5000);
    pool.giveBack(first.subarray(0, 10));
    expect(pool.kept).toBe(8192);
    const again = pool.take(7000);
    expect(again.buffer).toBe(first.buffer);
    expect(pool.kept).toBe(0);
    // Another size class is other memory.
    expect(pool.take(9000).buffer).not.toBe(first.buffer);
  });

  it("never lends one memory twice: a second giving back, or a buffer it did not lend, is ignored", () => {
    const pool = new BodyBuffers(1024 ** 2);
    const lent = pool.take(100);
    pool.giveBack(lent);
    pool.giveBack(lent);
    pool.giveBack(Buffer.allocUnsafeSlow(4096));
    expect(pool.kept).toBe(4096);
    const a = pool.take(100);
    const b = pool.take(100);
    expect(a.buffer).toBe(lent.buffer);
    expect(b.buffer).not.toBe(a.buffer);
  });

  it("keeps at most its limit unused, and nothing detached since", () => {
    const pool = new BodyBuffers(8192);
    const lent = [pool.take(4096), pool.take(4096), pool.take(4096)];
    for (const buffer of lent) pool.giveBack(buffer);
    expect(pool.kept).toBe(8192);
    const moved = pool.take(1);
    pool.take(1);
    structuredClone(moved, { transfer: [moved.buffer as ArrayBuffer] });
    pool.giveBack(moved);
    expect(pool.kept).toBe(0);
  });
});

/** A tree target whose writes, once held, wait to be released before taking their body, and that notes each body's buffer. */
class GatedTree extends PosixBackend {
  readonly buffers: (ArrayBufferLike | undefined)[] = [];
  private opened: Promise<void> = Promise.resolve();
  private openGate: () => void = () => {};
  private enteredNow: () => void = () => {};
  entered: Promise<void> = Promise.resolve();

  holdWrites(): void {
    this.opened = new Promise((resolve) => (this.openGate = resolve));
    this.entered = new Promise((resolve) => (this.enteredNow = resolve));
  }

  releaseWrites(): void {
    this.openGate();
  }

  override async write(key: string, body: Readable, info: WriteInfo): Promise<ObjectInfo> {
    this.buffers.push(positionalReadsOf(body)?.held?.buffer);
    this.enteredNow();
    await this.opened;
    return super.write(key, body, info);
  }
}

function treeOf(files: Record<string, Buffer>): { dir: string; tree: PosixBackend } {
  const dir = tempDir("strata-body-buffers-");
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return { dir, tree: new PosixBackend(dir, `file://${dir}`) };
}

describe("copyVerified: a small file's buffer used again only once its copy is done", () => {
  const a = randomBytes(5000);
  const b = randomBytes(5000);
  const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
  const copy = (source: PosixBackend, target: PosixBackend, key: string, content: Buffer) =>
    copyVerified({
      source,
      sourceKey: key,
      target,
      targetKey: key,
      size: content.length,
      attributes: { mtimeUs: 0 },
      expectedHash: sha256(content),
    });

  it("reads the next small file into the buffer the last copy gave back", async () => {
    const source = treeOf({ a, b }).tree;
    const targetDir = tempDir("strata-body-buffers-target-");
    const target = new GatedTree(targetDir, `file://${targetDir}`);
    await copy(source, target, "a", a);
    await copy(source, target, "b", b);
    expect(target.buffers[0]).toBeDefined();
    expect(target.buffers[1]).toBe(target.buffers[0]);
    expect(readFileSync(join(targetDir, "b"))).toEqual(b);
  });

  it("gives another copy other memory while a write still holds its body", async () => {
    const source = treeOf({ a, b }).tree;
    const slowDir = tempDir("strata-body-buffers-slow-");
    const slow = new GatedTree(slowDir, `file://${slowDir}`);
    const quickDir = tempDir("strata-body-buffers-quick-");
    const quick = new GatedTree(quickDir, `file://${quickDir}`);
    slow.holdWrites();
    const held = copy(source, slow, "a", a);
    await slow.entered;
    // While a's write waits, b is read, copied and done: its buffer must not be a's.
    await copy(source, quick, "b", b);
    slow.releaseWrites();
    await held;
    expect(quick.buffers[0]).not.toBe(slow.buffers[0]);
    expect(readFileSync(join(slowDir, "a"))).toEqual(a);
    expect(readFileSync(join(quickDir, "b"))).toEqual(b);
  });

  it("gives the buffer back when the write fails", async () => {
    const source = treeOf({ a, b }).tree;
    const targetDir = tempDir("strata-body-buffers-target-");
    const target = new GatedTree(targetDir, `file://${targetDir}`);
    const wrong = copyVerified({
      source,
      sourceKey: "a",
      target,
      targetKey: "a",
      size: a.length,
      attributes: { mtimeUs: 0 },
      expectedHash: sha256(b),
    });
    await expect(wrong).rejects.toThrow(/expected/);
    await copy(source, target, "b", b);
    expect(target.buffers[1]).toBe(target.buffers[0]);
  });
});

describe("a small body written as a file: buffered in a lent buffer when it comes in pieces", () => {
  it("gives the buffer back once the file is written", async () => {
    const dir = tempDir("strata-body-buffers-pieces-");
    const tree = new PosixBackend(dir, `file://${dir}`);
    const content = randomBytes(100_000);
    // 100,000 bytes: the 128 KiB shelf, which no other test of this file uses.
    const before = bodyBuffers.kept;
    const pieces = Readable.from([content.subarray(0, 30_000), content.subarray(30_000)]);
    await tree.write("pieces", pieces, { size: content.length, attributes: { mtimeUs: 0 } });
    expect(bodyBuffers.kept).toBe(before + 128 * 1024);
    expect(readFileSync(join(dir, "pieces"))).toEqual(content);
  });
});
