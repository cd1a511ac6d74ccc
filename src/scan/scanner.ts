import { readdir } from "node:fs/promises";
import type { Backend, ObjectInfo } from "../backends/backend.js";
import { PosixBackend } from "../backends/posix.js";
import type { CatalogDb } from "../catalog/db.js";
import {
  type FileStat,
  FileUpserter,
  finishScan,
  type ReplicaLocationOf,
  type ScanCounts,
  startScan,
} from "../catalog/files.js";
import { allLocations } from "../catalog/locations.js";
import { UsageError } from "../config/errors.js";
import { type ScanProblem, walkTree } from "./walker.js";

export interface ScanReport extends ScanCounts {
  scanId: number;
  problems: ScanProblem[];
  elapsedMs: number;
}

export interface ScanOptions {
  threads: number;
  /** Entries per catalog transaction batch. */
  batchSize?: number;
}

/**
 * Brings the catalog's view of one location up to date: a POSIX tree is walked by threads, an
 * object store is listed (its inventory). Entries not seen are marked deleted, never dropped.
 */
export async function scanLocation(
  catalog: CatalogDb,
  locationId: number,
  backend: Backend,
  options: ScanOptions,
): Promise<ScanReport> {
  const started = Date.now();
  if (backend instanceof PosixBackend) await assertReadableRoot(backend);
  const scanId = await startScan(catalog, locationId);
  const upserter = new FileUpserter(catalog, locationId, scanId, await replicaLocations(catalog));
  const batchSize = options.batchSize ?? 10_000;
  const walked =
    backend instanceof PosixBackend
      ? await walkTree(backend.root, { threads: options.threads, batchSize, onEntries: (e) => upserter.write(e) })
      : await inventory(backend, batchSize, (e) => upserter.write(e));
  const counts = await finishScan(catalog, locationId, scanId, walked.unreadableDirs, walked.problems.length);
  return { ...counts, scanId, problems: walked.problems, elapsedMs: Date.now() - started };
}

/** Where a stub's replica is, by its location's URL: the URL is a location's identity in the catalog. */
async function replicaLocations(catalog: CatalogDb): Promise<ReplicaLocationOf> {
  const byUrl = new Map((await allLocations(catalog)).map((l) => [l.url, l.id]));
  return (replica) => byUrl.get(replica.url);
}

async function assertReadableRoot(backend: PosixBackend): Promise<void> {
  try {
    await readdir(backend.root);
  } catch (err) {
    throw new UsageError(`${backend.url}: cannot read the location root: ${(err as Error).message}`);
  }
}

async function inventory(backend: Backend, batchSize: number, write: (entries: FileStat[]) => Promise<void>) {
  let batch: FileStat[] = [];
  for await (const object of backend.list()) {
    batch.push(objectToStat(object));
    if (batch.length >= batchSize) {
      await write(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await write(batch);
  return { problems: [], unreadableDirs: [] };
}

/** An object seen as a file: its carried attributes where Strata wrote it, else what the store says. */
function objectToStat(object: ObjectInfo): FileStat {
  const attrs = object.attributes;
  const mtimeUs = attrs?.mtimeUs ?? object.modifiedUs;
  const stat: FileStat = {
    path: object.key,
    kind: "file",
    size: object.size,
    mtimeUs,
    atimeUs: mtimeUs,
    ctimeUs: object.modifiedUs,
    mode: 0o100000 | (attrs?.mode ?? 0o644),
    uid: attrs?.uid ?? 0,
    gid: attrs?.gid ?? 0,
    inode: 0,
  };
  const hash = object.sha256 ?? attrs?.sha256;
  if (hash) stat.hash = hash;
  return stat;
}
