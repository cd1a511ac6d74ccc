import type { Backend } from "../backends/backend.js";
import { printablePath } from "../backends/keys.js";
import type { CatalogDb } from "../catalog/db.js";
import { locationById } from "../catalog/locations.js";
import { replicasAtKey } from "../catalog/replicas.js";
import type { ListedKeys } from "./listed-keys.js";

/** A copy about to be written: which file, from where, to which key of which location. */
export interface KeyClaim {
  fileId: number;
  sourceLocationId: number;
  /** The source location's URL, written with the object as its origin. */
  origin: string;
  path: string;
  target: Backend;
  targetLocationId: number;
  key: string;
  /** The target's recent listings, when the run keeps them: a key they show absent needs no stat. */
  listed?: ListedKeys | undefined;
}

/** The key holds another file's copy; writing there would destroy it. Not retryable. */
export class KeyTakenError extends Error {}

/**
 * Refuses a copy bound for a key that holds another file's copy, which may be its only one (a
 * released file's). What the catalog records decides first: a replica of another file there,
 * from any location. A key the catalog knows nothing of may still hold an object written through
 * another catalog (a second project archiving into the same bucket): its origin and path, kept
 * in its metadata, must then be this file's. That costs one stat, made only for keys with no
 * replica of this file on record, which is the first copy of each file.
 */
export async function claimKey(catalog: CatalogDb, claim: KeyClaim): Promise<void> {
  const recorded = await replicasAtKey(catalog, claim.targetLocationId, claim.key);
  const other = recorded.find((r) => r.file_id !== claim.fileId);
  if (other) {
    throw await taken(catalog, claim, `the copy of ${other.location_name}:${printablePath(other.path)}`);
  }
  if (recorded.length > 0) return;
  if (await claim.listed?.absent(claim.key)) return;
  const held = (await claim.target.stat(claim.key))?.attributes;
  // Objects without an origin (written by other tools, or before origins were kept) say nothing.
  if (held?.origin === undefined) return;
  if (held.origin !== claim.origin || (held.path !== undefined && held.path !== claim.path)) {
    const path = printablePath(held.path ?? claim.key);
    throw await taken(catalog, claim, `a copy of ${path} from ${held.origin} (written by another catalog)`);
  }
}

async function taken(catalog: CatalogDb, claim: KeyClaim, holds: string): Promise<KeyTakenError> {
  const [source, target] = await Promise.all([
    locationById(catalog, claim.sourceLocationId),
    locationById(catalog, claim.targetLocationId),
  ]);
  return new KeyTakenError(
    `${target.name}:${printablePath(claim.key)} holds ${holds}; give ${source.name} its own prefix at ${target.name}`,
  );
}
