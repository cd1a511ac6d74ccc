import { readdir, stat } from "node:fs/promises";
import type { Backend, FileTree, ObjectInfo } from "../backends/backend.js";
import { contentSha256, contentSize } from "../backends/metadata.js";
import { type CatalogDb, checkpointPassively } from "../catalog/db.js";
import {
  abandonScan,
  countSeen,
  finishScan,
  lastScanEntries,
  liveEntries,
  locationHasFiles,
  type ScanCounts,
  type SeenCounts,
  startScan,
} from "../catalog/files.js";
import { locationById, recordRootDevice } from "../catalog/locations.js";
import type { LocationRow } from "../catalog/schema.js";
import { UsageError } from "../config/errors.js";
import { CatalogWriter, type WrittenProgress } from "./catalog-writer.js";
import { ENTRIES_PER_MESSAGE, type EntryBatch, EntryBatchBuilder, type ScannedEntry } from "./entry-batch.js";
import { type ScanProblem, type WalkResult, walkTree } from "./walker.js";

export interface ScanReport extends ScanCounts {
  scanId: number;
  /** Threads the scan ran besides the caller's (walkers and the catalog writer); 0 for a small tree. */
  threads: number;
  problems: ScanProblem[];
  elapsedMs: number;
}

export interface ScanOptions {
  threads: number;
  /** `threads` were asked for by name (`--threads`): run even for a small tree. */
  threadsAskedFor?: boolean;
  /** Entries per catalog transaction batch. */
  batchSize?: number;
  /**
   * The root is as it should be although it is empty or on another device than first scanned:
   * mark what is gone deleted, and record the device it is on now.
   */
  acceptRoot?: boolean;
  /** Hears of entries as they are recorded, for a progress line. */
  onProgress?: WrittenProgress;
}

/**
 * Transactions the writer may have queued before the walk waits for it: enough that a walker
 * never waits on a commit, few enough that memory stays flat whatever the tree's size.
 */
const QUEUED_TRANSACTIONS = 3;

/**
 * A location whose last scan saw fewer entries, or whose root is empty (a download's new
 * target), is walked and written on this thread. Walker and writer threads would cost it more
 * than they save: each an isolate of its own (about 9 MB before any code, and a young generation
 * that grows to tens of MB while it allocates) with its own copy of the modules, the writer with
 * its own catalog connection; a no-op re-sync of 50,000 files peaked with them. A tree never
 * scanned, or one that saw more, gets the threads.
 */
const SMALL_TREE_ENTRIES = 100_000;

/**
 * Brings the catalog's view of one location up to date: a POSIX tree is walked by threads, an
 * object store is listed (its inventory), and a writer thread records the entries on a
 * connection of its own, so the walk never waits for the catalog; a small tree is walked and
 * written on this thread (SMALL_TREE_ENTRIES). Entries not seen are marked deleted, never
 * dropped, once every entry seen is committed.
 */
export async function scanLocation(
  catalog: CatalogDb,
  locationId: number,
  backend: Backend,
  options: ScanOptions,
): Promise<ScanReport> {
  const started = Date.now();
  const location = await locationById(catalog, locationId);
  const tree = backend.tree;
  const root = tree ? await checkRoot(location, backend.url, tree, options) : undefined;
  const device = root?.device;
  const locationWasEmpty = !(await locationHasFiles(catalog.db, locationId));
  const onThisThread =
    !options.threadsAskedFor &&
    (root?.empty || ((await lastScanEntries(catalog, locationId)) ?? Number.POSITIVE_INFINITY) < SMALL_TREE_ENTRIES);
  const scanId = await startScan(catalog, locationId);
  const batchSize = options.batchSize ?? 10_000;
  const checkpoint = checkpointBehind(catalog);
  const writer = new CatalogWriter(
    { catalogUrl: catalog.url, locationId, scanId, batchSize },
    QUEUED_TRANSACTIONS * batchSize,
    (entries, bytes) => {
      checkpoint();
      options.onProgress?.(entries, bytes);
    },
    onThisThread,
  );
  let seen = 0;
  const write = (batch: EntryBatch) => {
    seen += batch.paths.length;
    return writer.write(batch);
  };
  let walked: WalkResult;
  let seenCounts: SeenCounts;
  try {
    walked = tree
      ? await walkTree(tree.root, {
          threads: onThisThread ? 0 : options.threads,
          onEntries: write,
          // Behind: a whole transaction waits besides the one being written.
          consumerBehind: () => writer.backlog > 2 * batchSize,
        })
      : await inventory(backend, write);
    const { closed } = await writer.commitAll();
    // Counted while the writer builds a first scan's deferred indexes, on the other core; what
    // follows writes, so it waits for the writer to be done.
    [seenCounts] = await Promise.all([countSeen(catalog, locationId, scanId), closed]);
  } catch (err) {
    await writer.stop();
    // Nothing was marked deleted; the entries written stay, and the next scan sees them again.
    // Marking the run failed is best effort: the catalog may be what failed, and its error is
    // the one to report.
    await abandonScan(catalog, scanId).catch(() => {});
    throw err;
  }
  if (seen === 0 && !options.acceptRoot) await refuseIfEmptied(catalog, location, backend, scanId);
  const counts = await finishScan(catalog, locationId, scanId, walked.unreadableDirs, walked.problems.length, {
    locationWasEmpty,
    seen: seenCounts,
  });
  if (device !== undefined && seen > 0 && device !== Number(location.root_device ?? Number.NaN)) {
    await recordRootDevice(catalog, locationId, device);
  }
  const threads = onThisThread ? 0 : (tree ? options.threads : 0) + 1;
  return { ...counts, scanId, threads, problems: walked.problems, elapsedMs: Date.now() - started };
}

/**
 * After each of the writer thread's commits: its pages copied back from the WAL into the database
 * on this thread's connection, while the writer goes on (it leaves checkpoints to us, see
 * `bulkWrites`). One at a time; a failed one is left to the writer's own, past its bound.
 */
function checkpointBehind(catalog: CatalogDb): () => void {
  let running = false;
  return () => {
    if (running) return;
    running = true;
    checkpointPassively(catalog)
      .catch(() => {})
      .finally(() => {
        running = false;
      });
  };
}

/**
 * The device the root is on, and whether it holds no entries, after checking it is the
 * filesystem first scanned there. A missing root, or one on another device, is most likely an
 * unmounted filesystem (its mount point, or nothing): scanning it would take every file for
 * deleted, and pruning would then delete their only copies. Refused before anything is written.
 */
async function checkRoot(
  location: LocationRow,
  url: string,
  tree: FileTree,
  options: ScanOptions,
): Promise<{ device: number; empty: boolean }> {
  const unmounted = (why: string, fix: string) =>
    new UsageError(`${location.name} looks unmounted: ${why}; nothing was scanned or marked deleted. ${fix}`);
  const first = location.root_device;
  let device: number;
  let empty: boolean;
  try {
    device = (await stat(tree.root)).dev;
    empty = (await readdir(tree.root)).length === 0;
  } catch (err) {
    // A root that held files before and is gone now is a mount point gone with its filesystem.
    if ((err as NodeJS.ErrnoException).code === "ENOENT" && first !== null) {
      throw unmounted(`its root ${tree.root} is missing`, "Mount it, or point the location elsewhere");
    }
    throw new UsageError(`${url}: cannot read the location root: ${(err as Error).message}`);
  }
  if (first !== null && Number(first) !== device && !options.acceptRoot) {
    throw unmounted(
      `its root ${tree.root} is on device ${device}, not on device ${first} as when first scanned`,
      `Mount it; if the tree moved to another filesystem for good, run \`strata scan ${location.name} --accept-root\``,
    );
  }
  return { device, empty };
}

/** A root (or listing) with no entries at all while the catalog holds live files there. */
async function refuseIfEmptied(catalog: CatalogDb, location: LocationRow, backend: Backend, scanId: number) {
  const live = await liveEntries(catalog, location.id);
  if (live === 0) return;
  await abandonScan(catalog, scanId);
  throw new UsageError(
    `${location.name} looks unmounted: ${backend.url} is empty, but the catalog holds ${live} entries there; ` +
      `nothing was marked deleted. Mount it; if everything was deleted on purpose, run ` +
      `\`strata scan ${location.name} --accept-root\``,
  );
}

async function inventory(backend: Backend, write: (batch: EntryBatch) => Promise<void>): Promise<WalkResult> {
  const batch = new EntryBatchBuilder(ENTRIES_PER_MESSAGE);
  for await (const object of backend.list()) {
    batch.add(objectToEntry(object));
    if (batch.full) await write(batch.take());
  }
  if (batch.length > 0) await write(batch.take());
  return { problems: [], unreadableDirs: [] };
}

/** An object seen as a file: its carried attributes where Strata wrote it, else what the store says. */
function objectToEntry(object: ObjectInfo): ScannedEntry {
  const attrs = object.attributes;
  const mtimeUs = attrs?.mtimeUs ?? object.modifiedUs;
  const stat: ScannedEntry = {
    path: object.key,
    kind: "file",
    size: contentSize(object),
    mtimeUs,
    atimeUs: mtimeUs,
    ctimeUs: object.modifiedUs,
    mode: 0o100000 | (attrs?.mode ?? 0o644),
    uid: attrs?.uid ?? 0,
    gid: attrs?.gid ?? 0,
    inode: 0,
  };
  const hash = contentSha256(object);
  if (hash) stat.hash = hash;
  return stat;
}
