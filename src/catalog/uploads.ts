import type { JournaledUpload, UploadedPart, UploadJournal } from "../backends/backend.js";
import type { CatalogDb } from "./db.js";

/**
 * Multipart uploads in progress, journaled part by part, so an upload killed mid-way continues
 * from its acknowledged parts on the next run; and the ones no longer needed, to be aborted.
 */

/** One key at a target, written from one version of a source file. */
export interface UploadSubject {
  locationId: number;
  key: string;
  fileId: number;
  sourceSize: number;
  sourceMtimeUs: number;
}

/** The journal of one upload, kept in the catalog; the backend calls it, knowing nothing of tables. */
export function uploadJournal({ db }: CatalogDb, subject: UploadSubject): UploadJournal {
  let rowId: number | undefined;
  const row = () => {
    if (rowId === undefined) throw new Error(`upload journal of ${JSON.stringify(subject.key)}: no upload begun`);
    return rowId;
  };
  return {
    async load(): Promise<JournaledUpload | undefined> {
      const found = await db
        .selectFrom("uploads")
        .selectAll()
        .where("location_id", "=", subject.locationId)
        .where("key", "=", subject.key)
        .executeTakeFirst();
      const sameVersion =
        found?.file_id === subject.fileId &&
        found.source_size === subject.sourceSize &&
        found.source_mtime_us === subject.sourceMtimeUs;
      if (!found || !sameVersion) return undefined;
      rowId = found.id;
      const parts = await db
        .selectFrom("upload_parts")
        .selectAll()
        .where("upload_row_id", "=", found.id)
        .orderBy("part_number")
        .execute();
      return {
        uploadId: found.upload_id,
        partSize: found.part_size,
        parts: parts.map((p) => ({
          number: p.part_number,
          etag: p.etag,
          md5: p.md5,
          ...(p.checksum ? { checksum: p.checksum } : {}),
        })),
      };
    },

    async begin(uploadId: string, partSize: number): Promise<string | undefined> {
      return db.transaction().execute(async (trx) => {
        const older = await trx
          .selectFrom("uploads")
          .select(["id", "upload_id"])
          .where("location_id", "=", subject.locationId)
          .where("key", "=", subject.key)
          .executeTakeFirst();
        if (older) await trx.deleteFrom("uploads").where("id", "=", older.id).execute();
        const inserted = await trx
          .insertInto("uploads")
          .values({
            location_id: subject.locationId,
            key: subject.key,
            file_id: subject.fileId,
            source_size: subject.sourceSize,
            source_mtime_us: subject.sourceMtimeUs,
            upload_id: uploadId,
            part_size: partSize,
            created_at: Date.now(),
          })
          .returning("id")
          .executeTakeFirstOrThrow();
        rowId = inserted.id;
        return older && older.upload_id !== uploadId ? older.upload_id : undefined;
      });
    },

    async savePart(part: UploadedPart): Promise<void> {
      const values = { etag: part.etag, md5: part.md5, checksum: part.checksum ?? null };
      await db
        .insertInto("upload_parts")
        .values({ upload_row_id: row(), part_number: part.number, ...values })
        .onConflict((oc) => oc.columns(["upload_row_id", "part_number"]).doUpdateSet(values))
        .execute();
    },

    async clear(): Promise<void> {
      if (rowId === undefined) return;
      await db.deleteFrom("uploads").where("id", "=", rowId).execute();
      rowId = undefined;
    },
  };
}

export interface StaleUpload {
  id: number;
  key: string;
  uploadId: string;
}

/**
 * Uploads at a location that no run will finish: their source file is gone or changed since,
 * or a copy of that very version is recorded there already. Few rows (large files in flight
 * when a run stopped), so they are read whole.
 */
export async function staleUploads({ db }: CatalogDb, locationId: number): Promise<StaleUpload[]> {
  const rows = await db
    .selectFrom("uploads as u")
    .leftJoin("files as f", "f.id", "u.file_id")
    .leftJoin("replicas as r", (join) =>
      join.onRef("r.file_id", "=", "u.file_id").onRef("r.location_id", "=", "u.location_id"),
    )
    .select([
      "u.id",
      "u.key",
      "u.upload_id",
      "u.source_size",
      "u.source_mtime_us",
      "f.state as file_state",
      "f.size as file_size",
      "f.mtime_us as file_mtime_us",
      "r.source_size as replica_size",
      "r.source_mtime_us as replica_mtime_us",
    ])
    .where("u.location_id", "=", locationId)
    .execute();
  return rows
    .filter((u) => {
      const changed =
        u.file_state !== "present" || u.file_size !== u.source_size || u.file_mtime_us !== u.source_mtime_us;
      const copied = u.replica_size === u.source_size && u.replica_mtime_us === u.source_mtime_us;
      return changed || copied;
    })
    .map((u) => ({ id: u.id, key: u.key, uploadId: u.upload_id }));
}

/** Drops uploads from the journal once they are aborted. */
export async function forgetUploads({ db }: CatalogDb, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return;
  await db.deleteFrom("uploads").where("id", "in", ids).execute();
}
