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
export async function ensureLocation({ db }: CatalogDb, spec: LocationSpec): Promise<LocationRow> {
  const existing = await db.selectFrom("locations").selectAll().where("name", "=", spec.name).executeTakeFirst();
  if (existing) {
    if (existing.url !== spec.url) {
      throw new UsageError(
        `location "${spec.name}" is recorded in the catalog as ${existing.url}, not ${spec.url}; ` +
          "give the new place another name",
      );
    }
    return existing;
  }
  await db
    .insertInto("locations")
    .values({
      name: spec.name,
      url: spec.url,
      kind: spec.kind,
      default_class: spec.defaultClass ?? null,
      created_at: Date.now(),
    })
    .onConflict((oc) => oc.column("name").doNothing())
    .execute();
  return db.selectFrom("locations").selectAll().where("name", "=", spec.name).executeTakeFirstOrThrow();
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
