import type { Backend } from "../backends/backend.js";

/** A directory listed past this many objects is asked key by key: memory stays flat. */
const MOST_KEYS_PER_LISTING = 10_000;
/** How long a listing stands for its directory; then it is listed again, and newer objects are seen. */
const LISTING_LIFETIME_MS = 60_000;
/** Listings kept at once: copies come in path order, a few directories at a time. */
const LISTINGS_KEPT = 8;

interface Listing {
  startedAt: number;
  /** The keys under the directory; undefined when they could not all be listed (too many, or an error). */
  keys: Promise<Set<string> | undefined>;
}

/**
 * Which keys an object store certainly does not hold, from one listing per directory instead of
 * one request per key: the first copy of each file must know whether its key holds an object
 * another catalog wrote (key-claim.ts), and for a new tree that is a HEAD per file, a third of
 * an upload's requests. A key found in the listing, or in a directory that could not be listed
 * whole, is still asked about by itself, so no object is taken for absent unless a listing made
 * in the last minute said so. That minute is the window in which another writer's new object
 * goes unseen, as the time between a HEAD and its PUT is for a single key.
 */
export class ListedKeys {
  private readonly listings = new Map<string, Listing>();

  constructor(
    private readonly target: Backend,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether a recent listing of its directory shows `key` absent; false when present or unknown. */
  async absent(key: string): Promise<boolean> {
    const keys = await this.listingOf(directoryPrefix(key)).keys;
    return keys !== undefined && !keys.has(key);
  }

  private listingOf(prefix: string): Listing {
    const kept = this.listings.get(prefix);
    if (kept && this.now() - kept.startedAt < LISTING_LIFETIME_MS) return kept;
    this.listings.delete(prefix);
    const listing = { startedAt: this.now(), keys: this.list(prefix) };
    this.listings.set(prefix, listing);
    // Maps keep insertion order: the first entry is the directory listed longest ago.
    if (this.listings.size > LISTINGS_KEPT) this.listings.delete(this.listings.keys().next().value as string);
    return listing;
  }

  private async list(prefix: string): Promise<Set<string> | undefined> {
    const keys = new Set<string>();
    try {
      for await (const object of this.target.list(prefix)) {
        if (keys.size === MOST_KEYS_PER_LISTING) return undefined;
        keys.add(object.key);
      }
    } catch {
      // A store that refuses listings (a write-only credential) is asked key by key.
      return undefined;
    }
    return keys;
  }
}

/** The prefix of the key's directory, with its slash: "a/b/" for "a/b/c", "" for a top-level key. */
function directoryPrefix(key: string): string {
  return key.slice(0, key.lastIndexOf("/") + 1);
}
