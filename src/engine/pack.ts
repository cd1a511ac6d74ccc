import { randomUUID } from "node:crypto";
import { open } from "node:fs/promises";
import { Readable } from "node:stream";
import { offerPositionalReads } from "../backends/bodies.js";
import { bodyBuffers } from "../backends/body-buffers.js";
import { keyToBytes } from "../backends/keys.js";
import type { CatalogDb } from "../catalog/db.js";
import { journalActions } from "../catalog/journal.js";
import { type MemberReplica, recordPack } from "../catalog/packs.js";
import type { CodecName } from "../codec/codec.js";
import { type BuiltPack, type EncodedMember, PackFileWriter } from "../codec/pack/pack-file.js";
import { encodePackIndex, PACK_INDEX_FORMAT, packIndexKey } from "../codec/pack/pack-index.js";
import type { PlannedFile } from "../policy/sync-plan.js";
import { readObject, sha256Of } from "../transfer/copy.js";
import { attemptsOf, type RetryPolicy, withRetry } from "../transfer/retry.js";
import { makeTempDir } from "../transfer/temp-dirs.js";
import { shareExisting } from "./dedup.js";
import type { EngineEvent } from "./events.js";
import { changedSince, type FreshRead, readSmallFile } from "./on-disk.js";
import { BATCH, type Recorder } from "./recorder.js";
import type { Endpoint } from "./toolkit.js";

/** `pack: { below, size }` of a placement, `--pack-below`/`--pack-size` of a sync. */
export interface PackSettings {
  /** Files smaller than this go into packs. */
  below: number;
  /** A pack is closed once its members reach this many bytes. */
  size: number;
  /** The codec of each member's frame; "none" writes plain tar. */
  codec: CodecName;
}

/** The most members one pack holds, whatever their size: bounds a pack's index and its catalog transaction. */
const MAX_MEMBERS = 100_000;
/** Members read and compressed at once while a pack is written in order: so many files, so many bytes at most. */
const READ_AHEAD = { files: 32, bytes: 32 * 1024 ** 2 };

/**
 * Members of a file tree up to this size are read with one synchronous positional read: for a
 * small file in the page cache that costs a few microseconds, where a stream costs a thread-pool
 * round trip per call and about ten objects. Larger ones go through the backend's stream.
 */
const DIRECT_READ_MAX = 1024 ** 2;

/** Where packing reports to: the run's journal, its recorder, its progress. */
export interface PackRun {
  catalog: CatalogDb;
  runId: number;
  source: Endpoint;
  target: PackTarget;
  retry: RetryPolicy;
  recorder: Recorder;
  onBytes(count: number): void;
  /** `shared`: a dedup target held the content already (an object, a member): the file points at it, nothing packed. */
  heard(
    outcome: "copied" | "shared" | "stale" | "failed",
    path: string,
    detail: { bytes?: number; error?: string },
  ): void;
}

interface Member {
  file: PlannedFile;
  actionId: number;
}

/** At a dedup target, a member whose content an earlier member of the same pack holds: it shares that one's frame. */
interface Twin {
  member: Member;
  /** The index in the pack's members of the one it shares. */
  of: number;
}

/** Pack keys live under this prefix of their location, apart from the files' own keys. */
export const PACK_PREFIX = ".strata-packs/";

const EXTENSIONS: Record<CodecName, string> = { none: "", gzip: ".gz", zstd: ".zst", lz4: ".lz4" };

/** A new pack's key: under the packs' prefix, by day, unique, named for its codec as tar's users expect. */
export function newPackKey(codec: CodecName): string {
  return `${PACK_PREFIX}${new Date().toISOString().slice(0, 10)}/${randomUUID()}.tar${EXTENSIONS[codec]}`;
}

/** Where a pack is written: its location, the class and tags its objects get. */
export type PackTarget = Endpoint & { storageClass?: string; tags: Record<string, string>; dedup?: boolean };

/**
 * A built pack's objects, in the kill-safe order: the pack, then its index (which names the
 * location its members' paths belong to, `origin`), each written atomically and checked by its
 * SHA-256. A pack without its index is an unfinished write; with it, whole and checkable.
 */
export async function storePack(
  target: PackTarget,
  retry: RetryPolicy,
  built: BuiltPack,
  { key, origin }: { key: string; origin: string },
): Promise<void> {
  const attributes = { mtimeUs: Date.now() * 1000, mode: 0o644, path: key };
  await withRetry(retry, async () =>
    target.backend.write(key, await packFileBody(built.file), {
      size: built.size,
      attributes,
      expectedSha256: built.sha256,
      metadata: { "strata-pack": "1" },
      ...(target.storageClass ? { storageClass: target.storageClass } : {}),
      tags: target.tags,
    }),
  );
  const index = Buffer.from(
    encodePackIndex(
      {
        format: PACK_INDEX_FORMAT,
        version: 1,
        pack: key,
        origin,
        codec: built.codec,
        size: built.size,
        sha256: built.sha256,
        members: built.members.length,
      },
      built.members,
    ),
  );
  const indexKey = packIndexKey(key);
  await withRetry(retry, () =>
    target.backend.write(indexKey, Readable.from([index]), {
      size: index.length,
      attributes: { ...attributes, path: indexKey },
      expectedSha256: sha256Of(index),
      tags: target.tags,
    }),
  );
}

/**
 * The pack's temp file as a body that a multipart write can also read by offset, straight into
 * its part buffers (no 64 KiB chunks copied into parts). The file is this run's own and holds
 * still; the stream closes it once read or let go.
 */
async function packFileBody(file: string): Promise<Readable> {
  const handle = await open(file, "r");
  const body = handle.createReadStream();
  offerPositionalReads(body, {
    readAt: async (buffer, length, position) => (await handle.read(buffer, 0, length, position)).bytesRead,
    changed: async () => undefined,
  });
  return body;
}

/**
 * Gathers small files into packs and writes each pack in the kill-safe order: the pack object,
 * written and checked by its SHA-256; then its index object; then, in one catalog transaction,
 * the pack and its members' replicas. Every member is journaled as a "pack" action naming the
 * pack's key before the pack is built, so a run killed anywhere leaves the next one the keys to
 * look at (`reconcileInterruptedPacks`).
 */
export class Packer {
  private group: PlannedFile[] = [];
  private groupBytes = 0;
  /**
   * The pack being uploaded while the next one is read and built: at most one upload in flight,
   * so the main thread never idles through an upload and at most two packs are on local disk.
   * Settles once the upload is over, well or not (its members are failed by `recording`).
   */
  private uploading: Promise<void> = Promise.resolve();
  /**
   * The catalog records of the packs uploaded so far, one after another in pack order; a pack
   * is recorded while the next one is uploaded, so the uploads follow each other without a gap.
   */
  private recording: Promise<void> = Promise.resolve();
  /** Why recording failed (the catalog could not take even a failure): the run stops at the next pack. */
  private recordFailure: { error: unknown } | undefined;

  constructor(
    private readonly run: PackRun,
    private readonly settings: PackSettings,
  ) {}

  /** Small files new at the target are packed; a changed one is copied whole over its old replica. */
  accepts(file: PlannedFile, replicaHash: string | null): boolean {
    return file.size < this.settings.below && replicaHash === null;
  }

  async add(file: PlannedFile): Promise<void> {
    this.group.push(file);
    this.groupBytes += file.size;
    if (this.groupBytes >= this.settings.size || this.group.length >= MAX_MEMBERS) await this.packGathered();
  }

  /** Writes the pack of what is gathered, if anything, and waits until every pack is stored and recorded. */
  async flush(): Promise<void> {
    await this.packGathered();
    await this.recording;
  }

  private async packGathered(): Promise<void> {
    const files = this.group;
    this.group = [];
    this.groupBytes = 0;
    if (files.length > 0) await this.writePack(files);
  }

  private async writePack(files: PlannedFile[]): Promise<void> {
    const key = newPackKey(this.settings.codec);
    const members = await this.journal(files, key);
    const writer = await PackFileWriter.create(this.settings.codec, await makeTempDir("pack"));
    const packed: Member[] = [];
    const twins: Twin[] = [];
    // At a dedup target: the index in `packed` of each content (SHA-256 and size) this pack holds.
    const contents = new Map<string, number>();
    // Members already settled (stale, unreadable, shared) when something fails the whole pack.
    const settled = new Set<number>();
    let built: BuiltPack | undefined;
    try {
      for (const window of readWindows(members)) {
        const encoded = await Promise.all(window.map((member) => this.encodeMember(writer, member, key)));
        for (const [j, member] of window.entries()) {
          const frame = encoded[j];
          if (!frame) {
            settled.add(member.actionId);
            continue;
          }
          const content = `${frame.member.sha256}:${frame.member.size}`;
          const twin = contents.get(content);
          if (twin !== undefined) {
            twins.push({ member, of: twin });
            continue;
          }
          if (this.run.target.dedup) contents.set(content, packed.length);
          await writer.append(frame);
          packed.push(member);
        }
      }
      if (packed.length === 0) return;
      built = await writer.finish();
    } catch (err) {
      await this.failUnsettled(members, settled, err, key);
    } finally {
      if (!built) await writer.discard();
    }
    if (!built) return;
    const pack = built;
    // The previous pack's upload ends before this one's begins (and before the next pack is
    // built): one upload in flight, at most two packs on local disk, packs recorded in order.
    await this.uploading;
    if (this.recordFailure) {
      await writer.discard();
      throw this.recordFailure.error;
    }
    const uploaded = this.store(pack, key).finally(() => writer.discard());
    this.uploading = uploaded.then(
      () => undefined,
      () => undefined,
    );
    const previous = this.recording;
    const recorded = (async () => {
      try {
        await uploaded;
        await previous;
        await this.record(pack, key, packed, twins);
      } catch (err) {
        await this.failUnsettled(members, settled, err, key);
      }
    })();
    // Awaited by the next pack's record or by flush; a failure of the catalog is not left unhandled meanwhile.
    recorded.catch((error: unknown) => {
      this.recordFailure ??= { error };
    });
    this.recording = recorded;
  }

  /** Nothing of this pack is on record: its members are failed, and the next run packs them again. */
  private async failUnsettled(members: Member[], settled: Set<number>, err: unknown, key: string): Promise<void> {
    const message = (err as Error).message;
    for (const { file, actionId } of members) {
      if (!settled.has(actionId)) await this.settleFailed(file, actionId, message, attemptsOf(err), key);
    }
  }

  private async journal(files: PlannedFile[], key: string): Promise<Member[]> {
    const members: Member[] = [];
    for (let i = 0; i < files.length; i += BATCH) {
      const chunk = files.slice(i, i + BATCH);
      const ids = await journalActions(
        this.run.catalog,
        this.run.runId,
        chunk.map((file) => ({
          kind: "pack" as const,
          fileId: file.id,
          sourceLocationId: this.run.source.locationId,
          targetLocationId: this.run.target.locationId,
          key,
          bytes: file.size,
        })),
      );
      for (const [j, file] of chunk.entries()) members.push({ file, actionId: ids[j] as number });
    }
    return members;
  }

  /** Reads one file and makes its frame; a file changed since the plan is skipped as stale (undefined). */
  private async encodeMember(
    writer: PackFileWriter,
    { file, actionId }: Member,
    key: string,
  ): Promise<EncodedMember | undefined> {
    const read = await this.readMember(file);
    if (read instanceof Error) {
      await this.settleFailed(file, actionId, read.message, attemptsOf(read), key);
      return undefined;
    }
    if ("stale" in read) {
      this.run.heard("stale", file.path, {});
      await this.run.recorder.add({ outcome: { id: actionId, state: "skipped", attempts: 0, error: read.stale } });
      return undefined;
    }
    try {
      return await this.encodeRead(writer, { file, actionId }, key, read.data);
    } finally {
      // Its bytes are copied into the frame by now, or not packed: the buffer serves the next read.
      bodyBuffers.giveBack(read.data);
    }
  }

  /** The frame of a member read whole, unless its bytes are not the version planned or a dedup target has them. */
  private async encodeRead(
    writer: PackFileWriter,
    { file, actionId }: Member,
    key: string,
    data: Buffer,
  ): Promise<EncodedMember | undefined> {
    const sha256 = sha256Of(data);
    // Read whole, the bytes must be the version planned: its size, and its hash when the catalog knows it.
    if (data.length !== file.size || (file.hash !== null && file.hash !== sha256)) {
      const why = "the file changed since the plan";
      this.run.heard("stale", file.path, {});
      await this.run.recorder.add({ outcome: { id: actionId, state: "skipped", attempts: 0, error: why } });
      return undefined;
    }
    this.run.onBytes(data.length);
    if (this.run.target.dedup && (await this.sharedAlready({ file, actionId }, sha256, key))) return undefined;
    return writer.encode(
      {
        path: file.path,
        pathBytes: keyToBytes(file.path),
        mtimeUs: file.mtime_us,
        mode: file.mode,
        uid: file.uid,
        gid: file.gid,
        data,
      },
      sha256,
    );
  }

  /**
   * A member's bytes, or why the file is no longer the version planned: read directly when it is
   * a small file of a tree; otherwise (or when the direct read cannot tell) through the backend,
   * with its retries and its own check that the file held still while it was read.
   */
  private async readMember(file: PlannedFile): Promise<FreshRead | Error> {
    const { backend } = this.run.source;
    const direct = backend.tree && file.size <= DIRECT_READ_MAX ? readSmallFile(backend.tree, file) : undefined;
    if (direct) return direct;
    const stale = await changedSince(backend, file).catch(() => undefined);
    if (stale) return { stale };
    return withRetry(this.run.retry, () => readObject(backend, file.path)).then(
      (read) => ({ data: read.value }),
      (err: unknown) => err as Error,
    );
  }

  private store(built: BuiltPack, key: string): Promise<void> {
    return storePack(this.run.target, this.run.retry, built, { key, origin: this.run.source.backend.url });
  }

  /**
   * At a dedup target: a file whose content an object or a pack member there holds already is
   * not packed again; its replica points at those bytes, recorded now, and its action is done.
   */
  private async sharedAlready({ file, actionId }: Member, sha256: string, key: string): Promise<boolean> {
    const { run } = this;
    const replica = await shareExisting(
      run.catalog,
      {
        retry: run.retry,
        file,
        target: { ...run.target, key: file.path, storageClass: run.target.storageClass ?? null },
      },
      { hash: sha256, size: file.size },
    );
    if (!replica) return false;
    run.heard("shared", file.path, { bytes: file.size });
    await run.recorder.add({
      outcome: { id: actionId, state: "done", attempts: 1, error: null },
      fileHash: { fileId: file.id, hash: sha256 },
      event: this.event(file, "done", { key: file.path, pack: key, shared: replica.key }),
    });
    return true;
  }

  private async record(built: BuiltPack, key: string, packed: Member[], twins: Twin[]): Promise<void> {
    const { run } = this;
    const now = Date.now();
    // A twin's replica is a member's row of its own at the frame of the member it shares.
    const rows = [...packed.map((m, i) => ({ ...m, at: i })), ...twins.map((t) => ({ ...t.member, at: t.of }))];
    const replicas: MemberReplica[] = rows.map(({ file, at: i }) => {
      const member = built.members[i] as BuiltPack["members"][number];
      return {
        fileId: file.id,
        locationId: run.target.locationId,
        key,
        size: member.size,
        hash: member.sha256,
        storageClass: run.target.storageClass ?? null,
        state: "present",
        sourceSize: file.size,
        sourceMtimeUs: file.mtime_us,
        etag: null,
        verifiedAt: now,
        offset: member.offset,
        length: member.length,
      };
    });
    await recordPack(
      run.catalog,
      {
        locationId: run.target.locationId,
        key,
        size: built.size,
        hash: built.sha256,
        codec: built.codec,
        members: packed.length,
      },
      replicas,
      replicas.map((r) => ({ fileId: r.fileId, hash: r.hash })),
    );
    for (const [n, { file, actionId, at: i }] of rows.entries()) {
      const member = built.members[i] as BuiltPack["members"][number];
      run.heard(n < packed.length ? "copied" : "shared", file.path, { bytes: member.size });
      await run.recorder.add({
        outcome: { id: actionId, state: "done", attempts: 1, error: null },
        event: this.event(file, "done", { key: file.path, pack: key, offset: member.offset }),
      });
    }
  }

  private async settleFailed(file: PlannedFile, actionId: number, error: string, attempts: number, key?: string) {
    this.run.heard("failed", file.path, { error });
    await this.run.recorder.add({
      outcome: { id: actionId, state: "failed", attempts, error },
      event: this.event(file, "failed", { key: file.path, ...(key ? { pack: key } : {}), error }),
    });
  }

  private event(file: PlannedFile, outcome: "done" | "failed", detail: Record<string, unknown>): EngineEvent {
    return {
      kind: "pack",
      fileId: file.id,
      locationId: this.run.source.locationId,
      targetLocationId: this.run.target.locationId,
      bytes: outcome === "done" ? file.size : 0,
      outcome,
      detail,
    };
  }
}

/** Members in runs read at once: READ_AHEAD files or bytes at most, and at least one file. */
function* readWindows(members: readonly Member[]): Generator<Member[]> {
  let window: Member[] = [];
  let bytes = 0;
  for (const member of members) {
    if (window.length > 0 && (window.length >= READ_AHEAD.files || bytes + member.file.size > READ_AHEAD.bytes)) {
      yield window;
      window = [];
      bytes = 0;
    }
    window.push(member);
    bytes += member.file.size;
  }
  if (window.length > 0) yield window;
}
