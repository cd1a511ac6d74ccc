import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { type FileHandle, open, rename, rm, stat, writeFile } from "node:fs/promises";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { OrderedDigest } from "../codec/worker-pool.js";
import {
  type ByteRange,
  IntegrityError,
  type RangeSink,
  TransientError,
  type UploadJournal,
  type WriteInfo,
} from "./backend.js";
import { HashingStream, withWholeBody } from "./bodies.js";
import type { QuickFiles } from "./quick-files.js";

/** What a streamed write to a file holds in memory at most: a few stream buffers. */
export const STREAM_BUFFER = 256 * 1024;

/**
 * Below this size an object is fetched in one stream: ranged reads would cost more requests than
 * they save in time. Transfers and the budget estimate below read the same number.
 */
export const RANGED_WRITE_MIN = 64 * 1024 * 1024;

/** The least a hashing step takes, but the last: a few MiB, so a 1 GiB file takes a few hundred messages. */
const HASH_STEP_MIN = 4 * 1024 * 1024;

/** The buffer of the hashing thread that reads written bytes back (codec/worker-thread.ts). */
const HASH_READ_BUFFER = 1024 * 1024;

export interface WrittenFile {
  sha256: string;
  size: number;
}

/**
 * Bytes held in memory while writing a temp file of `size` bytes: stream buffers for one body,
 * or, in ranges, one per stream and the read-back buffer of the hash.
 */
export function tempFileBuffer(size: number, streams = 1): number {
  if (streams > 1 && size >= RANGED_WRITE_MIN) return streams * STREAM_BUFFER + HASH_READ_BUFFER;
  return Math.min(size, STREAM_BUFFER);
}

/**
 * Writes `body` as `tempPath`, hashing what is written, and removes the temp file if anything
 * fails. The caller renames it into place, so a reader never sees half a file. A body of at most
 * one stream buffer is taken whole and written at once (on the calling thread while `quick` says
 * the tree is quick); a larger one streams.
 */
export async function writeTempFile(
  tempPath: string | Buffer,
  body: Readable,
  expectedSize: number,
  quick?: QuickFiles,
): Promise<WrittenFile> {
  const sizeError = (received: number | "more") => new Error(`expected ${expectedSize} bytes, received ${received}`);
  try {
    if (quick && expectedSize <= STREAM_BUFFER) {
      return await withWholeBody(body, expectedSize, sizeError, async (data) => {
        if (!quick.create(tempPath, data)) await writeFile(tempPath, data, { flag: "wx" });
        return { sha256: createHash("sha256").update(data).digest("hex"), size: data.length };
      });
    }
    const hashing = new HashingStream();
    await pipeline(body, hashing, createWriteStream(tempPath, { flags: "wx" }));
    const written = hashing.digest();
    if (written.size !== expectedSize) throw sizeError(written.size);
    return written;
  } catch (err) {
    await rm(tempPath, { force: true });
    throw err;
  }
}

/**
 * A ranged write's temp file that outlives a failed or killed write of one source version: the
 * upload journal names it (its upload id is the file's name) and lists the ranges known whole.
 */
export interface ResumableTemp {
  path: string | Buffer;
  /** Ranges an earlier write of this version left whole in the file. */
  stored: ByteRange[];
  journal: UploadJournal;
  rangeSize: number;
  sourceVersion: string;
}

/**
 * The temp file a resumable ranged write goes on with: the journaled one of this source version
 * when it is still there at full size, else a new one; either way named `freshName` and
 * journaled under that name (an older file is removed). Undefined for a write that is not
 * resumable. `pathOf` maps a name to its path, and answers undefined for a name that is not one
 * of the backend's temp names (the journal is read from the catalog).
 */
export async function resumableTemp(
  info: WriteInfo,
  pathOf: (name: string) => string | Buffer | undefined,
  freshName: string,
): Promise<ResumableTemp | undefined> {
  const { journal, resumable } = info;
  const path = pathOf(freshName);
  if (!journal || !resumable || !path) return undefined;
  const { rangeSize, sourceVersion } = resumable;
  const earlier = await journal.load();
  const earlierPath = earlier && pathOf(earlier.uploadId);
  const kept = earlier?.partSize === rangeSize ? earlier.parts.filter((part) => part.etag === sourceVersion) : [];
  // Renamed to a name of its own before use: should two runs resume it at once, one gets the file
  // and the other starts afresh, so no file is ever written by two (or after its rename into place).
  const claimed =
    earlierPath !== undefined &&
    kept.length > 0 &&
    (await stat(earlierPath).then(
      (s) => s.size === info.size,
      () => false,
    )) &&
    (await rename(earlierPath, path).then(
      () => true,
      () => false,
    ));
  const replaced = await journal.begin(freshName, rangeSize);
  const replacedPath = replaced === undefined ? undefined : pathOf(replaced);
  if (replacedPath && !claimed) await rm(replacedPath, { force: true });
  if (!claimed) return { path, stored: [], journal, rangeSize, sourceVersion };
  for (const part of kept) await journal.savePart(part);
  const stored = kept.map((part) => rangeNumbered(part.number, rangeSize, info.size));
  return { path, stored, journal, rangeSize, sourceVersion };
}

/**
 * After a write failed: removes its temp file and, resumable, its journal, but for a resumable
 * one whose bytes were not refused, which stays for the next write of its version. Answers the
 * error to throw: a resumed file that was refused is dropped and answered as transient, so the
 * write's retry starts over and fetches every range.
 */
export async function afterFailedWrite(
  temp: string | Buffer,
  resume: ResumableTemp | undefined,
  err: unknown,
  target: { location: string; key: string },
): Promise<unknown> {
  if (resume && !(err instanceof IntegrityError)) return err;
  await rm(temp, { force: true });
  await resume?.journal.clear();
  if (!resume || resume.stored.length === 0) return err;
  const detail = `${JSON.stringify(target.key)}: the copy resumed from an earlier run did not verify; starting over`;
  return new TransientError(target.location, detail, { cause: err });
}

/** Range `number` (1-based, as journaled) of `size` bytes cut in ranges of `rangeSize`. */
function rangeNumbered(number: number, rangeSize: number, size: number): ByteRange {
  const start = (number - 1) * rangeSize;
  return { start, end: Math.min(size, start + rangeSize) - 1 };
}

/**
 * Creates `tempPath` (or, resuming, opens it: the journaled temp file) and lets `fill` write it by
 * offset, several ranges at once; checks that every byte arrived exactly once, and hashes the
 * whole, the resumed ranges read back from the file included. Anything failing removes the temp
 * file, except a resumable one: that stays, its whole ranges journaled, for the next write of
 * this version (see afterFailedWrite). The caller checks the hash, renames the file into place
 * and then clears the journal.
 */
export async function writeTempFileInRanges(
  tempPath: string | Buffer,
  info: WriteInfo,
  fill: (sink: RangeSink) => Promise<void>,
  resume?: ResumableTemp,
): Promise<WrittenFile> {
  // Read back too: bytes that arrived ahead of the hash frontier are hashed from the file.
  // A resumed file is opened as it is; a fresh one must not exist yet (or, resumable, is emptied).
  const flags = !resume ? "wx+" : resume.stored.length > 0 ? "r+" : "w+";
  const handle = await open(tempPath, flags);
  let hash: InOrderHash | undefined;
  try {
    // Sized up front, so a file killed before its last range is still recognised at full size.
    if (resume) await handle.truncate(info.size);
    hash = new InOrderHash(handle, info.size, resume?.stored ?? []);
    const sink = hash;
    await fill({
      write: (chunk, position) => sink.place(chunk, position),
      stored: resume?.stored ?? [],
      completed: async (range) => {
        if (!resume) return;
        const number = Math.floor(range.start / resume.rangeSize) + 1;
        await resume.journal.savePart({ number, etag: resume.sourceVersion, md5: "" });
      },
    });
    return await hash.finish();
  } catch (err) {
    await hash?.abandon();
    if (!resume) await rm(tempPath, { force: true });
    throw err;
  } finally {
    await handle.close();
  }
}

interface Extent {
  start: number;
  end: number;
}

/**
 * SHA-256 of a file written by offset, computed in order while the ranges arrive, so finishing
 * costs only the hashing of what came last and the network is never read twice. The hashing runs
 * on a worker thread, which reads the bytes at the frontier back from the file (from the page
 * cache: they were just written) once every byte before them is in: the main thread only
 * receives and writes. Steps are batched: while one is hashed, what lands behind it waits for the
 * next, whole. Memory: the thread's one read-back buffer, whatever the size.
 */
class InOrderHash {
  private readonly digest = new OrderedDigest("sha256");
  /** Bytes [0, hashed) are handed to the digest. */
  private hashed = 0;
  /** Written but not yet handed to the digest, disjoint and merged. */
  private written: Extent[] = [];
  /** Every byte claimed by a write, started or done, merged: a byte may be written once only. */
  private claimed: Extent[] = [];
  private hashing: Promise<void> | undefined;
  private failure: unknown;

  constructor(
    private readonly handle: FileHandle,
    private readonly size: number,
    stored: readonly ByteRange[],
  ) {
    // Ranges already in the file count as written: hashed by reading them back, never rewritten.
    for (const range of stored) {
      const extent = { start: range.start, end: range.end + 1 };
      this.claimed = merged(this.claimed, extent);
      this.written = merged(this.written, extent);
    }
    this.catchUp();
  }

  async place(chunk: Buffer, position: number): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    const extent = { start: position, end: position + chunk.length };
    if (!Number.isInteger(position) || extent.start < 0 || extent.end > this.size) {
      throw new Error(`a write at ${position}-${extent.end} falls outside the ${this.size} bytes announced`);
    }
    if (this.claimed.some((c) => c.start < extent.end && extent.start < c.end)) {
      throw new Error(`bytes ${extent.start}-${extent.end} were written twice`);
    }
    this.claimed = merged(this.claimed, extent);
    await writeFully(this.handle, chunk, position);
    this.written = merged(this.written, extent);
    this.catchUp();
  }

  async finish(): Promise<WrittenFile> {
    await this.settled();
    if (this.failure !== undefined) throw this.failure;
    if (this.hashed !== this.size) {
      const received = this.claimed.reduce((sum, c) => sum + c.end - c.start, 0);
      throw new Error(`expected ${this.size} bytes, received ${received}`);
    }
    return { sha256: (await this.digest.digest()).toString("hex"), size: this.size };
  }

  /** For a write that failed: waits until the thread no longer reads the file (about to be closed). */
  async abandon(): Promise<void> {
    await this.settled();
    this.digest.discard();
  }

  private async settled(): Promise<void> {
    while (this.hashing) await this.hashing;
  }

  /** Hands the written bytes at the frontier to the digest, unless a step is under way. */
  private catchUp(): void {
    if (this.hashing !== undefined || this.failure !== undefined) return;
    const extent = this.written.find((e) => e.start === this.hashed);
    // A step per network chunk would cost more in messages than its hashing: steps are whole MiBs, but the last.
    if (!extent || (extent.end - extent.start < HASH_STEP_MIN && extent.end < this.size)) return;
    this.written = this.written.filter((e) => e !== extent);
    this.hashed = extent.end;
    this.hashing = this.digest
      .updateFromFile({ fd: this.handle.fd, start: extent.start, end: extent.end })
      .catch((err: unknown) => {
        this.failure = err;
      })
      .finally(() => {
        this.hashing = undefined;
        // Bytes may have reached the frontier while this step ran.
        this.catchUp();
      });
  }
}

/** Adds an extent to a disjoint list, joining the neighbours it touches. */
function merged(extents: Extent[], extent: Extent): Extent[] {
  const joined = { ...extent };
  const rest = extents.filter((e) => {
    const touches = e.start <= joined.end && joined.start <= e.end;
    if (touches) {
      joined.start = Math.min(joined.start, e.start);
      joined.end = Math.max(joined.end, e.end);
    }
    return !touches;
  });
  return [...rest, joined];
}

async function writeFully(handle: FileHandle, chunk: Buffer, position: number): Promise<void> {
  for (let done = 0; done < chunk.length; ) {
    const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, position + done);
    done += bytesWritten;
  }
}
