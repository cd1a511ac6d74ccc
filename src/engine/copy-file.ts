import type { FileAttributes } from "../backends/backend.js";
import type { CatalogDb } from "../catalog/db.js";
import { markReplacing, type ReplicaRecord, settleReplacing } from "../catalog/replicas.js";
import { uploadJournal } from "../catalog/uploads.js";
import type { CodecSetting } from "../codec/choose.js";
import { withRetry } from "../transfer/retry.js";
import { copyDeduplicated } from "./dedup.js";
import { claimKey } from "./key-claim.js";
import type { ListedKeys } from "./listed-keys.js";
import type { Endpoint, Toolkit } from "./toolkit.js";

/** A catalog file as a copy needs it: its identity, its version and the attributes it carries. */
export interface SourceFile {
  id: number;
  path: string;
  size: number;
  mtime_us: number;
  mode: number;
  uid: number;
  gid: number;
}

export interface FileCopy {
  catalog: CatalogDb;
  toolkit: Toolkit;
  file: SourceFile;
  source: Endpoint;
  target: Endpoint & {
    key: string;
    storageClass?: string | null;
    tags: Record<string, string>;
    /** How an object store holds the copy (`codec:`); absent: raw. */
    codec?: CodecSetting | undefined;
    dedup?: boolean;
    /** The target's recent listings (an object store's, during a sync), for the key claim. */
    listed?: ListedKeys | undefined;
  };
  /** The hash the bytes read must have: the catalog's, or one just read; none when unknown. */
  expectedHash?: string | null;
  onBytes?: (count: number) => void;
  /** Whether the target holds a replica of this file that the write replaces (sync knows; apply asks). */
  replaces: boolean;
}

export interface FileCopied {
  attempts: number;
  replica: ReplicaRecord;
  /** No bytes moved: the replica shares an object the target already held (`dedup: true`). */
  shared?: boolean;
}

/**
 * The one copy step of every plan that copies a file (sync, policies): the key claimed once, the
 * bytes copied and verified with the run's toolkit and retries, the replica that results. Before
 * an object is overwritten its replica stops saying present, so a run killed between the write
 * and its record cannot leave the catalog vouching for the old hash; a write that fails leaves
 * the previous object, and so the replica, as they were.
 */
export async function copyFile(req: FileCopy): Promise<FileCopied> {
  return req.target.dedup ? copyDeduplicated(req, writeCopy) : writeCopy(req);
}

async function writeCopy(req: FileCopy): Promise<FileCopied> {
  const { catalog, file, source, target } = req;
  const replacing = req.replaces && (await markReplacing(catalog, file.id, target.locationId));
  try {
    // Whose copy the key holds is asked once, with retries of its own, not again on every
    // attempt of the copy: under throttling each extra request is one more chance to fail.
    await withRetry(req.toolkit.retry, () =>
      claimKey(catalog, {
        fileId: file.id,
        sourceLocationId: source.locationId,
        origin: source.backend.url,
        path: file.path,
        target: target.backend,
        targetLocationId: target.locationId,
        key: target.key,
        listed: target.listed,
      }),
    );
    // The toolkit holds the file's share of the byte budget, for as many streams as it grants,
    // only while bytes move: not while the key is claimed or the replica recorded.
    const { value: result, attempts } = await req.toolkit.copy({
      source: source.backend,
      sourceKey: file.path,
      target: target.backend,
      targetKey: target.key,
      size: file.size,
      attributes: { ...attributesOf(file), origin: source.backend.url },
      ...(target.storageClass ? { storageClass: target.storageClass } : {}),
      tags: target.tags,
      ...(target.codec ? { codec: target.codec } : {}),
      ...(req.expectedHash ? { expectedHash: req.expectedHash } : {}),
      ...(req.onBytes ? { onBytes: req.onBytes } : {}),
      journal: uploadJournal(catalog, {
        locationId: target.locationId,
        key: target.key,
        fileId: file.id,
        sourceSize: file.size,
        sourceMtimeUs: file.mtime_us,
      }),
    });
    const replica: ReplicaRecord = {
      fileId: file.id,
      locationId: target.locationId,
      key: target.key,
      size: result.size,
      hash: result.sha256,
      storageClass: result.stored.storageClass ?? target.storageClass ?? null,
      state: "present",
      sourceSize: file.size,
      sourceMtimeUs: file.mtime_us,
      etag: result.stored.etag ?? null,
      verifiedAt: Date.now(),
      codec: result.codec === "none" ? null : result.codec,
      storedSize: result.storedSize === result.size ? null : result.storedSize,
    };
    return { attempts, replica };
  } catch (err) {
    if (replacing) await settleReplacing(catalog, file.id, target.locationId, "present");
    throw err;
  }
}

function attributesOf(file: SourceFile): FileAttributes {
  return { mtimeUs: file.mtime_us, mode: file.mode & 0o7777, uid: file.uid, gid: file.gid, path: file.path };
}
