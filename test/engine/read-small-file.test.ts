import { mkdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PosixBackend } from "../../src/backends/posix/posix-backend.js";
import { readSmallFile, usOf } from "../../src/engine/on-disk.js";
import { tempDir } from "../support/tmp.js";

/** A file of a fresh tree, and the version a plan would hold of it (as the scan records it). */
function plannedFile(content: string) {
  const dir = tempDir("strata-read-small-");
  const path = join(dir, "a.txt");
  writeFileSync(path, content);
  const stats = statSync(path);
  return {
    tree: new PosixBackend(dir, `file://${dir}`),
    path,
    planned: { path: "a.txt", size: stats.size, mtime_us: usOf(stats.mtimeMs) },
  };
}

describe("readSmallFile: the packer's direct read of a small member", () => {
  it("gives the planned version's bytes", () => {
    const { tree, planned } = plannedFile("hello, pack");
    const read = readSmallFile(tree, planned);
    expect(read && "data" in read ? read.data.toString() : read).toBe("hello, pack");
  });

  it("reads an empty file", () => {
    const { tree, planned } = plannedFile("");
    const read = readSmallFile(tree, planned);
    expect(read && "data" in read ? read.data.length : read).toBe(0);
  });

  it("calls a file stale whose size or mtime moved since the plan", () => {
    const rewritten = plannedFile("version 1");
    writeFileSync(rewritten.path, "version 2, longer");
    expect(readSmallFile(rewritten.tree, rewritten.planned)).toEqual({
      stale: "the file changed on disk since the plan",
    });

    const touched = plannedFile("same size");
    utimesSync(touched.path, new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect(readSmallFile(touched.tree, touched.planned)).toEqual({ stale: "the file changed on disk since the plan" });
  });

  it("leaves a symlink or a missing file to the backend's read (undefined), and a directory is stale", () => {
    const { tree, path, planned } = plannedFile("target");
    const link = join(path, "..", "link");
    symlinkSync(path, link);
    expect(readSmallFile(tree, { ...planned, path: "link" })).toBeUndefined();
    expect(readSmallFile(tree, { ...planned, path: "gone.txt" })).toBeUndefined();
    mkdirSync(join(path, "..", "sub"));
    expect(readSmallFile(tree, { ...planned, path: "sub" })).toEqual({ stale: "the path is no longer a regular file" });
  });
});
