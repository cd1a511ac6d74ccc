import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Spool } from "../../src/transfer/spool.js";
import { sha256Hex } from "../support/bytes.js";
import { tmpdirPerTest } from "../support/tmp.js";

/*
 * The spool holds a compressed object's frames until their size is known: in memory when small,
 * in a temp file when large; a killed process's temp files are removed by a later one.
 */

const tmpdir = tmpdirPerTest("strata-spool-test-");

async function readAll(spool: Spool): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of await spool.reader()) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe("spool", () => {
  it("gives back what was appended, with its SHA-256, from memory and from a temp file", async () => {
    for (const sizes of [
      [1000, 2000],
      [5 << 20, 5 << 20, 123],
    ]) {
      const spool = new Spool();
      const parts = sizes.map((n) => randomBytes(n));
      for (const part of parts) await spool.append(part);
      const whole = Buffer.concat(parts);
      expect(spool.size).toBe(whole.length);
      expect(spool.sha256()).toBe(sha256Hex(whole));
      expect((await readAll(spool)).equals(whole)).toBe(true);
      await spool.dispose();
      expect(readdirSync(tmpdir()), "nothing left once disposed").toEqual([]);
    }
  });

  it("removes, once it reaches disk, the temp dir of a process killed while spooling", async () => {
    const gone = spawnSync(process.execPath, ["-e", "process.pid"]).pid as number;
    const dead = join(tmpdir(), `strata-spool-${hostname()}~${gone}~abc123`);
    mkdirSync(dead);
    const spool = new Spool();
    await spool.append(randomBytes(1000));
    expect(existsSync(dead), "not while it holds its bytes in memory").toBe(true);
    await spool.append(randomBytes(9 << 20));
    expect(existsSync(dead)).toBe(false);
    await spool.dispose();
  });
});
