import type { CatalogDb } from "../../src/catalog/db.js";
import type { FileState, ReplicaState } from "../../src/catalog/schema.js";

/*
 * Catalog rows written directly, as a scan and a sync would have left them: the cost figures
 * read only these tables, so a test can set every size, class, state and age it needs.
 */

export const DAY_MS = 86_400_000;

export async function addLocation(catalog: CatalogDb, name: string, url: string, kind: string): Promise<number> {
  const row = await catalog.db
    .insertInto("locations")
    .values({ name, url, kind, default_class: null, created_at: 0, root_device: null })
    .returning("id")
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

/** A finished scan of a location that saw `files` files of `bytes` bytes, ending at `at`. */
export async function addScan(catalog: CatalogDb, locationId: number, at: number, files = 0, bytes = 0) {
  const row = await catalog.db
    .insertInto("scans")
    .values({
      location_id: locationId,
      started_at: at - 1000,
      finished_at: at,
      status: "done",
      files,
      bytes,
      new_files: files,
      changed_files: 0,
      deleted_files: 0,
      errors: 0,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

export interface FileSpec {
  path: string;
  size: number;
  state?: FileState;
  stubSize?: number | null;
  uid?: number;
  tags?: Record<string, string>;
  ctimeMs?: number;
  hash?: string;
}

export async function addFile(catalog: CatalogDb, locationId: number, scanId: number, spec: FileSpec) {
  const ctimeUs = (spec.ctimeMs ?? 0) * 1000;
  const row = await catalog.db
    .insertInto("files")
    .values({
      location_id: locationId,
      path: spec.path,
      kind: "file",
      size: spec.size,
      mtime_us: ctimeUs,
      atime_us: ctimeUs,
      ctime_us: ctimeUs,
      mode: 0o100644,
      uid: spec.uid ?? 0,
      gid: 0,
      inode: 1,
      hash: spec.hash ?? null,
      file_type: null,
      tags: spec.tags ? JSON.stringify(spec.tags) : null,
      state: spec.state ?? "present",
      first_scan_id: scanId,
      seen_scan_id: scanId,
      changed_scan_id: scanId,
      deleted_scan_id: spec.state === "deleted" ? scanId : null,
      stub_size: spec.stubSize ?? null,
      stub_mtime_us: spec.stubSize ? ctimeUs : null,
      stub_inode: spec.stubSize ? 2 : null,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

export interface ReplicaSpec {
  key: string;
  size: number;
  storageClass: string | null;
  state?: ReplicaState;
  createdAt: number;
}

/** The content hash every replica written here records. */
export const REPLICA_HASH = "0".repeat(64);

export async function addReplica(catalog: CatalogDb, fileId: number, locationId: number, spec: ReplicaSpec) {
  await catalog.db
    .insertInto("replicas")
    .values({
      file_id: fileId,
      location_id: locationId,
      key: spec.key,
      size: spec.size,
      hash: REPLICA_HASH,
      storage_class: spec.storageClass,
      state: spec.state ?? "present",
      codec: null,
      pack_id: null,
      source_size: spec.size,
      source_mtime_us: 0,
      etag: null,
      created_at: spec.createdAt,
      verified_at: spec.createdAt,
    })
    .execute();
}
