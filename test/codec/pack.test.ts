import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { codecNamed } from "../../src/codec/codec.js";
import { memberContent, PackFileWriter, PackMemberError } from "../../src/codec/pack/pack-file.js";
import { parsePackIndex } from "../../src/codec/pack/pack-index.js";
import { parseTarMember, TarFormatError, tarMember } from "../../src/codec/pack/tar.js";
import { tempDir } from "../support/tmp.js";

/** Issue 15: a pack member's tar records read back exactly, and a hostile member is refused with its name. */

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
const attrs = { mtimeUs: 1_700_000_000_123_456, mode: 0o640, uid: 1001, gid: 1002 };

describe("pack members", () => {
  for (const codec of ["none", "zstd"] as const) {
    it(`${codec}: a pack of thousands of small members has each one at its recorded offset, and the whole pack's SHA-256`, async () => {
      // The writer owns the directory it is given, and removes it on discard.
      const writer = await PackFileWriter.create(codec, mkdtempSync(join(tempDir(), "pack-")));
      try {
        const contents = Array.from({ length: 3000 }, (_, i) => randomBytes(100 + ((i * 7919) % 2000)));
        for (const [i, data] of contents.entries()) {
          const path = `d/m-${i}`;
          const input = { path, pathBytes: Buffer.from(path), ...attrs, data };
          await writer.append(await writer.encode(input, sha256(data)));
        }
        const built = await writer.finish();
        const pack = readFileSync(built.file);
        expect(pack.length).toBe(built.size);
        expect(sha256(pack)).toBe(built.sha256);
        for (const [i, member] of built.members.entries()) {
          const where = { pack: "p", path: member.path, pathBytes: Buffer.from(member.path) };
          const frame = pack.subarray(member.offset, member.offset + member.length);
          const read = await memberContent(where, frame, { codec, size: member.size, sha256: member.sha256 });
          expect(read.data.equals(contents[i] as Buffer), member.path).toBe(true);
        }
        const tarInput = codec === "zstd" ? execFileSync("zstd", ["-dc", built.file], { maxBuffer: 64 << 20 }) : pack;
        const listed = execFileSync("tar", ["-t"], { input: tarInput, maxBuffer: 64 << 20 })
          .toString()
          .trim()
          .split("\n");
        expect(listed).toEqual(built.members.map((m) => m.path));
      } finally {
        await writer.discard();
      }
    });
  }

  it("round-trips long and non-UTF-8 names, exact mtime, mode and owner", () => {
    for (const path of [Buffer.from(`${"d/".repeat(120)}f.txt`), Buffer.from([0x72, 0xe9, 0x73, 0x2e, 0x64])]) {
      const data = Buffer.from("content");
      const parsed = parseTarMember(tarMember({ path, ...attrs }, data));
      expect(parsed.path.equals(path)).toBe(true);
      expect(parsed).toMatchObject({ ...attrs, size: data.length });
      const records = tarMember({ path, ...attrs }, data);
      expect(records.subarray(parsed.dataOffset, parsed.dataOffset + parsed.size).equals(data)).toBe(true);
    }
  });

  it("refuses a member whose tar name is not the catalog's path: ../x, absolute, NUL", async () => {
    const data = Buffer.from("evil");
    for (const name of ["../x", "/etc/passwd", "a\0b"]) {
      const frame = await codecNamed("gzip").compress(tarMember({ path: Buffer.from(name), ...attrs }, data));
      const where = { pack: "p.tar.gz", path: "x", pathBytes: Buffer.from("x") };
      const read = memberContent(where, frame, { codec: "gzip", size: 4, sha256: sha256(data) });
      await expect(read).rejects.toThrow(PackMemberError);
      await expect(read).rejects.toThrow('pack p.tar.gz, member "x": the pack holds');
    }
  });

  it("refuses a truncated frame and bytes that do not hash right, naming pack and member", async () => {
    const data = Buffer.from("the member's bytes");
    const records = tarMember({ path: Buffer.from("m"), ...attrs }, data);
    const where = { pack: "p.tar", path: "m", pathBytes: Buffer.from("m") };
    const expected = { codec: "none", size: data.length, sha256: sha256(data) };
    await expect(memberContent(where, records.subarray(0, 1000), expected)).rejects.toThrow(
      'pack p.tar, member "m": truncated',
    );
    await expect(memberContent(where, records, { ...expected, sha256: "0".repeat(64) })).rejects.toThrow(
      "does not match the recorded",
    );
    expect((await memberContent(where, records, expected)).data.equals(data)).toBe(true);
    expect(() => parseTarMember(Buffer.alloc(512, 1))).toThrow(TarFormatError);
  });

  it("refuses an index whose member lies past the pack's end, or whose count disagrees", () => {
    const header = { format: "strata-pack-index", version: 1, pack: "p", origin: "file:///t", codec: "none" };
    const member = {
      path: "a",
      offset: 0,
      length: 1024,
      size: 1,
      sha256: "a".repeat(64),
      mtimeUs: 0,
      mode: 420,
      uid: 0,
      gid: 0,
    };
    const text = (size: number, members: number) =>
      `${JSON.stringify({ ...header, size, sha256: "b".repeat(64), members })}\n${JSON.stringify(member)}\n`;
    expect(() => parsePackIndex("p.index.jsonl", text(512, 1))).toThrow('member "a" lies past the end');
    expect(() => parsePackIndex("p.index.jsonl", text(2048, 2))).toThrow("lists 1 members, its header says 2");
    expect(parsePackIndex("p.index.jsonl", text(2048, 1)).members).toHaveLength(1);
  });
});
