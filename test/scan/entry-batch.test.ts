import { describe, expect, it } from "vitest";
import { FILE_TYPES, fileTypeOf } from "../../src/codec/file-type.js";
import { EntryBatchBuilder, type ScannedEntry, unpackBatch } from "../../src/scan/entry-batch.js";

const entry = (path: string, kind: ScannedEntry["kind"], i: number): ScannedEntry => ({
  path,
  kind,
  size: i * 1000,
  mtimeUs: 1_700_000_000_000_000 + i,
  atimeUs: 1_700_000_000_000_001 + i,
  ctimeUs: 1_700_000_000_000_002 + i,
  mode: 0o100644,
  uid: 1000 + i,
  gid: 100 + i,
  inode: 5000 + i,
});

describe("entries packed for the catalog writer", () => {
  it("arrive as they were sent, each file with the type its name gives, others with none", () => {
    const names = [
      "a/t2m.nc",
      "reads.fastq.gz",
      "x.gz",
      "notes.TXT",
      ".bashrc",
      "README",
      "data.unknownext",
      "d/c.csv",
    ];
    const sent = [
      ...names.map((name, i) => entry(name, "file", i)),
      entry("a", "dir", 90),
      entry("a/link.nc", "symlink", 91),
    ];
    const builder = new EntryBatchBuilder(16);
    for (const e of sent) builder.add(e);
    const received = unpackBatch(builder.take());
    expect(received).toEqual(sent.map((e) => ({ ...e, fileType: e.kind === "file" ? fileTypeOf(e.path) : null })));
    // Every type a name can give travels, "compressed" among them.
    const types = new Set(received.map((e) => e.fileType));
    for (const type of ["netcdf", "fastq", "compressed", "text", "csv", null]) expect(types).toContain(type);
    expect(FILE_TYPES).toContain("compressed");
  });
});
