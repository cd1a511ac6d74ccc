import type { CatalogDb } from "./db.js";
import type { FileRow } from "./schema.js";

const PAGE = 500;

export interface Listed {
  file: FileRow;
  replicas: number;
}

/**
 * Entries under `dir` in path order, page by page. Not recursive: on meeting a deeper path the
 * query jumps past that whole subtree ("sub/" .. "sub0" in byte order) instead of reading it.
 */
export async function* listEntries(
  catalog: CatalogDb,
  locationId: number,
  dir: string,
  recursive: boolean,
): AsyncGenerator<Listed> {
  const prefix = dir === "" ? "" : `${dir}/`;
  let from = prefix;
  let inclusive = true;
  for (;;) {
    let query = catalog.db.selectFrom("files").selectAll().where("location_id", "=", locationId);
    query = query.where("path", inclusive ? ">=" : ">", from);
    if (prefix !== "") query = query.where("path", "<", `${dir}0`);
    const rows = await query.orderBy("path").limit(PAGE).execute();
    if (rows.length === 0) return;
    const counts = await replicaCounts(
      catalog,
      rows.map((r) => r.id),
    );
    let jumped = false;
    for (const file of rows) {
      const rest = file.path.slice(prefix.length);
      const slash = rest.indexOf("/");
      if (!recursive && slash >= 0) {
        from = `${prefix}${rest.slice(0, slash)}0`;
        inclusive = true;
        jumped = true;
        break;
      }
      yield { file, replicas: counts.get(file.id) ?? 0 };
    }
    if (jumped) continue;
    if (rows.length < PAGE) return;
    from = (rows.at(-1) as FileRow).path;
    inclusive = false;
  }
}

async function replicaCounts(catalog: CatalogDb, fileIds: number[]): Promise<Map<number, number>> {
  const rows = await catalog.db
    .selectFrom("replicas")
    .select((eb) => ["file_id", eb.fn.countAll<number>().as("n")])
    .where("file_id", "in", fileIds)
    .where("state", "=", "present")
    .groupBy("file_id")
    .execute();
  return new Map(rows.map((r) => [r.file_id, Number(r.n)]));
}

export interface LocationTotals {
  name: string;
  url: string;
  files: number;
  bytes: number;
  replicas: number;
  replicaBytes: number;
}

/** One line per location: what it holds as a source and as a replica target. */
export async function locationTotals(catalog: CatalogDb): Promise<LocationTotals[]> {
  const { db } = catalog;
  const rows = await db
    .selectFrom("locations as l")
    .select((eb) => [
      "l.name",
      "l.url",
      eb
        .selectFrom("files")
        .select((f) => f.fn.countAll<number>().as("n"))
        .whereRef("files.location_id", "=", "l.id")
        .where("files.state", "=", "present")
        .where("files.kind", "=", "file")
        .as("files"),
      eb
        .selectFrom("files")
        .select((f) => f.fn.sum<number>("size").as("b"))
        .whereRef("files.location_id", "=", "l.id")
        .where("files.state", "=", "present")
        .where("files.kind", "=", "file")
        .as("bytes"),
      eb
        .selectFrom("replicas")
        .select((r) => r.fn.countAll<number>().as("n"))
        .whereRef("replicas.location_id", "=", "l.id")
        .where("replicas.state", "=", "present")
        .as("replicas"),
      eb
        .selectFrom("replicas")
        .select((r) => r.fn.sum<number>("size").as("b"))
        .whereRef("replicas.location_id", "=", "l.id")
        .where("replicas.state", "=", "present")
        .as("replica_bytes"),
    ])
    .orderBy("l.name")
    .execute();
  return rows.map((r) => ({
    name: r.name,
    url: r.url,
    files: Number(r.files ?? 0),
    bytes: Number(r.bytes ?? 0),
    replicas: Number(r.replicas ?? 0),
    replicaBytes: Number(r.replica_bytes ?? 0),
  }));
}

/** An object at a store location, as the catalog's inventory of replicas records it. */
export interface ListedObject {
  key: string;
  size: number;
  /** The source file's mtime the object carries. */
  mtimeUs: number;
  storageClass: string | null;
  state: string;
}

/** The replicas a location holds under `prefix` (a key prefix, "" for all), in key order, page by page. */
export async function* listReplicas(
  catalog: CatalogDb,
  locationId: number,
  prefix: string,
): AsyncGenerator<ListedObject> {
  let after: string | undefined;
  for (;;) {
    let query = catalog.db
      .selectFrom("replicas")
      .select(["key", "size", "source_mtime_us", "storage_class", "state"])
      .where("location_id", "=", locationId)
      .where("key", ">=", prefix);
    if (after !== undefined) query = query.where("key", ">", after);
    const rows = await query.orderBy("key").limit(PAGE).execute();
    for (const row of rows) {
      if (!row.key.startsWith(prefix)) return;
      yield {
        key: row.key,
        size: row.size,
        mtimeUs: row.source_mtime_us,
        storageClass: row.storage_class,
        state: row.state,
      };
    }
    if (rows.length < PAGE) return;
    after = (rows.at(-1) as { key: string }).key;
  }
}
