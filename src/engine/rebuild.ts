import type { Backend, ObjectInfo } from "../backends/backend.js";
import { contentSha256, contentSize } from "../backends/metadata.js";
import type { CatalogDb } from "../catalog/db.js";
import { startScan } from "../catalog/files.js";
import { allLocations } from "../catalog/locations.js";
import { type MemberReplica, recordPack } from "../catalog/packs.js";
import { closeListing, type FoundCopy, type LinkOutcome, linkCopies, recordReadHash } from "../catalog/repair.js";
import type { LocationRow } from "../catalog/schema.js";
import { PACK_INDEX_SUFFIX } from "../codec/pack/pack-index.js";
import { type ScanReport, scanLocation } from "../scan/scanner.js";
import { hashObject } from "../transfer/copy.js";
import { chunks, runPool } from "../transfer/pool.js";
import { changedSince } from "./on-disk.js";
import { PACK_PREFIX } from "./pack.js";
import { type CheckedPack, checkedPack, memberReplica } from "./pack-store.js";

/*
 * `strata catalog rebuild`: the catalog's files and replicas from the stores alone. A POSIX tree
 * is scanned (a scan knows Strata's stubs from their content: a released file's row keeps the
 * original size, mtime and hash, and learns the replicas its stub names); an object store is
 * listed, and each object is tied, by the origin and path its metadata carries, to the file it is
 * a copy of. Rows the catalog already holds are kept as they are, so a rebuild next to a live
 * catalog adds only what it lacks, and a second rebuild adds nothing.
 */

export interface RebuildTarget {
  row: LocationRow;
  backend: Backend;
}

export interface RebuildOptions {
  scanThreads: number;
  /** Objects whose metadata is read at once, where a listing does not carry it (S3: a HEAD each). */
  heads: number;
  /** Files of the trees read at once to learn their hashes. */
  readers: number;
  /** Hears of each object that could not be tied to a file; it is left where it is. */
  unlinked?(location: string, key: string, reason: string): void;
}

export interface StoreTally {
  location: string;
  objects: number;
  bytes: number;
  /** Replicas recorded now. */
  linked: number;
  /** Replicas the catalog already held. */
  known: number;
  /** Files the catalog did not know, recorded `missing` with the object as their copy. */
  newFiles: number;
  /** Present files read to learn their hash, and those that could not be (changed, unreadable). */
  hashed: number;
  unhashed: number;
  unlinked: { key: string; reason: string }[];
}

export interface RebuildReport {
  scans: (ScanReport & { location: string })[];
  stores: StoreTally[];
}

const BATCH = 500;

/** Trees first, so the listings find the files the trees hold; then every store. */
export async function rebuildCatalog(
  catalog: CatalogDb,
  targets: readonly RebuildTarget[],
  options: RebuildOptions,
): Promise<RebuildReport> {
  const report: RebuildReport = { scans: [], stores: [] };
  for (const { row, backend } of targets.filter((t) => t.backend.tree)) {
    const scan = await scanLocation(catalog, row.id, backend, { threads: options.scanThreads });
    report.scans.push({ location: row.name, ...scan });
  }
  const trees = new Map(targets.flatMap((t) => (t.backend.tree ? [[t.row.id, t.backend] as const] : [])));
  for (const target of targets.filter((t) => !t.backend.tree)) {
    report.stores.push(await relinkStore(catalog, target, trees, options));
  }
  return report;
}

async function relinkStore(
  catalog: CatalogDb,
  target: RebuildTarget,
  trees: ReadonlyMap<number, Backend>,
  options: RebuildOptions,
): Promise<StoreTally> {
  const { row, backend } = target;
  const sources = await locationsByUrl(catalog);
  const scanId = await startScan(catalog, row.id);
  const tally: StoreTally = {
    location: row.name,
    objects: 0,
    bytes: 0,
    linked: 0,
    known: 0,
    newFiles: 0,
    hashed: 0,
    unhashed: 0,
    unlinked: [],
  };
  const unlinked = (key: string, reason: string) => {
    tally.unlinked.push({ key, reason });
    options.unlinked?.(row.name, key, reason);
  };
  for await (const batch of chunks(allWithMetadata(backend, backend.list(), options.heads), BATCH)) {
    const copies: FoundCopy[] = [];
    for (const object of batch) {
      tally.objects += 1;
      tally.bytes += object.size;
      // A pack is linked through its index object; the pack object itself is no one file's copy.
      if (object.key.startsWith(PACK_PREFIX)) {
        if (object.key.endsWith(PACK_INDEX_SUFFIX))
          await relinkPack(catalog, target, object.key, sources, tally, unlinked);
        continue;
      }
      const found = copyOf(object, row, sources);
      if ("reason" in found) unlinked(object.key, found.reason);
      else copies.push(found);
    }
    const outcomes = await linkCopies(catalog, row.id, copies, scanId);
    const toHash: { fileId: number; copy: FoundCopy }[] = [];
    outcomes.forEach((outcome, i) => {
      const copy = copies[i] as FoundCopy;
      tallyOutcome(tally, outcome, (reason) => unlinked(copy.key, reason));
      // Also for a copy already known: a rebuild killed between recording it and reading the file.
      if ("toHash" in outcome && outcome.toHash) toHash.push({ fileId: outcome.fileId, copy });
    });
    await learnHashes(catalog, trees, toHash, options.readers, tally);
  }
  await closeListing(catalog, scanId, { ...tally, unlinked: tally.unlinked.length });
  return tally;
}

/**
 * The members of one pack, from its index object checked against the pack: each tied to its file
 * by the index's origin and the member's path, then recorded with its place in the pack. The
 * replicas are linked first and placed in the pack after; a rebuild killed in between places
 * them when run again (both steps keep what is recorded).
 */
async function relinkPack(
  catalog: CatalogDb,
  target: RebuildTarget,
  indexKey: string,
  sources: ReadonlyMap<string, LocationRow>,
  tally: StoreTally,
  unlinked: (key: string, reason: string) => void,
): Promise<void> {
  const key = indexKey.slice(0, -PACK_INDEX_SUFFIX.length);
  let pack: CheckedPack | undefined;
  try {
    pack = await checkedPack(target.backend, key);
  } catch (err) {
    unlinked(key, (err as Error).message);
    return;
  }
  if (!pack) return unlinked(indexKey, "its pack is gone (a write that never finished)");
  const source = sources.get(pack.header.origin);
  if (!source) return unlinked(key, `its source ${pack.header.origin} is no location of this catalog`);
  const copies: FoundCopy[] = pack.members.map((member) => ({
    key,
    size: member.size,
    hash: member.sha256,
    storageClass: null,
    etag: null,
    source: {
      locationId: source.id,
      path: member.path,
      mtimeUs: member.mtimeUs,
      mode: member.mode,
      uid: member.uid,
      gid: member.gid,
    },
  }));
  const members: MemberReplica[] = [];
  for (const [i, outcome] of (await linkCopies(catalog, target.row.id, copies, undefined)).entries()) {
    const member = pack.members[i] as CheckedPack["members"][number];
    tallyOutcome(tally, outcome, (reason) => unlinked(`${key} member ${member.path}`, reason));
    if (outcome.kind !== "linked" && outcome.kind !== "known") continue;
    members.push(
      memberReplica(target.row.id, pack, member, { id: outcome.fileId, size: member.size, mtime_us: member.mtimeUs }),
    );
  }
  const { header } = pack;
  await recordPack(
    catalog,
    {
      locationId: target.row.id,
      key,
      size: header.size,
      hash: header.sha256,
      codec: header.codec,
      members: header.members,
    },
    members,
  );
}

/**
 * The no-op sync after a rebuild needs each copied file's hash (the sync plan compares it with
 * the replica's). It is read from the file itself, never taken from the object's metadata: a file
 * edited with its mtime put back, or an object forged to claim a file, would otherwise pass for
 * a good copy, and a release would then free the only real data. Files of trees not named in
 * this rebuild, and of object stores, keep no hash; the next sync compares them by content.
 */
async function learnHashes(
  catalog: CatalogDb,
  trees: ReadonlyMap<number, Backend>,
  files: readonly { fileId: number; copy: FoundCopy }[],
  readers: number,
  tally: StoreTally,
): Promise<void> {
  const readable = files.flatMap(({ fileId, copy }) => {
    const tree = trees.get(copy.source.locationId);
    return tree ? [{ fileId, copy, tree }] : [];
  });
  await runPool(each(readable), readers, async ({ fileId, copy, tree }) => {
    const version = { path: copy.source.path, size: copy.size, mtime_us: copy.source.mtimeUs };
    let hash: string | undefined;
    try {
      // The tree's reader checks that the file held still while it was read.
      if ((await changedSince(tree, version)) === undefined) hash = await hashObject(tree, copy.source.path);
    } catch {
      // Unreadable now: its hash stays unknown, which costs the next sync a read, nothing more.
    }
    if (hash === undefined) {
      tally.unhashed += 1;
      return;
    }
    await recordReadHash(catalog, { id: fileId, size: copy.size, mtimeUs: copy.source.mtimeUs }, hash);
    tally.hashed += 1;
  });
}

function tallyOutcome(tally: StoreTally, outcome: LinkOutcome, unlinked: (reason: string) => void): void {
  if (outcome.kind === "linked") {
    tally.linked += 1;
    if (outcome.newFile) tally.newFiles += 1;
  } else if (outcome.kind === "known") {
    tally.known += 1;
  } else if (outcome.kind === "taken") {
    unlinked(`the catalog records this file's copy here at ${JSON.stringify(outcome.otherKey)}`);
  } else {
    unlinked("the catalog knows no such file");
  }
}

/** Every location the catalog knows, by URL: an object's origin is its source location's URL. */
export async function locationsByUrl(catalog: CatalogDb): Promise<Map<string, LocationRow>> {
  return new Map((await allLocations(catalog)).map((l) => [l.url, l]));
}

/**
 * The file an object at `at` is a copy of, from the metadata Strata wrote on it (origin URL, path,
 * mtime, SHA-256), or why it cannot be told. Metadata is untrusted: a path must look like a key.
 */
export function copyOf(
  object: ObjectInfo,
  at: LocationRow,
  sources: ReadonlyMap<string, LocationRow>,
): FoundCopy | { reason: string } {
  const attrs = object.attributes;
  if (!attrs) return { reason: "no Strata metadata (not written by Strata, or unreadable)" };
  if (attrs.origin === undefined || attrs.path === undefined) {
    return { reason: "its metadata names no source location and path" };
  }
  const source = sources.get(attrs.origin);
  if (!source) return { reason: `its source ${attrs.origin} is no location of this catalog` };
  if (source.id === at.id) return { reason: "its metadata names this very location as its source" };
  if (!plausibleKey(attrs.path)) return { reason: `its metadata names an unusable path ${JSON.stringify(attrs.path)}` };
  // A compressed object's metadata holds its content's hash and size: those are the file's.
  const hash = contentSha256(object);
  if (!hash) return { reason: "its metadata has no SHA-256 (read it with `strata verify` once recorded)" };
  return {
    key: object.key,
    size: contentSize(object),
    hash,
    storageClass: object.storageClass ?? null,
    etag: object.etag ?? null,
    ...(attrs.codec ? { compressed: { codec: attrs.codec, storedSize: object.size } } : {}),
    source: {
      locationId: source.id,
      path: attrs.path,
      mtimeUs: attrs.mtimeUs,
      ...(attrs.mode !== undefined ? { mode: attrs.mode } : {}),
      ...(attrs.uid !== undefined ? { uid: attrs.uid } : {}),
      ...(attrs.gid !== undefined ? { gid: attrs.gid } : {}),
    },
  };
}

/** Relative, `/`-separated, no empty, `.` or `..` segment: what a file path in the catalog is. */
function plausibleKey(path: string): boolean {
  return path !== "" && path.split("/").every((segment) => segment !== "" && segment !== "." && segment !== "..");
}

/**
 * The listing's objects with their metadata, several read at once and handed on in listing order
 * (see withMetadata).
 */
async function* allWithMetadata(
  backend: Backend,
  objects: AsyncIterable<ObjectInfo>,
  concurrency: number,
): AsyncGenerator<ObjectInfo> {
  for await (const page of chunks(objects, concurrency * 4)) {
    const full = new Array<ObjectInfo>(page.length);
    await runPool(each(page.entries()), concurrency, async ([i, object]) => {
      full[i] = await withMetadata(backend, object);
    });
    yield* full;
  }
}

/**
 * A listed object with its metadata: as listed where the listing carries it (the embedded store),
 * else read with a stat (S3, Azure, GCS list names and sizes only). One gone since it was listed
 * stays as listed, without metadata.
 */
export async function withMetadata(backend: Backend, object: ObjectInfo): Promise<ObjectInfo> {
  if (object.metadata !== undefined) return object;
  return (await backend.stat(object.key)) ?? object;
}

/** An array's items as the async stream runPool draws from. */
async function* each<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}
