import { describe, expect, it } from "vitest";
import { fileTypeOf } from "../../src/codec/file-type.js";

describe("a file's type from its name", () => {
  it.each([
    ["climate/t2m.nc", "netcdf"],
    ["UPPER/RUN.NC4", "netcdf"],
    ["seq/r1.fastq.gz", "fastq"],
    ["seq/r3.FQ.BZ2", "fastq"],
    ["seq/x.tar.gz", "archive"],
    ["blob.gz", "compressed"],
    ["notes.md.zst", "text"],
    ["a.unknown.gz", "compressed"],
    ["a..gz", "compressed"],
    [".fastq.gz", "compressed"],
    ["..fastq.gz", "fastq"],
    ["misc/.hidden.nc", "netcdf"],
    ["misc/.bashrc", null],
    [".nc", null],
    ["README", null],
    ["x.", null],
    [".", null],
    ["..", null],
    ["dir.nc/file", null],
    ["dir.fastq/x.gz", "compressed"],
    ["d/e.tar/.gz", null],
    ["data.unknown", null],
  ])("%s is %s", (path, type) => {
    expect(fileTypeOf(path)).toBe(type);
  });
});

/** The rule read plainly: the name split at its dots, a leading empty part (a hidden file's dot) dropped. */
function byParts(path: string): string | null {
  const parts = path.slice(path.lastIndexOf("/") + 1).split(".");
  if (parts[0] === "") parts.shift();
  if (parts.length < 2) return null;
  const last = (parts.pop() as string).toLowerCase();
  const compressed = ["gz", "bgz", "bz2", "xz", "zst", "lz4", "z"].includes(last);
  const typeOf = (ext: string) => fileTypeOf(`x.${ext}`);
  if (!compressed) return typeOf(last);
  return (parts.length >= 2 ? typeOf((parts.at(-1) as string).toLowerCase()) : null) ?? "compressed";
}

describe("the index-based reading of a name", () => {
  it("agrees with the name read part by part, on random names of dots, slashes and extensions", () => {
    const pieces = [".", ".", "/", "nc", "GZ", "fq", "tar", "x", "", "Z"];
    let seed = 7;
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed;
    };
    for (let n = 0; n < 20_000; n++) {
      const path = Array.from({ length: 1 + (next() % 7) }, () => pieces[next() % pieces.length]).join("");
      expect(fileTypeOf(path), path).toBe(byParts(path));
    }
  });
});
