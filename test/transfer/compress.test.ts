import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { codecSetting } from "../../src/codec/choose.js";
import { contentFrames, zstdFrameLength } from "../../src/codec/frames.js";
import { compressInto } from "../../src/transfer/compress.js";
import { Spool } from "../../src/transfer/spool.js";
import { csvTable } from "../support/research-data.js";

/*
 * The copy path's compression: one pass hashes the content, `auto` picks the codec from a trial on
 * the first piece, and frames are made on the compression threads.
 */

const MiB = 1024 * 1024;

async function compressed(data: Buffer, setting: string): Promise<{ stored: Buffer; sha256: string; codec: string }> {
  const spool = new Spool();
  try {
    const result = await compressInto(spool, Readable.from([data]), codecSetting(setting));
    const parts: Buffer[] = [];
    for await (const chunk of await spool.reader()) parts.push(chunk as Buffer);
    return { stored: Buffer.concat(parts), sha256: result.sha256, codec: result.codec.name };
  } finally {
    await spool.dispose();
  }
}

describe("compressInto", () => {
  it("auto keeps its trial's frame as the object's first: no byte is compressed twice", async () => {
    const data = csvTable(400_000).subarray(0, 6 * MiB);
    expect(data.length).toBe(6 * MiB);
    const { stored, sha256, codec } = await compressed(data, "auto");
    expect(codec).toBe("zstd");
    expect(sha256).toBe(createHash("sha256").update(data).digest("hex"));
    // The 1 MiB trial, the first piece's other 3 MiB, then the last 2 MiB: three frames.
    expect([...contentFrames(stored, zstdFrameLength)]).toHaveLength(3);
    const cli = spawnSync("zstd", ["-dc"], { input: stored, maxBuffer: 16 * MiB });
    expect(cli.status).toBe(0);
    expect(cli.stdout.equals(data)).toBe(true);
  });

  it("auto stores a piece no larger than its trial as the trial's one frame", async () => {
    const data = csvTable(20_000).subarray(0, 300_000);
    const { stored, codec } = await compressed(data, "auto");
    expect(codec).toBe("zstd");
    expect([...contentFrames(stored, zstdFrameLength)]).toHaveLength(1);
    expect(spawnSync("zstd", ["-dc"], { input: stored }).stdout.equals(data)).toBe(true);
  });
});
