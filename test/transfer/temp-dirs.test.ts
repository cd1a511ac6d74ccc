import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, utimesSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeTempDir } from "../../src/transfer/temp-dirs.js";
import { tmpdirPerTest } from "../support/tmp.js";

/*
 * Temp dirs of packs and spools carry their maker's host and pid: a process killed while it held
 * one leaves it, and the next process's first temp dir in that TMPDIR removes it, never a running
 * process's nor another host's (until a week old).
 */

const tmpdir = tmpdirPerTest("strata-tempdirs-test-");

/** The pid of a process that ran and is gone. */
const deadPid = () => spawnSync(process.execPath, ["-e", "0"]).pid as number;

function made(...names: string[]): string[] {
  const dirs = names.map((name) => join(tmpdir(), name));
  for (const dir of dirs) mkdirSync(dir);
  return dirs;
}

describe("temp dirs of packs and spools", () => {
  it("are named for their host and process, and the first one made removes a dead process's", async () => {
    const host = hostname();
    const [deadPack, deadSpool, oldSpool, alivePack, otherHost, notOurs] = made(
      `strata-pack-${host}~${deadPid()}~Ab12Cd`,
      `strata-spool-${host}~${deadPid()}~Ef34Gh`,
      `strata-spool-${deadPid()}-abc123`,
      `strata-pack-${host}~${process.ppid}~Ij56Kl`,
      `strata-pack-elsewhere.example~${deadPid()}~Mn78Op`,
      "strata-packs-not-a-temp-dir",
    );
    const dir = await makeTempDir("pack");
    expect(dir.startsWith(join(tmpdir(), `strata-pack-${host}~${process.pid}~`))).toBe(true);
    for (const gone of [deadPack, deadSpool, oldSpool]) expect(existsSync(gone as string), gone).toBe(false);
    for (const kept of [alivePack, otherHost, notOurs]) expect(existsSync(kept as string), kept).toBe(true);
    expect(existsSync(dir)).toBe(true);
  });

  it("take another host's as abandoned once a week old", async () => {
    const [old, young] = made(`strata-spool-elsewhere.example~1~Qr90St`, `strata-spool-elsewhere.example~2~Uv12Wx`);
    const eightDaysAgo = Date.now() / 1000 - 8 * 86_400;
    utimesSync(old as string, eightDaysAgo, eightDaysAgo);
    await makeTempDir("spool");
    expect(existsSync(old as string)).toBe(false);
    expect(existsSync(young as string)).toBe(true);
  });

  it("keep a running process's of this host however old, and names Strata does not make", async () => {
    const host = hostname();
    const [own, running, notOurs, lookalike] = made(
      `strata-pack-${host}~${process.pid}~Yz34Ab`,
      `strata-spool-${host}~${process.ppid}~Cd56Ef`,
      "strata-pack-notes",
      "strata-pack-gc-Gh78Ij",
    );
    const eightDaysAgo = Date.now() / 1000 - 8 * 86_400;
    for (const dir of [own, running, notOurs, lookalike]) utimesSync(dir as string, eightDaysAgo, eightDaysAgo);
    await makeTempDir("pack");
    for (const kept of [own, running, notOurs, lookalike]) expect(existsSync(kept as string), kept).toBe(true);
  });

  it("take an unsigned pack of an earlier release as abandoned once a week old", async () => {
    const [old, young] = made("strata-pack-Kl90Mn", "strata-pack-Op12Qr");
    const eightDaysAgo = Date.now() / 1000 - 8 * 86_400;
    utimesSync(old as string, eightDaysAgo, eightDaysAgo);
    await makeTempDir("spool");
    expect(existsSync(old as string)).toBe(false);
    expect(existsSync(young as string)).toBe(true);
    expect(readdirSync(tmpdir()).filter((name) => name.startsWith("strata-spool-"))).toHaveLength(1);
  });
});
