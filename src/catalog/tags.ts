import { type RawBuilder, sql } from "kysely";
import type { CatalogDb } from "./db.js";
import type { ReplicaState } from "./schema.js";

/** Tags to set and tag names to remove, on many files at once. */
export interface FileTagChange {
  set: Readonly<Record<string, string>>;
  remove: readonly string[];
}

/** The shape of a tag name (as policy selectors and location tags accept it). */
export const TAG_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * Changes the tags of the files `fileIds` in one UPDATE, computed by the database from each
 * row's own tags (so two `strata tag` commands at once both land), in a transaction with the
 * read-back; an object left with no tags is stored as NULL. Returns each file's tags after.
 */
export async function changeFileTags(
  catalog: CatalogDb,
  fileIds: readonly number[],
  change: FileTagChange,
): Promise<Map<number, Record<string, string>>> {
  if (fileIds.length === 0) return new Map();
  for (const name of [...Object.keys(change.set), ...change.remove]) {
    // Names go into JSON paths below; the caller checked them, this keeps the SQL safe regardless.
    if (!TAG_NAME.test(name)) throw new Error(`tag name ${JSON.stringify(name)} is not allowed`);
  }
  const rows = await catalog.db.transaction().execute((trx) =>
    trx
      .updateTable("files")
      .set({ tags: sql<string | null>`nullif(${changed(catalog.dialect, change)}, '{}')` })
      .where("id", "in", fileIds)
      .returning(["id", "tags"])
      .execute(),
  );
  return new Map(rows.map((r) => [r.id, r.tags === null ? {} : (JSON.parse(r.tags) as Record<string, string>)]));
}

/** The tags column after the change, as JSON text. */
function changed(dialect: CatalogDb["dialect"], change: FileTagChange): RawBuilder<string> {
  const set = Object.entries(change.set);
  if (dialect === "postgres") {
    let value = sql`coalesce(tags, '{}')::jsonb`;
    for (const name of change.remove) value = sql`(${value} - ${name}::text)`;
    if (set.length > 0) {
      const pairs = set.map(([name, v]) => sql`${name}::text, ${v}::text`);
      value = sql`(${value} || jsonb_build_object(${sql.join(pairs)}))`;
    }
    return sql<string>`(${value})::text`;
  }
  let value = sql`coalesce(tags, '{}')`;
  const path = (name: string) => `$."${name}"`;
  if (change.remove.length > 0) value = sql`json_remove(${value}, ${sql.join(change.remove.map(path))})`;
  if (set.length > 0) value = sql`json_set(${value}, ${sql.join(set.map(([name, v]) => sql`${path(name)}, ${v}`))})`;
  return sql<string>`${value}`;
}

/** Replica states whose object exists and can carry tags (an archived object can be tagged too). */
const TAGGABLE: readonly ReplicaState[] = ["present", "archived", "restoring"];

export interface TaggableReplica {
  file_id: number;
  key: string;
  location_name: string;
  location_url: string;
}

/** The replicas of these files whose objects exist, to carry the files' tags. */
export async function taggableReplicas({ db }: CatalogDb, fileIds: readonly number[]): Promise<TaggableReplica[]> {
  if (fileIds.length === 0) return [];
  return db
    .selectFrom("replicas")
    .innerJoin("locations", "locations.id", "replicas.location_id")
    .select(["replicas.file_id", "replicas.key", "locations.name as location_name", "locations.url as location_url"])
    .where("replicas.file_id", "in", fileIds)
    .where("replicas.state", "in", TAGGABLE)
    .orderBy("replicas.file_id")
    .orderBy("locations.name")
    .execute();
}
