/**
 * The tar records of a pack, written and read here rather than with a library: a pack member must
 * be a self-contained run of bytes whose offset we know (tar-stream hands out one stream, not
 * offsets), and its name must be the exact bytes of the POSIX name, which may not be UTF-8
 * (tar-stream, like most libraries, takes names as strings and writes them as UTF-8). Every
 * member is a pax extended header ('x', carrying path, size, mtime, uid and gid exactly) followed
 * by a ustar header and the data padded to 512 bytes, as GNU tar writes with --format=pax; so
 * `tar -x` reads a pack, and one member's bytes are one ranged read.
 */

const BLOCK = 512;
/** The longest padding a record takes, read-only. */
const ZEROS = Buffer.alloc(BLOCK);
/** The largest value the 11 octal digits of a ustar numeric field hold; pax carries the exact one. */
const OCTAL_MAX = 0o77777777777;

/** What a pack member's tar records say about it. */
export interface TarMember {
  /** The exact bytes of the member's path, relative, as `tar -x` creates it. */
  path: Buffer;
  mtimeUs: number;
  mode: number;
  uid: number;
  gid: number;
}

/** The two zero blocks that end a tar archive. */
export const TAR_END: Buffer = Buffer.alloc(2 * BLOCK);

/** A member's whole records: pax header, ustar header, data, padding. */
export function tarMember(member: TarMember, data: Buffer): Buffer {
  const pax = paxRecords([
    ["path", member.path],
    ["size", Buffer.from(String(data.length))],
    ["mtime", Buffer.from(paxTime(member.mtimeUs))],
    ["uid", Buffer.from(String(member.uid))],
    ["gid", Buffer.from(String(member.gid))],
  ]);
  const paxHeader = ustarHeader({
    name: Buffer.from(
      `PaxHeaders/${member.path
        .subarray(-80)
        .toString("latin1")
        .replace(/[^\x20-\x7e]/g, "_")}`,
    ),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: pax.length,
    mtimeS: Math.floor(member.mtimeUs / 1e6),
    type: "x",
  });
  const header = ustarHeader({
    // The pax path is the name; this one only serves a reader that ignores pax records.
    name: member.path.length <= 100 ? member.path : member.path.subarray(0, 100),
    mode: member.mode & 0o7777,
    uid: member.uid,
    gid: member.gid,
    size: data.length,
    mtimeS: Math.floor(member.mtimeUs / 1e6),
    type: "0",
  });
  // One copy of the data, not two: its padding is a part of its own instead of a padded copy.
  const parts = [paxHeader, padded(pax), header, data, ZEROS.subarray(0, roundUp(data.length) - data.length)];
  return Buffer.concat(parts, paxHeader.length + roundUp(pax.length) + header.length + roundUp(data.length));
}

/** A member's records parsed back: its attributes and where its data lies in `records`. */
export interface ParsedMember extends TarMember {
  dataOffset: number;
  size: number;
}

/** Why a run of bytes is not one well-formed pack member. */
export class TarFormatError extends Error {
  override name = "TarFormatError";
}

/** Parses one member's records (as `tarMember` writes them, or any pax/ustar regular file). */
export function parseTarMember(records: Buffer): ParsedMember {
  let offset = 0;
  let pax = new Map<string, Buffer>();
  for (;;) {
    const header = records.subarray(offset, offset + BLOCK);
    if (header.length < BLOCK) throw new TarFormatError("truncated: a header ends early");
    checkChecksum(header);
    const type = String.fromCharCode(header[156] ?? 0);
    const size = octal(header, 124, 12);
    const body = offset + BLOCK;
    if (type === "x") {
      if (body + size > records.length) throw new TarFormatError("truncated: a pax header ends early");
      pax = parsePax(records.subarray(body, body + size));
      offset = body + roundUp(size);
      continue;
    }
    if (type !== "0" && type !== "\0") throw new TarFormatError(`not a regular file (type ${JSON.stringify(type)})`);
    const dataSize = pax.has("size") ? paxInteger(pax, "size") : size;
    if (body + dataSize > records.length) throw new TarFormatError("truncated: the data ends early");
    const path = pax.get("path") ?? ustarName(header);
    const mtimeUs = pax.has("mtime") ? paxTimeUs(pax.get("mtime") as Buffer) : octal(header, 136, 12) * 1e6;
    return {
      path,
      size: dataSize,
      dataOffset: body,
      mode: octal(header, 100, 8),
      uid: pax.has("uid") ? paxInteger(pax, "uid") : octal(header, 108, 8),
      gid: pax.has("gid") ? paxInteger(pax, "gid") : octal(header, 116, 8),
      mtimeUs,
    };
  }
}

interface UstarFields {
  name: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeS: number;
  type: "0" | "x";
}

function ustarHeader(fields: UstarFields): Buffer {
  const header = Buffer.alloc(BLOCK);
  fields.name.copy(header, 0, 0, Math.min(fields.name.length, 100));
  writeOctal(header, 100, 8, fields.mode);
  writeOctal(header, 108, 8, Math.min(fields.uid, 0o7777777));
  writeOctal(header, 116, 8, Math.min(fields.gid, 0o7777777));
  writeOctal(header, 124, 12, Math.min(fields.size, OCTAL_MAX));
  writeOctal(header, 136, 12, Math.min(Math.max(fields.mtimeS, 0), OCTAL_MAX));
  header.write(fields.type, 156, "latin1");
  header.write("ustar\u000000", 257, "latin1");
  // The checksum is summed with its own field as spaces.
  header.fill(0x20, 148, 156);
  let sum = 0;
  // An indexed loop: a Buffer's iterator costs about ten times as much, twice per member.
  for (let i = 0; i < BLOCK; i++) sum += header[i] as number;
  header.write(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, "latin1");
  return header;
}

function checkChecksum(header: Buffer): void {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] as number);
  if (sum !== octal(header, 148, 8)) throw new TarFormatError("bad header checksum");
}

function writeOctal(header: Buffer, at: number, width: number, value: number): void {
  header.write(
    `${Math.trunc(value)
      .toString(8)
      .padStart(width - 1, "0")}\u0000`,
    at,
    "latin1",
  );
}

function octal(header: Buffer, at: number, width: number): number {
  const text = header
    .subarray(at, at + width)
    .toString("latin1")
    .replace(/[\0 ]+$/, "")
    .trim();
  if (!/^[0-7]*$/.test(text)) throw new TarFormatError(`bad numeric field at byte ${at}`);
  return text === "" ? 0 : Number.parseInt(text, 8);
}

function ustarName(header: Buffer): Buffer {
  const field = (at: number, width: number) => {
    const bytes = header.subarray(at, at + width);
    const end = bytes.indexOf(0);
    return end < 0 ? bytes : bytes.subarray(0, end);
  };
  const prefix = field(345, 155);
  const name = field(0, 100);
  return prefix.length > 0 ? Buffer.concat([prefix, Buffer.from("/"), name]) : Buffer.from(name);
}

/** pax records: "LEN key=value\n", LEN counting the whole record, its own digits included. */
function paxRecords(entries: [string, Buffer][]): Buffer {
  return Buffer.concat(
    entries.map(([key, value]) => {
      const rest = ` ${key}=`.length + value.length + 1;
      let length = rest + String(rest).length;
      if (String(length).length !== String(rest).length) length = rest + String(length).length;
      return Buffer.concat([Buffer.from(`${length} ${key}=`), value, Buffer.from("\n")]);
    }),
  );
}

function parsePax(body: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    const length = Number.parseInt(body.subarray(at, space).toString("latin1"), 10);
    if (space < 0 || !Number.isSafeInteger(length) || length <= 0 || at + length > body.length) {
      throw new TarFormatError("bad pax record");
    }
    const record = body.subarray(space + 1, at + length - 1);
    const equals = record.indexOf(0x3d);
    if (equals < 0) throw new TarFormatError("bad pax record");
    records.set(record.subarray(0, equals).toString("latin1"), Buffer.from(record.subarray(equals + 1)));
    at += length;
  }
  return records;
}

function paxInteger(pax: Map<string, Buffer>, key: string): number {
  const text = (pax.get(key) as Buffer).toString("latin1");
  if (!/^\d+$/.test(text)) throw new TarFormatError(`bad pax ${key}`);
  return Number(text);
}

/** Seconds with six decimals: the exact microseconds, as GNU tar reads them. */
function paxTime(us: number): string {
  const sign = us < 0 ? "-" : "";
  const abs = Math.abs(us);
  return `${sign}${Math.floor(abs / 1e6)}.${String(abs % 1e6).padStart(6, "0")}`;
}

function paxTimeUs(value: Buffer): number {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(value.toString("latin1"));
  if (!match) throw new TarFormatError("bad pax mtime");
  const micros = (match[3] ?? "").padEnd(6, "0").slice(0, 6);
  const us = Number(match[2]) * 1e6 + Number(micros);
  return match[1] === "-" ? -us : us;
}

function roundUp(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

function padded(data: Buffer): Buffer {
  const pad = roundUp(data.length) - data.length;
  return pad === 0 ? data : Buffer.concat([data, Buffer.alloc(pad)]);
}
