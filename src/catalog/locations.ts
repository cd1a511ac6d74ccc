import { UsageError } from "../config/errors.js";
import type { CatalogDb } from "./db.js";
import type { LocationRow } from "./schema.js";

export interface LocationSpec {
  name: string;
  url: string;
  kind: string;
  defaultClass?: string;
}

/**
 * Registers a location, or finds it. A name keeps the URL it was first recorded with: pointing
 * a name at another place would make every catalog entry under it lie, so that is refused.
 */
export async function ensureLocation(catalog: CatalogDb, spec: LocationSpec): Promise<LocationRow> {
  return (await registerLocation(catalog, spec)).row;
}

/**
 * As ensureLocation, telling whether this call created the location. A place first used by its
 * bare URL was recorded under that URL as its name; a name given to the same URL later (a config
 * entry) takes that row over, so the place keeps one identity and its files and replicas.
 */
export async function registerLocation(
  catalog: CatalogDb,
  spec: LocationSpec,
): Promise<{ row: LocationRow; created: boolean }> {
  const { db } = catalog;
  const existing = await db.selectFrom("locations").selectAll().where("name", "=", spec.name).executeTakeFirst();
  if (existing) {
    if (existing.url !== spec.url) {
      throw new UsageError(
        `location "${spec.name}" is recorded in the catalog as ${existing.url}, not ${spec.url}; ` +
          "give the new place another name",
      );
    }
    return { row: existing, created: false };
  }
  const adopted = spec.name === spec.url ? undefined : await adoptUrlNamed(catalog, spec);
  if (adopted) return { row: adopted, created: false };
  const inserted = await db
    .insertInto("locations")
    .values({
      name: spec.name,
      url: spec.url,
      kind: spec.kind,
      default_class: spec.defaultClass ?? null,
      created_at: Date.now(),
    })
    .onConflict((oc) => oc.column("name").doNothing())
    .executeTakeFirst();
  const row = await db.selectFrom("locations").selectAll().where("name", "=", spec.name).executeTakeFirstOrThrow();
  // Another process may have registered the name in between: then this one did not create it.
  return { row, created: Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0 };
}

/** Renames the row recorded under `spec.url` as its own name to `spec.name`, if there is one. */
async function adoptUrlNamed({ db }: CatalogDb, spec: LocationSpec): Promise<LocationRow | undefined> {
  // Conditional on the old name: of two runs adopting at once, one renames and both then read it.
  await db
    .updateTable("locations")
    .set({ name: spec.name })
    .where("name", "=", spec.url)
    .where("url", "=", spec.url)
    .execute();
  return db.selectFrom("locations").selectAll().where("name", "=", spec.name).executeTakeFirst();
}

export async function allLocations({ db }: CatalogDb): Promise<LocationRow[]> {
  return db.selectFrom("locations").selectAll().orderBy("name").execute();
}

export async function locationById({ db }: CatalogDb, id: number): Promise<LocationRow> {
  return db.selectFrom("locations").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
}

/** The device a POSIX root is on, recorded once a scan found the root non-empty (or was told it moved). */
export async function recordRootDevice({ db }: CatalogDb, id: number, device: number): Promise<void> {
  await db.updateTable("locations").set({ root_device: device }).where("id", "=", id).execute();
}

/**
 * Unregisters locations a refused command or a dry run registered, with what that command
 * recorded of them (a dry sync's scan of a new source). A location something else has come to
 * depend on in the meantime (a replica, an action) is kept.
 */
export async function forgetLocations({ db }: CatalogDb, ids: readonly number[]): Promise<void> {
  for (const id of ids) {
    await db
      .transaction()
      .execute(async (trx) => {
        const files = trx.selectFrom("files").select("id").where("location_id", "=", id);
        await trx.deleteFrom("events").where("file_id", "in", files).execute();
        await trx.deleteFrom("events").where("location_id", "=", id).execute();
        await trx.deleteFrom("events").where("target_location_id", "=", id).execute();
        await trx.deleteFrom("files").where("location_id", "=", id).execute();
        await trx.deleteFrom("scans").where("location_id", "=", id).execute();
        await trx.deleteFrom("locations").where("id", "=", id).execute();
      })
      .catch(() => {});
  }
}
