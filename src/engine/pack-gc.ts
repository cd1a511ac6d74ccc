import { keyToBytes } from "../backends/keys.js";
import type { CatalogDb } from "../catalog/db.js";
import { closeDeadRuns, finishRun, journalActions, settleActions, startRun } from "../catalog/journal.js";
import {
  type FrameMove,
  forgetPack,
  type MemberRow,
  membersOfPack,
  movePackMembers,
  type PackUsage,
  packAt,
  packReferenced,
  packUsage,
} from "../catalog/packs.js";
import { type CodecName, codecNamed } from "../codec/codec.js";
import { memberContent, PackFileWriter } from "../codec/pack/pack-file.js";
import { type PackMember, packIndexKey, parsePackIndex } from "../codec/pack/pack-index.js";
import { TAR_END } from "../codec/pack/tar.js";
import { classPrice, type PriceProfile } from "../cost/profile.js";
import { type RepackCost, repackCost } from "../cost/repack.js";
import { readObject } from "../transfer/copy.js";
import { type RetryPolicy, withRetry } from "../transfer/retry.js";
import { makeTempDir } from "../transfer/temp-dirs.js";
import { newPackKey, type PackTarget, storePack } from "./pack.js";
import { reconcileInterruptedPacks } from "./pack-store.js";

/*
 * `strata pack gc`: packs whose members were deleted or superseded keep billing for bytes nobody
 * references. A pack whose live share (bytes of frames a replica row still points at, over the
 * pack's bytes) fell below the threshold is rewritten with its live frames only, when that pays
 * (cost/repack.ts); a pack nobody references is deleted. Rewriting copies each live frame as it
 * is (verified by its content's SHA-256 first) into a new pack written like sync's, so the kill
 * safety is sync's: the new pack's members are journaled as "pack" actions, an unrecorded new
 * pack is recorded or removed by the next run (reconcileInterruptedPacks), the replica rows move
 * in one transaction, and the old pack is deleted only after, and only once nothing names it.
 */

export interface PackGcOptions {
  /** Packs whose live share is below this (0–1) are rewritten when it pays. */
  liveBelow: number;
  horizonMonths: number;
  dryRun: boolean;
  profile: PriceProfile;
  retry: RetryPolicy;
  /** The location: its backend, id, class for new packs when the members name none, and tags. */
  target: PackTarget & { name: string };
  /** Reported once per pack. */
  heard(verdict: PackVerdict): void;
}

export type PackDecision = "repack" | "delete" | "keep" | "skip" | "failed";

/** What gc made of one pack. */
export interface PackVerdict {
  key: string;
  size: number;
  liveBytes: number;
  liveFrames: number;
  /** liveBytes / size. */
  liveShare: number;
  decision: PackDecision;
  /** Why a pack is kept, skipped or failed. */
  reason?: string;
  /** The weighing, for packs below the threshold with live members. */
  cost?: RepackCost;
  /** The pack written in its place, and its bytes. */
  newKey?: string;
  newSize?: number;
}

export interface PackGcReport {
  packs: number;
  repacked: number;
  deleted: number;
  kept: number;
  skipped: number;
  failed: number;
  /** Bytes of pack objects removed less the bytes of packs written. */
  bytesFreed: number;
}

const DAY_MS = 86_400_000;
/** Runs of live frames read at once while a pack is rewritten in order, and the bytes of one run at most. */
const READ_AHEAD = 8;
const RUN_BYTES = 4 * 1024 ** 2;

/** Weighs every pack at the location and, unless a dry run, rewrites or deletes those it pays to. */
export async function gcPacks(catalog: CatalogDb, options: PackGcOptions): Promise<PackGcReport> {
  const report: PackGcReport = { packs: 0, repacked: 0, deleted: 0, kept: 0, skipped: 0, failed: 0, bytesFreed: 0 };
  if (options.dryRun) {
    for await (const pack of packUsage(catalog, options.target.locationId))
      tally(report, options, weigh(pack, options));
    return report;
  }
  // A gc or sync killed here left new packs the journal names: recorded or removed first.
  await closeDeadRuns(catalog);
  await reconcileInterruptedPacks(catalog, options.target);
  const runId = await startRun(catalog, `pack gc ${options.target.name}`);
  const gc = new PackCollector(catalog, options, runId);
  for await (const pack of packUsage(catalog, options.target.locationId)) {
    const verdict = weigh(pack, options);
    tally(report, options, await gc.act(pack, verdict));
  }
  await finishRun(catalog, runId, report.failed > 0 ? "partial" : "done", report);
  return report;
}

function tally(report: PackGcReport, options: PackGcOptions, verdict: PackVerdict): void {
  report.packs += 1;
  const counted = { repack: "repacked", delete: "deleted", keep: "kept", skip: "skipped", failed: "failed" } as const;
  report[counted[verdict.decision]] += 1;
  if (!options.dryRun && verdict.decision === "delete") report.bytesFreed += verdict.size;
  if (!options.dryRun && verdict.decision === "repack") report.bytesFreed += verdict.size - (verdict.newSize ?? 0);
  options.heard(verdict);
}

/** The decision for one pack, from the catalog alone. */
function weigh(pack: PackUsage, options: PackGcOptions): PackVerdict {
  const liveShare = pack.size > 0 ? pack.liveBytes / pack.size : 0;
  const base = { key: pack.key, size: pack.size, liveBytes: pack.liveBytes, liveFrames: pack.liveFrames, liveShare };
  // Keeping a pack nobody references costs at least what deleting it early does.
  if (pack.liveFrames === 0) return { ...base, decision: "delete", reason: "no live member" };
  if (liveShare >= options.liveBelow) {
    return { ...base, decision: "keep", reason: `live share at or above ${options.liveBelow}` };
  }
  const storageClass = pack.storageClass ?? options.target.storageClass;
  let archive: boolean;
  try {
    archive = classPrice(options.profile, storageClass).archive !== undefined;
  } catch (err) {
    return { ...base, decision: "skip", reason: (err as Error).message };
  }
  if (archive || pack.archived > 0) {
    return {
      ...base,
      decision: "skip",
      reason: `in ${storageClass ?? "an archive class"}: its members cannot be read without a thaw, which gc does not do`,
    };
  }
  const cost = repackCost(options.profile, {
    storageClass,
    size: pack.size,
    // The live frames and the end of the tar stream (at most two raw blocks).
    newSize: pack.liveBytes + TAR_END.length,
    liveFrames: pack.liveFrames,
    ageDays: Math.max(0, Date.now() - pack.createdAt) / DAY_MS,
    horizonMonths: options.horizonMonths,
  });
  if (!cost.repack && cost.saving >= 0) {
    return { ...base, decision: "keep", reason: "a rewrite would be no smaller (the end of the tar stream)", cost };
  }
  if (!cost.repack) {
    const over = `over ${Number(options.horizonMonths.toFixed(1))} months`;
    const why =
      cost.earlyDeletion > 0
        ? `rewriting costs $${money(-cost.saving)} more than it saves ${over} ` +
          `(early deletion $${money(cost.earlyDeletion)}: its minimum storage duration is not served)`
        : `rewriting costs $${money(-cost.saving)} more than it saves ${over}`;
    return { ...base, decision: "keep", reason: why, cost };
  }
  return { ...base, decision: "repack", cost };
}

function money(usd: number): string {
  return usd.toPrecision(3);
}

class PackCollector {
  constructor(
    private readonly catalog: CatalogDb,
    private readonly options: PackGcOptions,
    private readonly runId: number,
  ) {}

  /** Carries out a verdict; a pack that cannot be rewritten or deleted now is reported failed and left as it was. */
  async act(pack: PackUsage, verdict: PackVerdict): Promise<PackVerdict> {
    try {
      if (verdict.decision === "delete") {
        const deleted = await this.deleteIfUnreferenced(pack);
        return deleted ? verdict : { ...verdict, decision: "keep", reason: "a replica row names it again" };
      }
      if (verdict.decision !== "repack") return verdict;
      const written = await this.repack(pack);
      // The members are safe in the new pack now; an old pack left behind is the next gc's to delete.
      const deleted = await this.deleteIfUnreferenced(pack).catch((err: Error) => err);
      if (deleted instanceof Error) {
        const reason = `rewritten, but the old pack was not deleted (the next gc deletes it): ${deleted.message}`;
        return { ...verdict, ...written, decision: "failed", reason };
      }
      return { ...verdict, ...written };
    } catch (err) {
      return { ...verdict, decision: "failed", reason: (err as Error).message };
    }
  }

  /** The old pack's objects, then its row, once no replica row names it: never the other way round. */
  private async deleteIfUnreferenced(pack: PackUsage): Promise<boolean> {
    const { backend, locationId } = this.options.target;
    const place = { id: pack.id, locationId, key: pack.key };
    if (await packReferenced(this.catalog, place)) return false;
    await withRetry(this.options.retry, () => backend.delete([pack.key, packIndexKey(pack.key)]));
    return forgetPack(this.catalog, place);
  }

  /**
   * The live frames, each read by its range and checked against the old index and the catalog
   * (its content's SHA-256), copied as they are into a new pack; the new pack stored with its
   * index, then the replica rows moved to it in one transaction.
   */
  private async repack(pack: PackUsage): Promise<{ newKey: string; newSize: number }> {
    const { target, retry } = this.options;
    const rows = await membersOfPack(this.catalog, pack.id);
    const { origin, frames } = await this.liveFrames(pack, rows);
    const key = newPackKey(codecOf(pack));
    const actionIds = await this.journal(rows, key);
    const writer = await PackFileWriter.create(codecOf(pack), await makeTempDir("pack"));
    try {
      const moves: FrameMove[] = [];
      const runs = [...adjacentRuns(frames)];
      for (let i = 0; i < runs.length; i += READ_AHEAD) {
        const window = runs.slice(i, i + READ_AHEAD);
        const read = await Promise.all(window.map((run) => this.readRun(pack, run)));
        for (const [j, run] of window.entries()) {
          for (const [k, member] of run.entries()) {
            const { offset, length, ...rest } = member;
            const placed = await writer.append({ frame: read[j]?.[k] as Buffer, member: rest });
            moves.push({ from: { offset, length }, to: { offset: placed.offset, length: placed.length } });
          }
        }
      }
      const built = await writer.finish();
      await storePack({ ...target, ...(pack.storageClass ? { storageClass: pack.storageClass } : {}) }, retry, built, {
        key,
        origin,
      });
      const record = {
        locationId: target.locationId,
        key,
        size: built.size,
        hash: built.sha256,
        codec: built.codec,
        members: built.members.length,
      };
      await movePackMembers(this.catalog, pack.id, record, moves);
      await settleActions(
        this.catalog,
        actionIds.map((id) => ({ id, state: "done" as const, attempts: 1, error: null })),
      );
      return { newKey: key, newSize: built.size };
    } catch (err) {
      await this.removeUnrecorded(key);
      const error = (err as Error).message;
      await settleActions(
        this.catalog,
        actionIds.map((id) => ({ id, state: "failed" as const, attempts: 1, error })),
      );
      throw err;
    } finally {
      await writer.discard();
    }
  }

  /**
   * A new pack that failed before its move was committed is nobody's copy: removed, so no pack
   * stays in the store unrecorded. One the catalog records after all (the commit went through
   * and only its answer was lost) is kept.
   */
  private async removeUnrecorded(key: string): Promise<void> {
    const { backend, locationId } = this.options.target;
    if (await packAt(this.catalog, locationId, key)) return;
    await backend.delete([key, packIndexKey(key)]).catch(() => undefined);
  }

  /**
   * The old index's entries for the frames replica rows point at, in pack order. The index must
   * be this pack's (key, size, hash as recorded) and agree with every row on the content's hash:
   * anything else leaves the pack as it is, named in the message.
   */
  private async liveFrames(pack: PackUsage, rows: readonly MemberRow[]) {
    const indexKey = packIndexKey(pack.key);
    const text = (await withRetry(this.options.retry, () => readObject(this.options.target.backend, indexKey))).value;
    const { header, members } = parsePackIndex(indexKey, text.toString("utf8"));
    if (header.pack !== pack.key || header.size !== pack.size || header.sha256 !== pack.hash) {
      throw new Error(`pack ${pack.key}: its index ${indexKey} describes another pack than the catalog records`);
    }
    const byOffset = new Map(members.map((m) => [m.offset, m]));
    const frames = new Map<number, PackMember>();
    for (const row of rows) {
      const member = byOffset.get(row.offset);
      if (!member || member.length !== row.length || member.sha256 !== row.hash) {
        throw new Error(
          `pack ${pack.key}: the catalog records a member at offset ${row.offset} (${row.length} bytes, SHA-256 ` +
            `${row.hash}) that its index ${indexKey} does not list`,
        );
      }
      frames.set(member.offset, member);
    }
    return { origin: header.origin, frames: [...frames.values()].sort((a, b) => a.offset - b.offset) };
  }

  /** Every file whose row points into the pack is journaled under the new key, as sync journals a pack's members. */
  private journal(rows: readonly MemberRow[], key: string): Promise<number[]> {
    const fileIds = [...new Set(rows.map((r) => r.fileId))];
    const { locationId } = this.options.target;
    return journalActions(
      this.catalog,
      this.runId,
      fileIds.map((fileId) => ({
        kind: "pack" as const,
        fileId,
        sourceLocationId: null,
        targetLocationId: locationId,
        key,
        bytes: 0,
      })),
    );
  }

  /**
   * One ranged read of a run of adjacent live frames, each checked by decoding it: the path,
   * size and SHA-256 the index gives. Returns the frames as read, to be copied unchanged.
   */
  private async readRun(pack: PackUsage, run: readonly PackMember[]): Promise<Buffer[]> {
    const { backend } = this.options.target;
    const first = run[0] as PackMember;
    const last = run.at(-1) as PackMember;
    const end = last.offset + last.length;
    const range = { start: first.offset, end: end - 1 };
    const bytes = (await withRetry(this.options.retry, () => readObject(backend, pack.key, range))).value;
    if (bytes.length !== end - first.offset) {
      throw new Error(
        `pack ${pack.key}: truncated: ${bytes.length} of ${end - first.offset} bytes at offset ${first.offset}`,
      );
    }
    const frames: Buffer[] = [];
    for (const member of run) {
      const frame = bytes.subarray(member.offset - first.offset, member.offset - first.offset + member.length);
      const where = { pack: pack.key, path: member.path, pathBytes: keyToBytes(member.path) };
      await memberContent(where, frame, { codec: codecOf(pack), size: member.size, sha256: member.sha256 });
      frames.push(frame);
    }
    return frames;
  }
}

/**
 * Live frames in runs of adjacent ones (each ends where the next begins), RUN_BYTES at most unless
 * one frame alone is more: one ranged read per run, so a pack that lost a few members is read
 * in a few requests, not one per member.
 */
function* adjacentRuns(frames: readonly PackMember[]): Generator<PackMember[]> {
  let run: PackMember[] = [];
  let bytes = 0;
  for (const frame of frames) {
    const last = run.at(-1);
    if (last && (last.offset + last.length !== frame.offset || bytes + frame.length > RUN_BYTES)) {
      yield run;
      run = [];
      bytes = 0;
    }
    run.push(frame);
    bytes += frame.length;
  }
  if (run.length > 0) yield run;
}

/** The pack's codec as this build names it; one it does not know fails the pack, named. */
function codecOf(pack: PackUsage): CodecName {
  return codecNamed(pack.codec).name;
}
