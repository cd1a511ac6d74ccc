import type { ObjectInfo } from "../backends/backend.js";
import { contentSha256, contentSize } from "../backends/metadata.js";
import type { CatalogDb } from "../catalog/db.js";
import { fileById, setFileHashes } from "../catalog/files.js";
import { closeInterrupted, interruptedCopies, interruptedCopyTargets } from "../catalog/journal.js";
import { recordReplicas, replicaAt, settleReplacing } from "../catalog/replicas.js";
import type { FileRow } from "../catalog/schema.js";
import { hashObject } from "../transfer/copy.js";
import { reconcileInterruptedPacks } from "./pack-store.js";
import type { Endpoint } from "./toolkit.js";

/**
 * A run killed with SIGKILL leaves copies it journaled but never settled: the object at the
 * target may hold the new version (written, not yet recorded), the old one, or nothing. Before a
 * new plan is made, each such key is looked at. An object that is the file's version (size and
 * mtime as carried in its metadata, the content hash when the catalog knows one) is recorded as
 * its replica, so the plan does not copy it again and `--delete` finds it once the file is gone;
 * a replica that was being replaced is put back to present when the object still holds its
 * hash, else called lost (the plan copies it again, a delete still finds it).
 * Returns how many copies were recorded.
 */
export async function reconcileInterrupted(catalog: CatalogDb, target: Endpoint): Promise<number> {
  let recorded = 0;
  for (const copy of await interruptedCopies(catalog, target.locationId)) {
    const file = await fileById(catalog, copy.fileId);
    const looked = file ? await lookAt(catalog, target, file, copy.key).catch(() => undefined) : "gone";
    // A target that cannot be read now keeps its actions interrupted, for the next run to look at.
    if (looked === undefined) continue;
    if (looked === "recorded") recorded += 1;
    await closeInterrupted(catalog, copy.actionIds);
  }
  return recorded;
}

/**
 * The same, packs included (reconcileInterruptedPacks), for every location dead runs were copying
 * into that `resolve` can open (apply: the config's locations); one it cannot open keeps its
 * copies for a later run.
 */
export async function reconcileInterruptedTargets(
  catalog: CatalogDb,
  resolve: (name: string) => Promise<Endpoint>,
): Promise<void> {
  for (const name of await interruptedCopyTargets(catalog)) {
    const target = await resolve(name).catch(() => undefined);
    if (!target) continue;
    await reconcileInterrupted(catalog, target);
    await reconcileInterruptedPacks(catalog, target);
  }
}

async function lookAt(
  catalog: CatalogDb,
  target: Endpoint,
  file: FileRow,
  key: string,
): Promise<"recorded" | "settled" | "gone"> {
  const info = await target.backend.stat(key);
  const hashOf = async (object: ObjectInfo) => contentSha256(object) ?? (await hashObject(target.backend, key));
  if (info && isVersionOf(info, file)) {
    const hash = await hashOf(info);
    if (file.hash === null || file.hash === hash) {
      await recordReplicas(catalog, [
        {
          fileId: file.id,
          locationId: target.locationId,
          key,
          size: contentSize(info),
          hash,
          storageClass: info.storageClass ?? null,
          state: "present",
          sourceSize: file.size,
          sourceMtimeUs: file.mtime_us,
          etag: info.etag ?? null,
          verifiedAt: Date.now(),
          codec: info.attributes?.codec ?? null,
          storedSize: info.attributes?.codec ? info.size : null,
        },
      ]);
      await setFileHashes(catalog, [{ fileId: file.id, hash }]);
      return "recorded";
    }
  }
  const replica = await replicaAt(catalog, file.id, target.locationId);
  if (replica?.state === "replacing") {
    const intact = info !== undefined && contentSize(info) === replica.size && (await hashOf(info)) === replica.hash;
    await settleReplacing(catalog, file.id, target.locationId, intact ? "present" : "lost");
  }
  return "settled";
}

/** Whether an object carries the size and mtime of the file's version in the catalog. */
function isVersionOf(info: ObjectInfo, file: FileRow): boolean {
  return contentSize(info) === file.size && (info.attributes?.mtimeUs ?? info.modifiedUs) === file.mtime_us;
}
