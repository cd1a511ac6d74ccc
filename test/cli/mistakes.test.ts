import { execFileSync } from "node:child_process";
import { existsSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rates } from "../../src/cli/output.js";
import { finished, STRATA_BIN, spawnStrata, strata } from "../support/cli.js";
import { freePort } from "../support/ports.js";
import { tempDir } from "../support/tmp.js";
import { randomTree, writeTree } from "../support/trees.js";

/** A workspace with two configured locations, as the quick start sets up. */
function workspace(files: Record<string, string> = { "f1.txt": "one", "f2.txt": "two" }): string {
  const work = tempDir();
  writeTree(join(work, "data"), files);
  writeFileSync(
    join(work, "strata.yaml"),
    "locations:\n  scratch:\n    url: ./data\n  archive:\n    url: local:store\n",
  );
  return work;
}

/** Runs the CLI under a pseudo-terminal (util-linux script), as a person at a terminal sees it. */
function onTerminal(args: string[], cwd: string): string {
  const command = [process.execPath, STRATA_BIN, ...args].map((a) => `'${a}'`).join(" ");
  return execFileSync("script", ["-qfec", command, "/dev/null"], {
    cwd,
    env: { ...process.env, STRATA_CONFIG: "", STRATA_CATALOG: "" },
    encoding: "utf8",
  });
}

describe("a destination that is a typo", () => {
  it("is refused with the configured names and a suggestion; nothing is created", async () => {
    const work = workspace();
    const result = await strata(["sync", "scratch", "archiv"], { cwd: work });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/did you mean archive\?/);
    expect(result.stderr).toMatch(/archive, scratch/);
    expect(existsSync(join(work, "archiv"))).toBe(false);
  });

  it("takes a new directory when given as an explicit path", async () => {
    const work = workspace();
    const result = await strata(["sync", "scratch", "./copy"], { cwd: work });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(existsSync(join(work, "copy", "f1.txt"))).toBe(true);
  });
});

describe("a closed pipe", () => {
  it("ends the command quietly, as Unix tools do", async () => {
    const work = workspace();
    randomTree(join(work, "data"), 3000, 16);
    expect((await strata(["scan", "scratch"], { cwd: work })).code).toBe(0);
    const child = spawnStrata(["ls", "-r", "scratch"], { cwd: work });
    // The reader goes away after the first lines, as `| head` does.
    child.stdout?.once("data", () => child.stdout?.destroy());
    const result = await finished(child);
    expect(result.stderr).toBe("");
    expect(result.signal).toBeNull();
    expect(result.code).toBe(0);
  });
});

describe("missing credentials", () => {
  it("say no credentials were found and where the chain looked, naming the URL once", async () => {
    const work = tempDir();
    const port = await freePort();
    writeFileSync(
      join(work, "strata.yaml"),
      `locations:\n  cloud:\n    url: s3://some-bucket/data\n    s3:\n      endpoint: http://127.0.0.1:${port}\n`,
    );
    const env = {
      HOME: work,
      AWS_ACCESS_KEY_ID: "",
      AWS_SECRET_ACCESS_KEY: "",
      AWS_SESSION_TOKEN: "",
      AWS_PROFILE: "",
      AWS_CONFIG_FILE: join(work, "no-config"),
      AWS_SHARED_CREDENTIALS_FILE: join(work, "no-credentials"),
      AWS_EC2_METADATA_DISABLED: "true",
    };
    const result = await strata(["scan", "cloud"], { cwd: work, env });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no credentials found/);
    expect(result.stderr).toMatch(/AWS_ACCESS_KEY_ID/);
    expect(result.stderr).toMatch(/AWS_PROFILE/);
    expect(result.stderr).toMatch(/SSO/);
    expect(result.stderr).toMatch(/instance metadata/);
    expect(result.stderr).not.toMatch(/CredentialsProviderError|unreachable/);
    expect(result.stderr.split("s3://some-bucket/data")).toHaveLength(2);
  });
});

describe("--verbose", () => {
  it("prints every item a sync or verify acts on, one line each", async () => {
    const work = workspace({ "f1.txt": "one", "f2.txt": "two", "f3.txt": "three" });
    symlinkSync("f1.txt", join(work, "data", "link"));
    const first = await strata(["-v", "sync", "scratch", "archive"], { cwd: work });
    expect(first.code).toBe(0);
    for (const name of ["f1.txt", "f2.txt", "f3.txt"]) expect(first.stdout).toContain(`copied ${name}\n`);
    expect(first.stdout).toContain("skipped link (symlink)\n");

    rmSync(join(work, "data", "f2.txt"));
    const second = await strata(["-v", "sync", "scratch", "archive", "--delete", "--force"], { cwd: work });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("deleted f2.txt\n");
    expect(second.stdout).not.toMatch(/^copied /m);

    const verify = await strata(["-v", "verify", "archive"], { cwd: work });
    expect(verify.code).toBe(0);
    for (const name of ["f1.txt", "f3.txt"]) expect(verify.stdout).toContain(`verified archive:${name}\n`);
  });
});

describe("rates", () => {
  it("print in human units; a copy too short to time shows no files/s", async () => {
    expect(rates(1, 780, 1100)).toBe("in 1.1 s, 709 B/s");
    expect(rates(3, 5 * 1024 * 1024, 4000)).toBe("in 4.0 s, 1.3 MiB/s, 45 files/min");
    expect(rates(5000, 5000, 2000)).toBe("in 2.0 s, 2.4 KiB/s, 2,500 files/s");

    const work = workspace({ "only.txt": "x".repeat(780) });
    const result = await strata(["sync", "scratch", "archive"], { cwd: work });
    expect(result.code).toBe(0);
    const line = result.stdout.split("\n").find((l) => l.startsWith("Synced")) ?? "";
    expect(line).toMatch(/ \d+(\.\d)? (B|KiB)\/s/);
    expect(line).not.toMatch(/files\/s/);
    expect(result.stdout).not.toMatch(/\d\.\d{2,}/);
  });
});

describe("progress on a terminal", () => {
  it("is shown by scan, verify and restore", async () => {
    const work = workspace();
    randomTree(join(work, "data"), 400, 256 * 1024);
    expect((await strata(["sync", "scratch", "archive"], { cwd: work })).code).toBe(0);
    // The progress line rewrites itself: carriage return, clear to end of line, then counts.
    const frame = /\r\x1b\[K[\d,]+(\/[\d,]+)? (files|entries)/;
    expect(onTerminal(["scan", "scratch"], work)).toMatch(frame);
    expect(onTerminal(["verify", "archive"], work)).toMatch(frame);
    expect(onTerminal(["restore", "scratch:set-1", "--to", join(work, "back")], work)).toMatch(frame);
  });
});

describe("strata ls", () => {
  it("lists a store location from the catalog, or from the store itself", async () => {
    const work = workspace();
    const before = await strata(["ls", "archive"], { cwd: work });
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(/archive.*(empty|nothing)/);

    expect((await strata(["sync", "scratch", "archive"], { cwd: work })).code).toBe(0);
    const after = await strata(["ls", "archive"], { cwd: work });
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(/f1\.txt/);
    expect(after.stdout).toMatch(/f2\.txt/);

    // Another catalog knows nothing of the store: ls lists the store itself.
    const fresh = await strata(["--catalog", join(work, "other.db"), "ls", "archive"], { cwd: work });
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toMatch(/f1\.txt/);
  });

  it("lists a single file, says when a directory is empty, refuses a missing path", async () => {
    const work = workspace({ "f1.txt": "one", "sub/inner.txt": "x" });
    expect((await strata(["scan", "scratch"], { cwd: work })).code).toBe(0);

    const file = await strata(["ls", "scratch:f1.txt"], { cwd: work });
    expect(file.code).toBe(0);
    expect(file.stdout).toMatch(/f1\.txt/);

    const missing = await strata(["ls", "scratch:nope"], { cwd: work });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/scratch:nope/);

    rmSync(join(work, "data", "sub", "inner.txt"));
    expect((await strata(["scan", "scratch"], { cwd: work })).code).toBe(0);
    const empty = await strata(["ls", "scratch:sub"], { cwd: work });
    expect(empty.code).toBe(0);
    expect(empty.stdout).toMatch(/empty/);
  });
});
