import { createHash, type Hash } from "node:crypto";
import { type FileHandle, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { type Codec, codecNamed } from "../codec.js";
import type { PackMember } from "./pack-index.js";
import { parseTarMember, TAR_END, type TarMember, tarMember } from "./tar.js";

/** One file to add to a pack: its key (the catalog's path), attributes and content. */
export interface MemberInput {
  path: string;
  pathBytes: Buffer;
  mtimeUs: number;
  mode: number;
  uid: number;
  gid: number;
  data: Buffer;
}

/** One member's frame and what the index says of it, but where it lies. */
export interface EncodedMember {
  frame: Buffer;
  member: Omit<PackMember, "offset" | "length">;
}

/** A pack built in a local temp file, ready to be written to a store. */
export interface BuiltPack {
  file: string;
  size: number;
  sha256: string;
  codec: Codec["name"];
  members: PackMember[];
}

/** Frames are written to the pack's temp file in runs of about this many bytes: a small member costs no write call of its own. */
const WRITE_BATCH_BYTES = 1024 * 1024;

/**
 * Builds one pack in a temp file, member by member: each member's tar records are one frame of
 * the codec (or raw), so the pack is one valid tar (compressed) stream and each member one ranged
 * read. A temp file rather than memory: a pack is as large as its target size, and a store is
 * told an object's size before its bytes.
 */
export class PackFileWriter {
  /** Bytes of the pack so far, those still waiting to be written included. */
  private offset = 0;
  private readonly hash: Hash = createHash("sha256");
  private readonly members: PackMember[] = [];
  /** Frames not yet on disk: written together, one call per MiB rather than one per member. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  private constructor(
    private readonly dir: string,
    private readonly handle: FileHandle,
    private readonly codec: Codec,
  ) {}

  /** A pack written into `dir`, a temp dir the writer owns from here on (`discard` removes it). */
  static async create(codecName: Codec["name"], dir: string): Promise<PackFileWriter> {
    try {
      const codec = codecNamed(codecName);
      return new PackFileWriter(dir, await open(join(dir, "pack"), "w"), codec);
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * A member's frame, ready to append: made apart from `append` so several are read and
   * compressed at once while the pack is written in order.
   */
  async encode(input: MemberInput, sha256: string): Promise<EncodedMember> {
    const { data, pathBytes, mtimeUs, mode, uid, gid } = input;
    const frame = await this.codec.compress(tarMember({ path: pathBytes, mtimeUs, mode, uid, gid }, data));
    return { frame, member: { path: input.path, size: data.length, sha256, mtimeUs, mode: mode & 0o7777, uid, gid } };
  }

  async append({ frame, member }: EncodedMember): Promise<PackMember> {
    const placed: PackMember = { ...member, offset: this.offset, length: frame.length };
    await this.write(frame);
    this.members.push(placed);
    return placed;
  }

  /** Ends the tar stream and closes the file; the caller removes it with `discard`. */
  async finish(): Promise<BuiltPack> {
    await this.write(await this.codec.compress(TAR_END));
    await this.flushPending();
    await this.handle.close();
    return {
      file: join(this.dir, "pack"),
      size: this.offset,
      sha256: this.hash.digest("hex"),
      codec: this.codec.name,
      members: this.members,
    };
  }

  async discard(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }

  private async write(bytes: Buffer): Promise<void> {
    this.hash.update(bytes);
    this.offset += bytes.length;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= WRITE_BATCH_BYTES) await this.flushPending();
  }

  /** Writes the pending frames with one gathered write (a copy into one batch cost more than the write). */
  private async flushPending(): Promise<void> {
    let buffers = this.pending;
    let position = this.offset - this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    while (buffers.length > 0) {
      const { bytesWritten } = await this.handle.writev(buffers, position);
      if (bytesWritten === 0) throw new Error(`writing the pack's temp file: no byte written at ${position}`);
      position += bytesWritten;
      buffers = unwritten(buffers, bytesWritten);
    }
  }
}

/** What is left of `buffers` once their first `written` bytes are written (a short write, or more than IOV_MAX buffers). */
function unwritten(buffers: Buffer[], written: number): Buffer[] {
  let skip = written;
  let i = 0;
  while (i < buffers.length && skip >= (buffers[i] as Buffer).length) skip -= (buffers[i++] as Buffer).length;
  const rest = buffers.slice(i);
  if (rest.length > 0 && skip > 0) rest[0] = (rest[0] as Buffer).subarray(skip);
  return rest;
}

/** Why a member read from a pack cannot be trusted, naming the pack and the member. */
export class PackMemberError extends Error {
  override name = "PackMemberError";
}

/**
 * A member's content from the bytes of its frame (one ranged read), checked against what the
 * catalog or index says of it: the tar records name this very path (or another name
 * `acceptsName` allows, holding this very content: a member deduplication shares), hold `size`
 * bytes, and the bytes hash to `sha256`. Anything else, a truncated frame included, throws
 * PackMemberError.
 */
export async function memberContent(
  where: { pack: string; path: string; pathBytes: Buffer; acceptsName?: (name: Buffer) => boolean },
  frame: Buffer,
  expected: { codec: string; size: number; sha256: string },
): Promise<{ data: Buffer; tar: TarMember }> {
  const fail = (why: string) => new PackMemberError(`pack ${where.pack}, member ${JSON.stringify(where.path)}: ${why}`);
  let records: Buffer;
  try {
    records = await codecNamed(expected.codec).decompress(frame);
  } catch (err) {
    throw fail(`cannot be decompressed (${expected.codec}): ${(err as Error).message}`);
  }
  let parsed: ReturnType<typeof parseTarMember>;
  try {
    parsed = parseTarMember(records);
  } catch (err) {
    throw fail((err as Error).message);
  }
  const data = records.subarray(parsed.dataOffset, parsed.dataOffset + parsed.size);
  const sha256 = createHash("sha256").update(data).digest("hex");
  // Another name with this very content, where the caller accepts that name, is a member shared by
  // deduplication (the first writer's name is in the tar records); with other content the catalog
  // points at another member.
  const sharedMember =
    parsed.size === expected.size && sha256 === expected.sha256 && (where.acceptsName?.(parsed.path) ?? false);
  if (!parsed.path.equals(where.pathBytes) && !sharedMember) {
    throw fail(`the pack holds ${JSON.stringify(parsed.path.toString("utf8"))} at that offset`);
  }
  if (parsed.size !== expected.size) throw fail(`holds ${parsed.size} bytes, ${expected.size} expected`);
  if (sha256 !== expected.sha256) throw fail(`SHA-256 ${sha256} does not match the recorded ${expected.sha256}`);
  return { data, tar: parsed };
}
