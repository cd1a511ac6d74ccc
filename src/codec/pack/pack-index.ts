import * as z from "zod";
import type { CodecName } from "../codec.js";

/**
 * The index object written beside each pack (`<pack key>.index.jsonl`, docs/formats.md): one JSON
 * line describing the pack, then one line per member, so a lost catalog is rebuilt from the
 * stores alone and one member is found without reading the pack. Read as untrusted input: every
 * line is checked against this schema, and each member against the pack's bytes before use.
 */

export const PACK_INDEX_FORMAT = "strata-pack-index";
export const PACK_INDEX_SUFFIX = ".index.jsonl";

const codecName = z.enum(["none", "gzip", "zstd", "lz4"]) satisfies z.ZodType<CodecName>;
const count = z.number().int().nonnegative();
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

const packHeaderSchema = z.object({
  format: z.literal(PACK_INDEX_FORMAT),
  version: z.literal(1),
  /** The pack's key at its location. */
  pack: z.string().min(1),
  /** The URL of the location its members were copied from: their paths are paths there. */
  origin: z.string().min(1),
  codec: codecName,
  /** Bytes of the pack object, and their SHA-256. */
  size: count,
  sha256,
  members: count,
});

const packMemberSchema = z.object({
  /** The file's path as a key (the reversible name encoding of docs/key-encoding.md). */
  path: z.string().min(1),
  /** Where the member's frame (or, raw, its tar records) lies in the pack. */
  offset: count,
  length: z.number().int().positive(),
  /** The file's own bytes, and their SHA-256 (the logical content). */
  size: count,
  sha256,
  mtimeUs: z.number().int(),
  mode: count,
  uid: count,
  gid: count,
});

export type PackHeader = z.infer<typeof packHeaderSchema>;
export type PackMember = z.infer<typeof packMemberSchema>;

export function packIndexKey(packKey: string): string {
  return `${packKey}${PACK_INDEX_SUFFIX}`;
}

/** The index's text: the header line, then one line per member. */
export function encodePackIndex(header: PackHeader, members: Iterable<PackMember>): string {
  const lines = [JSON.stringify(header)];
  for (const member of members) lines.push(JSON.stringify(member));
  return `${lines.join("\n")}\n`;
}

/** Why an index object cannot be used, naming the line. */
export class PackIndexError extends Error {
  override name = "PackIndexError";
}

/** Parses an index object; throws PackIndexError naming the index and the line at fault. */
export function parsePackIndex(indexKey: string, text: string): { header: PackHeader; members: PackMember[] } {
  const lines = text.split("\n").filter((line) => line !== "");
  const parseLine = <T>(schema: z.ZodType<T>, at: number): T => {
    let value: unknown;
    try {
      value = JSON.parse(lines[at] as string);
    } catch {
      throw new PackIndexError(`${indexKey}: line ${at + 1} is not JSON`);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      throw new PackIndexError(`${indexKey}: line ${at + 1}: ${z.prettifyError(parsed.error).replace(/\n/g, "; ")}`);
    }
    return parsed.data;
  };
  if (lines.length === 0) throw new PackIndexError(`${indexKey}: empty`);
  const header = parseLine(packHeaderSchema, 0);
  const members = lines.slice(1).map((_, i) => parseLine(packMemberSchema, i + 1));
  if (members.length !== header.members) {
    throw new PackIndexError(`${indexKey}: lists ${members.length} members, its header says ${header.members}`);
  }
  for (const member of members) {
    if (member.offset + member.length > header.size) {
      throw new PackIndexError(
        `${indexKey}: member ${JSON.stringify(member.path)} lies past the end of the pack (${header.size} bytes)`,
      );
    }
  }
  return { header, members };
}
