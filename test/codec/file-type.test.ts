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

/**
 * The rule read plainly, as `fileTypeOf` was first written: the lowercased name split at its
 * dots, a leading empty part (a hidden file's dot) dropped. An extension's family is looked up
 * through `fileTypeOf` of a one-extension name, which the table above pins.
 */
function byParts(path: string): string | null {
  const name = path.slice(path.lastIndexOf("/") + 1).toLowerCase();
  const parts = name.split(".");
  if (parts[0] === "") parts.shift();
  if (parts.length < 2) return null;
  const last = parts.pop() as string;
  const familyOf = (ext: string) => fileTypeOf(`x.${ext}`) ?? undefined;
  if (!["gz", "bgz", "bz2", "xz", "zst", "lz4", "z"].includes(last)) return familyOf(last) ?? null;
  const inner = parts.length >= 2 ? familyOf(parts.at(-1) as string) : undefined;
  return inner ?? "compressed";
}

describe("the index-based reading of a name", () => {
  it("agrees with the name read part by part, on random names of dots, slashes and extensions", () => {
    // Non-ASCII letters whose lowercase differs in length or by context: İ, Σ, the Kelvin sign.
    const pieces = [".", ".", "/", "nc", "GZ", "fq", "tar", "x", "", "Z", "\u0130", "\u03a3", "\u212a"];
    let seed = 7;
    const next = () => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return seed >>> 8;
    };
    const picked = new Set<string>();
    for (let n = 0; n < 20_000; n++) {
      const chosen = Array.from({ length: 1 + (next() % 7) }, () => pieces[next() % pieces.length] as string);
      for (const piece of chosen) picked.add(piece);
      const path = chosen.join("");
      expect(fileTypeOf(path), path).toBe(byParts(path));
    }
    expect(picked.size).toBe(new Set(pieces).size);
  });
});
