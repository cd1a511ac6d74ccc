import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { type FileHandle, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { makeTempDir } from "./temp-dirs.js";

/** Bytes a spool keeps in memory before it moves them to a temp file. */
const IN_MEMORY_BYTES = 8 * 1024 * 1024;
/**
 * Bytes made before their size is known (compressed frames), held until they are written in one
 * go: object stores are told an object's size before its first byte (one PUT, or the part plan of
 * a multipart upload). Small objects stay in memory; larger ones go to a temp file under TMPDIR,
 * so memory stays flat. Hashes what it holds, so the store can be asked to check those bytes.
 */
export class Spool {
  private chunks: Buffer[] = [];
  private file: { dir: string; path: string; handle: FileHandle } | undefined;
  private readonly hash = createHash("sha256");
  size = 0;

  async append(data: Buffer): Promise<void> {
    this.hash.update(data);
    this.size += data.length;
    if (!this.file && this.size <= IN_MEMORY_BYTES) {
      this.chunks.push(data);
      return;
    }
    if (!this.file) {
      const dir = await makeTempDir("spool");
      const path = join(dir, "frames");
      const handle = await open(path, "w", 0o600).catch(async (err: unknown) => {
        await rm(dir, { recursive: true, force: true });
        throw err;
      });
      this.file = { dir, path, handle };
      for (const held of this.chunks) await this.file.handle.write(held);
      this.chunks = [];
    }
    await this.file.handle.write(data);
  }

  /** The SHA-256 of everything appended; call once, when done appending. */
  sha256(): string {
    return this.hash.digest("hex");
  }

  /** Everything appended, from the start. */
  async reader(): Promise<Readable> {
    if (!this.file) return Readable.from(this.chunks, { objectMode: false });
    await this.file.handle.close();
    return createReadStream(this.file.path);
  }

  /** Frees the memory and removes the temp file, whatever state the write left. */
  async dispose(): Promise<void> {
    this.chunks = [];
    if (!this.file) return;
    await this.file.handle.close().catch(() => undefined);
    await rm(this.file.dir, { recursive: true, force: true });
  }
}
