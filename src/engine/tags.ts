import type { Backend } from "../backends/backend.js";
import type { CatalogDb } from "../catalog/db.js";
import type { FileRow } from "../catalog/schema.js";
import { changeFileTags, type FileTagChange, type TaggableReplica, taggableReplicas } from "../catalog/tags.js";
import { chunks, runPool } from "../transfer/pool.js";

/** Files per catalog transaction: one UPDATE and one read of their replicas. */
const BATCH = 500;

/** A file a tag command acts on, with its location's name for messages. */
export type SelectedFile = FileRow & { location_name: string };

export interface TagOptions {
  /** The backend of a replica's location (by its URL), to carry the tags to the object. */
  storeOf(locationUrl: string): Promise<Backend>;
  /** Objects tagged at once. */
  concurrency: number;
  /** After each file's catalog row changed: its tags now. */
  onFile?(file: SelectedFile, tags: Record<string, string>): void;
}

export interface TagFailure {
  file: SelectedFile;
  replica: TaggableReplica;
  error: string;
}

export interface TagReport {
  files: number;
  /** Objects whose tags were changed at their store. */
  objects: number;
  /** Replicas at stores that keep no tags (POSIX trees). */
  untaggable: number;
  failures: TagFailure[];
}

/**
 * Changes the tags of the selected files: the catalog first (the truth `find`, `du` and
 * policies read), a batch per transaction, then each file's existing replicas at stores that
 * keep tags. A store that refuses leaves the catalog changed and is reported, one failure per
 * object; running the command again carries the tags over.
 */
export async function changeTags(
  catalog: CatalogDb,
  selected: AsyncIterable<SelectedFile>,
  change: FileTagChange,
  options: TagOptions,
): Promise<TagReport> {
  const report: TagReport = { files: 0, objects: 0, untaggable: 0, failures: [] };
  for await (const batch of chunks(selected, BATCH)) {
    const tagsAfter = await changeFileTags(
      catalog,
      batch.map((f) => f.id),
      change,
    );
    const byId = new Map(batch.map((f) => [f.id, f]));
    for (const file of batch) options.onFile?.(file, tagsAfter.get(file.id) ?? {});
    report.files += batch.length;
    const replicas = await taggableReplicas(catalog, [...byId.keys()]);
    await runPool(toAsync(replicas), options.concurrency, async (replica) => {
      try {
        const store = await options.storeOf(replica.location_url);
        if (!store.updateTags) {
          report.untaggable += 1;
          return;
        }
        await store.updateTags(replica.key, change);
        report.objects += 1;
      } catch (err) {
        report.failures.push({
          file: byId.get(replica.file_id) as SelectedFile,
          replica,
          error: (err as Error).message,
        });
      }
    });
  }
  return report;
}

async function* toAsync<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}
