import { type Backend, NeedsRestoreError, type ObjectInfo, type PendingUpload } from "../backends/backend.js";
import { printablePath } from "../backends/keys.js";
import type { CatalogDb } from "../catalog/db.js";
import { fileByPath } from "../catalog/files.js";
import { packRowsAt, packUsage } from "../catalog/packs.js";
import {
  correctReplicaHash,
  type HashDisagreement,
  hashDisagreements,
  journaledUploads,
  linkCopies,
  markLostIfStill,
  type ReplicaEntry,
  replicasInKeyOrder,
  VOUCHED_STATES,
  vouchedReplicas,
} from "../catalog/repair.js";
import type { LocationRow } from "../catalog/schema.js";
import { forgetUploads } from "../catalog/uploads.js";
import { PACK_INDEX_SUFFIX } from "../codec/pack/pack-index.js";
import { hashObject } from "../transfer/copy.js";
import { PACK_PREFIX } from "./pack.js";
import { copyOf, locationsByUrl, withMetadata } from "./rebuild.js";

type PackRow = Awaited<ReturnType<typeof packRowsAt>>[number];

/*
 * `strata catalog check`: does the catalog agree with the stores? Read-only unless asked to
 * repair, and then only what cannot lose data: a replica whose object is gone is marked lost (it
 * held nothing anyway), an orphan that names a file the catalog knows is recorded as its copy,
 * an unfinished upload past its grace period is aborted (its parts are no file's only copy), and
 * a replica row whose hash disagrees with its file is corrected from the object's bytes, or
 * marked lost when its file is still on disk. An object is never deleted: an orphan nothing
 * claims may be the only copy of someone's data, and is only reported. Packs are checked too and
 * never repaired here: a member row naming no pack row at its key or lying outside its pack, a
 * pack row nothing references (a `pack gc` candidate), a pack object or index no row records.
 */

export type ProblemKind = "missing" | "size" | "orphan" | "upload" | "hash" | "pack";

export interface Problem {
  kind: ProblemKind;
  location: string;
  key: string;
  detail: string;
  /** With --repair: what was done, or undefined when it was left as it is. */
  repaired?: string;
}

export interface CheckTarget {
  row: LocationRow;
  backend: Backend;
}

export interface CheckOptions {
  repair: boolean;
  /** Uploads begun less than this long ago may be in progress: neither reported nor aborted. */
  olderThanMs: number;
}

export interface CheckTally {
  locations: number;
  replicas: number;
  objects: number;
  problems: Record<ProblemKind, number>;
  repaired: number;
  /** Uploads younger than the grace period, taken to be in progress. */
  recentUploads: number;
}

export async function checkCatalog(
  catalog: CatalogDb,
  targets: readonly CheckTarget[],
  options: CheckOptions,
  heard: (problem: Problem) => void,
): Promise<CheckTally> {
  const tally: CheckTally = {
    locations: targets.length,
    replicas: 0,
    objects: 0,
    problems: { missing: 0, size: 0, orphan: 0, upload: 0, hash: 0, pack: 0 },
    repaired: 0,
    recentUploads: 0,
  };
  const report = (problem: Problem) => {
    tally.problems[problem.kind] += 1;
    if (problem.repaired !== undefined) tally.repaired += 1;
    heard(problem);
  };
  for (const target of targets) {
    const checker = new LocationCheck(catalog, target, options, tally, report);
    if (target.backend.tree) await checker.replicasOneByOne();
    else {
      await checker.replicasAgainstListing();
      await checker.packRows();
    }
    await checker.uploads();
    await checker.hashes();
  }
  return tally;
}

class LocationCheck {
  private readonly name: string;
  private sourcesByUrl: Map<string, LocationRow> | undefined;
  /** The location's pack rows by id and by key (a pack holds many files: far fewer rows than files). */
  private packs: { byId: Map<number, PackRow>; byKey: Map<string, PackRow> } | undefined;
  /** A pack whose size disagreement was reported: once per pack, not once per member. */
  private readonly packSizeReported = new Set<number>();

  constructor(
    private readonly catalog: CatalogDb,
    private readonly target: CheckTarget,
    private readonly options: CheckOptions,
    private readonly tally: CheckTally,
    private readonly report: (problem: Problem) => void,
  ) {
    this.name = target.row.name;
  }

  /**
   * A tree (a POSIX copy target) is asked file by file: listing it would walk every file of a
   * tree that is mostly a source, and its files, unlike objects, carry no metadata to adopt.
   */
  async replicasOneByOne(): Promise<void> {
    for await (const replica of vouchedReplicas(this.catalog, this.target.row.id)) {
      this.tally.replicas += 1;
      const object = await this.target.backend.stat(replica.key);
      if (!object) await this.missing(replica);
      else if (object.size !== storedBytes(replica)) await this.sizeDiffers(replica, object);
    }
  }

  /**
   * A store's listing and the replica rows, both in key order (by bytes), walked side by side:
   * one pass over each, nothing held but the current pair. A row without its object is looked
   * at once more (a HEAD) before it is called missing.
   */
  async replicasAgainstListing(): Promise<void> {
    const objects = orderChecked(this.target.backend.list(), this.target.backend.url);
    const rows = replicasInKeyOrder(this.catalog, this.target.row.id);
    let object = await objects.next();
    let row = await rows.next();
    let objectClaimed = false;
    while (!object.done || !row.done) {
      const order = object.done ? 1 : row.done ? -1 : compareKeys(object.value.key, row.value.key);
      if (order < 0) {
        const listed = object.value as ObjectInfo;
        this.tally.objects += 1;
        if (!objectClaimed) await this.orphan(listed);
        object = await objects.next();
        objectClaimed = false;
      } else {
        const replica = row.value as ReplicaEntry;
        const vouched = VOUCHED_STATES.includes(replica.state);
        if (vouched) this.tally.replicas += 1;
        if (replica.pack_id !== null) await this.memberOfPack(replica);
        if (order === 0) {
          objectClaimed = true;
          const listed = object.value as ObjectInfo;
          if (replica.pack_id !== null) {
            if (vouched) await this.memberWithin(replica, listed);
          } else if (vouched && listed.size !== storedBytes(replica)) await this.sizeDiffers(replica, listed);
        } else if (vouched && !(await this.target.backend.stat(replica.key))) {
          await this.missing(replica);
        }
        row = await rows.next();
      }
    }
  }

  private missing(replica: ReplicaEntry): Promise<void> {
    return this.unfounded(
      replica,
      "missing",
      `${copyName(replica)} recorded ${replica.state}, the store has no such object`,
    );
  }

  private sizeDiffers(replica: ReplicaEntry, object: ObjectInfo): Promise<void> {
    return this.unfounded(
      replica,
      "size",
      `${copyName(replica)} recorded as ${storedBytes(replica)} bytes, the object has ${object.size}`,
    );
  }

  /** A replica row the store does not bear out: it vouches for bytes nobody has, so a repair marks it lost. */
  private async unfounded(replica: ReplicaEntry, kind: "missing" | "size", detail: string): Promise<void> {
    const repaired =
      this.options.repair && (await markLostIfStill(this.catalog, replica.id, replica.state))
        ? "marked lost"
        : undefined;
    this.report({ kind, location: this.name, key: replica.key, detail, ...(repaired ? { repaired } : {}) });
  }

  private async sources(): Promise<Map<string, LocationRow>> {
    this.sourcesByUrl ??= await locationsByUrl(this.catalog);
    return this.sourcesByUrl;
  }

  private async packRowsOf(): Promise<{ byId: Map<number, PackRow>; byKey: Map<string, PackRow> }> {
    if (!this.packs) {
      const rows = await packRowsAt(this.catalog, this.target.row.id);
      this.packs = { byId: new Map(rows.map((r) => [r.id, r])), byKey: new Map(rows.map((r) => [r.key, r])) };
    }
    return this.packs;
  }

  /** A member row must name a pack row of this location at its own key. */
  private async memberOfPack(replica: ReplicaEntry): Promise<void> {
    const pack = (await this.packRowsOf()).byId.get(replica.pack_id as number);
    if (pack && pack.key === replica.key) return;
    const detail = pack
      ? `${copyName(replica)} is recorded in pack #${pack.id}, which lies at ${JSON.stringify(pack.key)}`
      : `${copyName(replica)} is recorded in pack #${replica.pack_id}, which the catalog does not record here`;
    this.report({ kind: "pack", location: this.name, key: replica.key, detail });
  }

  /** A member's frame must lie inside the pack object, and the object be the size its row says. */
  private async memberWithin(replica: ReplicaEntry, listed: ObjectInfo): Promise<void> {
    const end = (replica.pack_offset ?? 0) + (replica.pack_length ?? 0);
    if (end > listed.size) {
      const detail = `${copyName(replica)} lies at bytes ${replica.pack_offset}–${end} of the pack, which has ${listed.size}`;
      this.report({ kind: "pack", location: this.name, key: replica.key, detail });
    }
    const pack = (await this.packRowsOf()).byId.get(replica.pack_id as number);
    // A row naming another pack's id was reported by memberOfPack; its size is not this object's.
    if (pack && pack.key === replica.key && pack.size !== listed.size && !this.packSizeReported.has(pack.id)) {
      this.packSizeReported.add(pack.id);
      const detail = `pack recorded as ${pack.size} bytes, the object has ${listed.size}`;
      this.report({ kind: "pack", location: this.name, key: replica.key, detail });
    }
  }

  /**
   * An object under the packs' prefix that no replica row names: a pack (or the index of one)
   * whose row is on record is no orphan; one without is a pack nobody recorded.
   */
  private async unclaimedPackObject(listed: ObjectInfo): Promise<boolean> {
    if (!listed.key.startsWith(PACK_PREFIX)) return false;
    const isIndex = listed.key.endsWith(PACK_INDEX_SUFFIX);
    const packKey = isIndex ? listed.key.slice(0, -PACK_INDEX_SUFFIX.length) : listed.key;
    if ((await this.packRowsOf()).byKey.has(packKey)) return true;
    const detail = isIndex
      ? "a pack index whose pack no pack row records"
      : "a pack object no pack row records (`strata catalog rebuild` relinks it from its index)";
    this.report({ kind: "orphan", location: this.name, key: listed.key, detail });
    return true;
  }

  /** Pack rows nothing references (gc candidates), and memberless ones whose object is gone. */
  async packRows(): Promise<void> {
    for await (const pack of packUsage(this.catalog, this.target.row.id)) {
      if (pack.liveFrames > 0) continue;
      const gone = !(await this.target.backend.stat(pack.key));
      const detail = `pack records no member${gone ? " and its object is gone" : ""}: a candidate for \`strata pack gc\``;
      this.report({ kind: "pack", location: this.name, key: pack.key, detail });
    }
  }

  /** An object no replica row names; known all the same if it is a file of this location (a scanned store). */
  private async orphan(listed: ObjectInfo): Promise<void> {
    if (await this.unclaimedPackObject(listed)) return;
    const own = await fileByPath(this.catalog, this.target.row.id, listed.key);
    if (own && own.state !== "deleted") return;
    const object = await withMetadata(this.target.backend, listed);
    const sources = await this.sources();
    const found = copyOf(object, this.target.row, sources);
    if ("reason" in found) {
      this.report({ kind: "orphan", location: this.name, key: object.key, detail: found.reason });
      return;
    }
    const sourceName = [...sources.values()].find((l) => l.id === found.source.locationId)?.name;
    const known = await fileByPath(this.catalog, found.source.locationId, found.source.path);
    const detail = `a copy of ${sourceName}:${printablePath(found.source.path)}${known ? "" : ", a file the catalog does not know"}`;
    if (!this.options.repair) {
      this.report({ kind: "orphan", location: this.name, key: object.key, detail });
      return;
    }
    const [outcome] = await linkCopies(this.catalog, this.target.row.id, [found]);
    const repaired = outcome?.kind === "linked" ? "recorded as its replica" : undefined;
    const why =
      outcome?.kind === "taken"
        ? `; not adopted: the catalog records its copy here at ${JSON.stringify(outcome.otherKey)}`
        : outcome?.kind === "no-file"
          ? "; not adopted: the catalog knows no such file"
          : "";
    this.report({
      kind: "orphan",
      location: this.name,
      key: object.key,
      detail: `${detail}${why}`,
      ...(repaired ? { repaired } : {}),
    });
  }

  /**
   * Unfinished uploads: those the store lists (S3 multipart), and those the catalog's journal
   * holds, matched by upload id. Ones begun within the grace period may belong to a run still
   * going and are left alone.
   */
  async uploads(): Promise<void> {
    const { backend } = this.target;
    const journal = await journaledUploads(this.catalog, this.target.row.id);
    const listed = backend.listUploads ? await collect(backend.listUploads()) : undefined;
    const cutoff = Date.now() - this.options.olderThanMs;
    const journalRowOf = new Map(journal.map((j) => [j.upload_id, j]));
    for (const upload of listed ?? []) {
      const row = journalRowOf.get(upload.uploadId);
      journalRowOf.delete(upload.uploadId);
      if (upload.startedAt > cutoff) {
        this.tally.recentUploads += 1;
        continue;
      }
      const detail = `upload ${upload.uploadId} begun ${new Date(upload.startedAt).toISOString()}, never finished${row ? " (journaled)" : ""}`;
      await this.unfinished(upload, detail, row?.id);
    }
    for (const row of journalRowOf.values()) {
      if (row.created_at > cutoff) {
        this.tally.recentUploads += 1;
        continue;
      }
      const upload = { key: row.key, uploadId: row.upload_id, startedAt: row.created_at };
      // A store that lists its uploads and did not list this one has no such upload any more.
      const gone = listed !== undefined;
      const detail = gone
        ? `journaled upload ${row.upload_id} is gone from the store`
        : `journaled upload ${row.upload_id} begun ${new Date(row.created_at).toISOString()}, never finished`;
      await this.unfinished(upload, detail, row.id, gone);
    }
  }

  private async unfinished(upload: PendingUpload, detail: string, journalId?: number, gone = false): Promise<void> {
    let repaired: string | undefined;
    if (this.options.repair) {
      const abort = this.target.backend.abortUpload?.bind(this.target.backend);
      if (!gone && abort) await abort(upload.key, upload.uploadId);
      if (journalId !== undefined) await forgetUploads(this.catalog, [journalId]);
      repaired = gone ? "dropped from the journal" : "aborted";
    }
    this.report({ kind: "upload", location: this.name, key: upload.key, detail, ...(repaired ? { repaired } : {}) });
  }

  /** Replica rows whose hash is not their file's although made from the same version. */
  async hashes(): Promise<void> {
    for await (const row of hashDisagreements(this.catalog, this.target.row.id)) {
      const detail = `${row.file_location}:${row.path} has SHA-256 ${row.file_hash}, its replica here ${row.replica_hash}`;
      const repaired = this.options.repair ? await this.settleHash(row) : undefined;
      this.report({ kind: "hash", location: this.name, key: row.key, detail, ...(repaired ? { repaired } : {}) });
    }
  }

  /**
   * Which row is right is read from the object itself: its bytes hash to the file's hash (the
   * replica row was wrong: corrected), or they do not and the file is on disk to copy again
   * (the replica is marked lost). A released file whose only copies disagree is left for a person.
   */
  private async settleHash(row: HashDisagreement): Promise<string | undefined> {
    let actual: string;
    try {
      actual = await hashObject(this.target.backend, row.key);
    } catch (err) {
      if (err instanceof NeedsRestoreError) return undefined;
      throw err;
    }
    if (actual === row.file_hash) {
      return (await correctReplicaHash(this.catalog, row.replica_id, row.replica_hash, actual))
        ? "replica's hash corrected from its bytes"
        : undefined;
    }
    if (row.file_state === "present" && (await markLostIfStill(this.catalog, row.replica_id, row.replica_state))) {
      return "marked lost: the object does not hold the file, which the next sync copies again";
    }
    return undefined;
  }
}

/** "the copy of scratch:a/b.dat", to tell which file a replica row speaks for. */
function copyName(replica: ReplicaEntry): string {
  return `the copy of ${replica.file_location}:${printablePath(replica.path)}`;
}

/** Keys compared as stores and the catalog order them: by their UTF-8 bytes. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * The listing, refusing to go on if it is not in key order: a merge against an unordered listing
 * would call present objects missing.
 */
async function* orderChecked(objects: AsyncIterable<ObjectInfo>, url: string): AsyncGenerator<ObjectInfo> {
  let previous: string | undefined;
  for await (const object of objects) {
    if (previous !== undefined && compareKeys(previous, object.key) >= 0) {
      throw new Error(
        `${url}: listed ${JSON.stringify(object.key)} after ${JSON.stringify(previous)}: not in key order`,
      );
    }
    previous = object.key;
    yield object;
  }
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/** What the store holds for a replica: a compressed copy's frames, else the content itself. */
function storedBytes(replica: ReplicaEntry): number {
  return replica.stored_size ?? replica.size;
}
