import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { InvalidRequestError } from "../../src/backends/backend.js";
import { PosixBackend } from "../../src/backends/posix/posix-backend.js";
import { tempDir } from "../support/tmp.js";
import { backendContract, put } from "./contract.js";

backendContract({
  name: "posix",
  restoreDelayMs: 0,
  make: async () => {
    const dir = tempDir();
    return new PosixBackend(dir, `file://${dir}`);
  },
});

describe("posix specifics", () => {
  it("refuses a named pipe in a file's place at once, whole or by range, instead of waiting on it", () => {
    const dir = tempDir();
    execFileSync("mkfifo", [join(dir, "pipe")]);
    // In a process of its own: a read that waited for a writer would block it, and a timeout ends it.
    const script = `
      import { PosixBackend } from ${JSON.stringify(fileURLToPath(new URL("../../src/backends/posix/posix-backend.ts", import.meta.url)))};
      const b = new PosixBackend(${JSON.stringify(dir)}, "file://${dir}");
      const outcome = (read) => read.then(() => "read", (err) => err.message);
      console.log(JSON.stringify([await outcome(b.read("pipe")), await outcome(b.read("pipe", { start: 0, end: 9 }))]));`;
    const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(child.signal, "the read waited for a writer").toBeNull();
    expect(child.stderr).toBe("");
    const [whole, ranged] = JSON.parse(child.stdout) as string[];
    expect(whole).toMatch(/"pipe": a named pipe now, not a regular file: nothing read/);
    expect(ranged).toMatch(/"pipe": a named pipe now, not a regular file: nothing read/);
  }, 60_000);

  it("reads without moving the file's atime, so its own copies don't make a file look used", async () => {
    const dir = tempDir();
    const b = new PosixBackend(dir, `file://${dir}`);
    writeFileSync(join(dir, "idle.dat"), "cold data");
    // Under relatime an atime older than a day moves on the next read, unless it is O_NOATIME.
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    utimesSync(join(dir, "idle.dat"), twoDaysAgo, twoDaysAgo);
    const { body } = await b.read("idle.dat");
    expect(Buffer.concat(await body.toArray()).toString()).toBe("cold data");
    expect(Math.round(statSync(join(dir, "idle.dat")).atimeMs)).toBe(twoDaysAgo.getTime());
  });

  it("applies mtime and mode to the file itself, and leaves no temp files", async () => {
    const dir = tempDir();
    const b = new PosixBackend(dir, `file://${dir}`);
    await put(b, "a/b/c.txt", "data");
    const stats = statSync(join(dir, "a/b/c.txt"));
    expect(stats.mode & 0o7777).toBe(0o640);
    expect(Math.round(stats.mtimeMs * 1000)).toBe(1_600_000_000_123_456);
    expect(readdirSync(join(dir, "a/b"))).toEqual(["c.txt"]);
  });

  it("never writes through a symlinked directory out of its root", async () => {
    const dir = tempDir();
    const outside = tempDir();
    symlinkSync(outside, join(dir, "trap"));
    const b = new PosixBackend(dir, `file://${dir}`);
    await expect(put(b, "trap/owned.txt", "x")).rejects.toBeInstanceOf(InvalidRequestError);
    expect(readdirSync(outside)).toEqual([]);
  });

  it("walks down to a directory once, yet refuses it once it became a link, and makes it again once removed", async () => {
    const dir = tempDir();
    const outside = tempDir();
    const b = new PosixBackend(dir, `file://${dir}`);
    await put(b, "run/a.txt", "a");
    // Swapped for a link after this backend's first write there: the next write is refused.
    renameSync(join(dir, "run"), join(dir, "run-moved"));
    symlinkSync(outside, join(dir, "run"));
    await expect(put(b, "run/b.txt", "b")).rejects.toBeInstanceOf(InvalidRequestError);
    expect(readdirSync(outside)).toEqual([]);
    // Removed instead (the link, then the directory made anew): the next write makes it again.
    rmSync(join(dir, "run"));
    await put(b, "run/c.txt", "c");
    expect(readdirSync(join(dir, "run"))).toEqual(["c.txt"]);
    rmSync(join(dir, "run"), { recursive: true });
    await put(b, "run/d.txt", "d");
    expect(readdirSync(join(dir, "run"))).toEqual(["d.txt"]);
  });

  it("writes a non-UTF-8 key as the original bytes", async () => {
    const dir = tempDir();
    const b = new PosixBackend(dir, `file://${dir}`);
    await put(b, "f\uF7FF.bin", "x");
    const names = readdirSync(dir, { encoding: "buffer" });
    expect(names).toEqual([Buffer.from([0x66, 0xff, 0x2e, 0x62, 0x69, 0x6e])]);
    expect(existsSync(join(dir, "f\uF7FF.bin"))).toBe(false);
  });
});
