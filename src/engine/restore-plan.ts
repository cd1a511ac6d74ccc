/**
 * The restore planner: orders and batches what a restore is asked for, as it streams in. A file
 * whose bytes come from a whole object is its own batch, handed on at once in the catalog's
 * order; the members of one pack are held and handed on together, in offset order, so the pack
 * is thawed once for all of them and read front to back.
 *
 * Memory stays bounded whatever the request: a pack's batch is handed on once it holds
 * `members` files, and when more than `held` members wait in all, the largest batch goes first.
 * A pack split over several batches is still thawed once: the later batches find the thaw
 * pending (in the catalog and the store) and only record their files against it.
 */

/** Where a candidate's bytes would be read from when that is a pack member. */
export interface PackSource {
  /** The replica location's name. */
  location: string;
  /** The pack object's key at that location. */
  pack: string;
  packId: number;
  offset: number;
  /** The member's stored bytes (its frame). */
  length: number;
}

export type RestoreBatch<C> =
  | { kind: "file"; candidate: C }
  | { kind: "pack"; location: string; pack: string; packId: number; members: { candidate: C; source: PackSource }[] };

export const PACK_BATCH_LIMITS = { members: 1000, held: 20_000 };

/** The key that names one pack among all locations' (a key alone repeats across locations). */
export function packGroupKey(source: { location: string; pack: string }): string {
  return `${source.location}\u0000${source.pack}`;
}

/**
 * Batches `candidates` for restore: `sourceOf` says which pack member a candidate would be read
 * from, or undefined when it would come from a whole object.
 */
export async function* restoreBatches<C>(
  candidates: AsyncIterable<C>,
  sourceOf: (candidate: C) => Promise<PackSource | undefined>,
  limits: { members: number; held: number } = PACK_BATCH_LIMITS,
): AsyncGenerator<RestoreBatch<C>> {
  const open = new Map<string, { candidate: C; source: PackSource }[]>();
  let held = 0;
  const take = (key: string): RestoreBatch<C> => {
    const members = (open.get(key) ?? []).sort((a, b) => a.source.offset - b.source.offset);
    open.delete(key);
    held -= members.length;
    const { location, pack, packId } = (members[0] as { source: PackSource }).source;
    return { kind: "pack", location, pack, packId, members };
  };
  for await (const candidate of candidates) {
    const source = await sourceOf(candidate);
    if (!source) {
      yield { kind: "file", candidate };
      continue;
    }
    const key = packGroupKey(source);
    const members = open.get(key) ?? [];
    members.push({ candidate, source });
    open.set(key, members);
    held += 1;
    if (members.length >= limits.members) yield take(key);
    else if (held > limits.held) yield take(largest(open));
  }
  for (const key of [...open.keys()].sort()) yield take(key);
}

function largest(open: Map<string, unknown[]>): string {
  let best = "";
  let size = -1;
  for (const [key, members] of open) {
    if (members.length > size) [best, size] = [key, members.length];
  }
  return best;
}
