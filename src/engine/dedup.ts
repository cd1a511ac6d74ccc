import type { Backend } from "../backends/backend.js";
import type { CatalogDb } from "../catalog/db.js";
import { keyHeldByOthers, keysStillReferenced, type ShareCandidate, shareCandidates } from "../catalog/dedup.js";
import { type ReplicaRecord, recordReplicas, replicaAt } from "../catalog/replicas.js";
import { hashObject } from "../transfer/copy.js";
import { type RetryPolicy, withRetry } from "../transfer/retry.js";
import type { Endpoint, Toolkit } from "./toolkit.js";

/**
 * `dedup: true` on a location: a copy whose content (SHA-256 and size) an object there already
 * holds points its replica at that object's key and moves no bytes. The first writer's key is the
 * shared one (its object keeps its path and metadata, so a rebuild finds that writer); a copy
 * whose own key another file's replica shares goes to a content-addressed key instead, because
 * writing over it would change the other file's bytes.
 */

/** Where a copy goes when its own key is shared: named by its content, so it never holds anything else. */
export function contentAddressedKey(hash: string): string {
  return `.strata-dedup/sha256/${hash}`;
}

/** What deduplication reads of a copy request (the engine's one copy step, copy-file.ts, passes its own). */
export interface DedupCopy {
  catalog: CatalogDb;
  toolkit: Toolkit;
  file: { id: number; path: string; size: number; mtime_us: number };
  source: Endpoint;
  target: Endpoint & { key: string; storageClass?: string | null };
  expectedHash?: string | null;
}

/** Who looks for bytes to share: a file, the place it goes, and how to retry the store's answers. */
interface ShareLookup {
  retry: RetryPolicy;
  file: DedupCopy["file"];
  target: DedupCopy["target"];
}

/** A copy made or shared: the replica that results. */
export interface DedupCopied {
  attempts: number;
  replica: ReplicaRecord;
  shared?: boolean;
}

/**
 * One copy to a dedup location: the content's hash known first (the catalog's, or read once
 * here), then either an object that already holds it is shared, or the bytes are written. Copies
 * of the same content in this process go one after the other, so the second finds the first's.
 * The replica is recorded at once, not in the run's next batch, for the same reason.
 */
export async function copyDeduplicated<Req extends DedupCopy, Copied extends DedupCopied>(
  req: Req,
  write: (req: Req) => Promise<Copied>,
): Promise<DedupCopied> {
  const { catalog, file, target } = req;
  const hashed = req.expectedHash
    ? { value: req.expectedHash, attempts: 0 }
    : await withRetry(req.toolkit.retry, () => hashObject(req.source.backend, file.path));
  const content = { hash: hashed.value, size: file.size };
  return oneAtATime(`${target.locationId}:${content.hash}:${content.size}`, async () => {
    const previous = await replicaAt(catalog, file.id, target.locationId);
    const lookup = { retry: req.toolkit.retry, file, target };
    const shared = await sharedObject(catalog, lookup, content);
    const copied: DedupCopied = shared
      ? { attempts: hashed.attempts, replica: sharedReplica(lookup, shared, content), shared: true }
      : await write({
          ...req,
          expectedHash: content.hash,
          target: { ...target, key: await keyToWrite(catalog, req, content.hash) },
        });
    await recordReplicas(catalog, [copied.replica]);
    // A pack's key holds other members: a pack is only ever removed by its gc.
    if (previous && previous.pack_id === null && previous.key !== copied.replica.key) {
      await dropIfUnreferenced(catalog, target, previous.key);
    }
    return copied;
  });
}

/** The copy's own key, unless another file's replica shares the object there. */
async function keyToWrite(catalog: CatalogDb, req: DedupCopy, hash: string): Promise<string> {
  const held = await keyHeldByOthers(catalog, req.target.locationId, req.target.key, req.file.id);
  return held ? contentAddressedKey(hash) : req.target.key;
}

/**
 * An object (or pack member) at the target that the catalog says holds this content and that is
 * there now, of the size recorded and without a `strata-sha256` that says otherwise (the catalog
 * may be wrong), in the storage class the copy asks for. A member's pack must be the object on
 * record: its size, and its SHA-256 where the store tells it.
 */
async function sharedObject(
  catalog: CatalogDb,
  req: ShareLookup,
  content: { hash: string; size: number },
): Promise<(ShareCandidate & { etag: string | null }) | undefined> {
  const wantedClass = req.target.storageClass ?? null;
  for (const candidate of await shareCandidates(catalog, req.target.locationId, content, req.file.id)) {
    if (wantedClass !== null && candidate.storageClass !== wantedClass) continue;
    const info = (await withRetry(req.retry, () => req.target.backend.stat(candidate.key))).value;
    if (!info) continue;
    const { member } = candidate;
    if (member) {
      if (info.size !== member.packSize) continue;
      if (info.sha256 !== undefined && member.packHash !== null && info.sha256 !== member.packHash) continue;
    } else {
      const claimed = info.attributes?.sha256 ?? (candidate.codec === null ? info.sha256 : undefined);
      if (claimed !== undefined && claimed !== content.hash) continue;
      if (candidate.codec === null && info.size !== content.size) continue;
    }
    return { ...candidate, etag: info.etag ?? null };
  }
  return undefined;
}

function sharedReplica(
  req: ShareLookup,
  shared: ShareCandidate & { etag: string | null },
  content: { hash: string; size: number },
): ReplicaRecord {
  const { member } = shared;
  return {
    fileId: req.file.id,
    locationId: req.target.locationId,
    key: shared.key,
    size: content.size,
    hash: content.hash,
    storageClass: shared.storageClass,
    state: shared.state,
    sourceSize: req.file.size,
    sourceMtimeUs: req.file.mtime_us,
    etag: shared.etag,
    // Not read back here: the object's size and recorded hash agree; `verify` reads its bytes.
    verifiedAt: null,
    codec: shared.codec,
    storedSize: shared.storedSize,
    // A member shared is a member of the same pack: gc and deletes see this row as its reference.
    ...(member
      ? { member: { packId: member.packId, offset: member.offset, length: member.length, codec: member.codec } }
      : {}),
  };
}

/**
 * The replica a file gets at a dedup location whose content (SHA-256 and size, just read) an
 * object or pack member there already holds; undefined when none does. For the packer: a small
 * file whose content is there is not packed again. Recorded at once, as copyDeduplicated does.
 */
export async function shareExisting(
  catalog: CatalogDb,
  req: ShareLookup,
  content: { hash: string; size: number },
): Promise<ReplicaRecord | undefined> {
  return oneAtATime(`${req.target.locationId}:${content.hash}:${content.size}`, async () => {
    const shared = await sharedObject(catalog, req, content);
    if (!shared) return undefined;
    const replica = sharedReplica(req, shared, content);
    await recordReplicas(catalog, [replica]);
    return replica;
  });
}

/**
 * A key this file's replica no longer points at: its object is deleted once no replica
 * references it. One that cannot be deleted now is left for `catalog check` to report as an orphan.
 */
async function dropIfUnreferenced(catalog: CatalogDb, target: { backend: Backend; locationId: number }, key: string) {
  const referenced = await keysStillReferenced(catalog, target.locationId, [key], []);
  if (referenced.size > 0) return;
  await target.backend.delete([key]).catch(() => undefined);
}

/**
 * Of the keys whose replicas are about to be removed, those no other replica references: the
 * objects that may go. A shared object stays while any other file's copy is it.
 */
export async function unsharedKeys(
  catalog: CatalogDb,
  locationId: number,
  removing: readonly { key: string; replicaId: number }[],
): Promise<string[]> {
  const keys = [...new Set(removing.map((r) => r.key))];
  const kept = await keysStillReferenced(
    catalog,
    locationId,
    keys,
    removing.map((r) => r.replicaId),
  );
  return keys.filter((key) => !kept.has(key));
}

/** Work per name that runs one at a time in this process; different names run in parallel. */
const queues = new Map<string, Promise<void>>();

async function oneAtATime<T>(name: string, work: () => Promise<T>): Promise<T> {
  const before = queues.get(name) ?? Promise.resolve();
  let finished = () => {};
  const done = new Promise<void>((resolve) => {
    finished = resolve;
  });
  const mine = before.then(() => done);
  queues.set(name, mine);
  try {
    await before;
    return await work();
  } finally {
    finished();
    if (queues.get(name) === mine) queues.delete(name);
  }
}
