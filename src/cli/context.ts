import { existsSync, realpathSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import {
  descriptorOf,
  LocationUrlError,
  openBackend,
  type ParsedLocation,
  parseLocationUrl,
  serviceOf,
} from "../backends/all.js";
import type { Backend } from "../backends/backend.js";
import { type CatalogDb, openCatalog } from "../catalog/db.js";
import { allLocations, forgetLocations, registerLocation } from "../catalog/locations.js";
import { type LocationLockOptions, withLocations } from "../catalog/locks.js";
import type { LocationRow } from "../catalog/schema.js";
import { UsageError } from "../config/errors.js";
import type { LoadedConfig } from "../config/load.js";
import { formatDuration } from "../config/units.js";
import { loadStrataConfig } from "../policy/config.js";
import { type Config, type LocationConfig, locationSchema } from "../policy/config-schema.js";
import { TokenBucket } from "../transfer/rate-limit.js";
import { RateLimitedBackend } from "../transfer/rate-limited-backend.js";
import { DEFAULT_RETRY, type RetryPolicy } from "../transfer/retry.js";
import { Output, type OutputOptions } from "./output.js";

export interface GlobalOptions extends OutputOptions {
  config?: string;
  catalog?: string;
  /** How long a command waits for a location another run holds (ms). */
  lockWait?: number;
}

const DEFAULT_LOCK_WAIT_MS = 15 * 60_000;
/** A location lease outlives a killed holder by this much at most; renewed every third of it. */
const LOCATION_LEASE_MS = 30_000;

export interface ResolvedLocation {
  name: string;
  row: LocationRow;
  parsed: ParsedLocation;
  settings: LocationConfig;
  backend: Backend;
}

/** What every command works with: the loaded config, the open catalog, its locations. */
export class Context {
  private readonly backends = new Map<string, Promise<Backend>>();
  /** Locations this command registered, unregistered again if it changes nothing after all. */
  private readonly registered: number[] = [];
  /** Set by a command run with --dry-run: closing then undoes what opening and resolving did. */
  dryRun = false;

  private constructor(
    readonly loaded: LoadedConfig<Config>,
    readonly catalog: CatalogDb,
    readonly out: Output,
    private readonly lockWaitMs = DEFAULT_LOCK_WAIT_MS,
  ) {}

  static async open(options: GlobalOptions): Promise<Context> {
    const loaded = loadStrataConfig({
      configFlag: options.config,
      catalogFlag: options.catalog,
      env: process.env,
      cwd: process.cwd(),
    });
    refuseOverlappingLocations(loaded);
    const { retention } = loaded.config.history;
    const catalog = await openCatalog(
      loaded.catalogUrl,
      retention === "forever" ? {} : { eventsRetentionMs: retention },
    );
    return new Context(loaded, catalog, new Output(options), options.lockWait);
  }

  get defaults() {
    return this.loaded.config.defaults;
  }

  /** Backoff with jitter, as many retries as the config allows. */
  get retryPolicy(): RetryPolicy {
    return { ...DEFAULT_RETRY, retries: this.defaults.retries };
  }

  /**
   * A location by config name, URL or path. A URL or path that a configured location already
   * names resolves to that location, so one place never has two identities in the catalog.
   */
  async location(arg: string, flag = "location"): Promise<ResolvedLocation> {
    const configured = this.loaded.config.locations[arg];
    if (!configured) await this.refuseUnknownWord(arg, flag);
    try {
      if (configured) {
        return await this.register(arg, parseLocationUrl(configured.url, this.loaded.baseDir), configured);
      }
      // A name the catalog knows (a config that no longer lists it, or none at all): its recorded URL.
      const recorded = (await allLocations(this.catalog)).find((l) => l.name === arg);
      if (recorded) {
        return await this.register(arg, parseLocationUrl(recorded.url), locationSchema.parse({ url: recorded.url }));
      }
      const parsed = parseLocationUrl(arg);
      const named = Object.entries(this.loaded.config.locations).find(
        ([, l]) => parseLocationUrl(l.url, this.loaded.baseDir).url === parsed.url,
      );
      if (named) return await this.register(named[0], parsed, named[1]);
      const known = (await allLocations(this.catalog)).find((l) => l.url === parsed.url);
      return await this.register(known?.name ?? parsed.url, parsed, locationSchema.parse({ url: parsed.url }));
    } catch (err) {
      if (err instanceof LocationUrlError) throw new UsageError(`${flag} ${err.message}`);
      throw err;
    }
  }

  /**
   * A bare word (no slash, no scheme) that names no location and no existing path is a typo far
   * more often than a new directory: syncing into it would copy everything to the wrong place.
   */
  private async refuseUnknownWord(arg: string, flag: string): Promise<void> {
    if (/[/:]/.test(arg) || existsSync(resolve(arg))) return;
    const names = [
      ...new Set([
        ...Object.keys(this.loaded.config.locations),
        ...(await allLocations(this.catalog)).map((l) => l.name),
      ]),
    ].sort();
    if (names.includes(arg)) return;
    const closest = closestName(arg, names);
    throw new UsageError(
      `${flag} ${JSON.stringify(arg)}: no location of that name and no such path` +
        `${closest ? `; did you mean ${closest}?` : ""} (locations: ${names.join(", ") || "none yet"}). ` +
        `For a new directory, give a path: ./${arg}`,
    );
  }

  /**
   * Runs `work` holding the leases of the named locations (see withLocations): the command
   * `command` waits, saying once who it waits for, while another run changes one of them.
   */
  holding<T>(locations: readonly string[], command: string, work: (lost: AbortSignal) => Promise<T>): Promise<T> {
    const options: LocationLockOptions = {
      catalog: this.catalog,
      holder: `${hostname()}:${process.pid} strata ${command}`,
      leaseMs: LOCATION_LEASE_MS,
      waitMs: this.lockWaitMs,
      waiting: (location, by) =>
        this.out.warn(
          `waiting for ${location}: in use by ${by.holder} since ${new Date(by.acquiredAt).toISOString()} ` +
            `(up to ${formatDuration(this.lockWaitMs)}, --lock-wait)`,
        ),
      lost: (reason) => this.out.warn(`lost the lease on its locations (${reason}); stopping`),
    };
    return withLocations(options, locations, work);
  }

  /**
   * Puts every configured location in the catalog (without opening it), so that a scan can tie
   * a stub's replicas to them: a fresh catalog learns where released files are. A location the
   * catalog records at another URL is left out here; using it by name reports that.
   */
  async registerConfigured(): Promise<void> {
    for (const [name, settings] of Object.entries(this.loaded.config.locations)) {
      const parsed = parseLocationUrl(settings.url, this.loaded.baseDir);
      const spec = {
        name,
        url: parsed.url,
        kind: parsed.kind,
        ...(settings.class ? { defaultClass: settings.class } : {}),
      };
      const registered = await registerLocation(this.catalog, spec).catch((err: unknown) => {
        if (!(err instanceof UsageError)) throw err;
      });
      if (registered?.created) this.registered.push(registered.row.id);
    }
  }

  private async register(name: string, parsed: ParsedLocation, settings: LocationConfig): Promise<ResolvedLocation> {
    const { row, created } = await registerLocation(this.catalog, {
      name,
      url: parsed.url,
      kind: parsed.kind,
      ...(settings.class ? { defaultClass: settings.class } : {}),
    });
    if (created) this.registered.push(row.id);
    let backend = this.backends.get(parsed.url);
    if (!backend) {
      backend = openBackend(parsed, settings);
      this.backends.set(parsed.url, backend);
    }
    return { name, row, parsed, settings, backend: this.limited(await backend, parsed, settings.tps ?? this.tps) };
  }

  /**
   * A place in the catalog's namespace: `LOCATION:relative/path`, `LOCATION` alone, or an
   * absolute path inside a POSIX location.
   */
  async reference(arg: string, flag: string): Promise<{ location: ResolvedLocation; path: string }> {
    const known = new Set([
      ...Object.keys(this.loaded.config.locations),
      ...(await allLocations(this.catalog)).map((l) => l.name),
    ]);
    const named = /^([A-Za-z][A-Za-z0-9_.-]*)(?::(.*))?$/s.exec(arg);
    if (named && known.has(named[1] as string)) {
      return { location: await this.location(named[1] as string, flag), path: trimSlashes(named[2] ?? "") };
    }
    if (arg.startsWith("/")) {
      const containing = (await allLocations(this.catalog))
        .flatMap((row) => {
          const parsed = parseLocationUrl(row.url);
          return descriptorOf(parsed.kind).fileTree && "root" in parsed ? [{ row, root: parsed.root }] : [];
        })
        .filter(({ root }) => arg === root || arg.startsWith(`${root}/`))
        .sort((a, b) => b.root.length - a.root.length)[0];
      if (containing) {
        return {
          location: await this.location(containing.row.name, flag),
          path: trimSlashes(arg.slice(containing.root.length)),
        };
      }
    }
    throw new UsageError(
      `${flag} ${JSON.stringify(arg)}: not LOCATION:path for a known location, nor a path inside a scanned one ` +
        `(known: ${[...known].sort().join(", ") || "none yet"})`,
    );
  }

  /** `--tps` for this command, applied to every cloud location it opens. */
  tps: number | undefined;

  /** Cloud locations draw each request from a bucket when a rate cap is set. */
  private limited(backend: Backend, parsed: ParsedLocation, tps: number | undefined): Backend {
    if (tps === undefined || descriptorOf(parsed.kind).onThisMachine) return backend;
    return new RateLimitedBackend(backend, new TokenBucket(() => tps));
  }

  /** Closes; a command that was refused, or ran dry, leaves the catalog as it found it. */
  async close(outcome: "done" | "refused" = "done"): Promise<void> {
    for (const backend of this.backends.values()) await (await backend).close();
    if (outcome === "done" && !this.dryRun) return this.catalog.close();
    await forgetLocations(this.catalog, this.registered);
    await this.catalog.discard();
  }
}

/** The name within edit distance 2 (and less than half the word) of `word`, if one is closest. */
function closestName(word: string, names: readonly string[]): string | undefined {
  const scored = names
    .map((name) => ({ name, distance: editDistance(word, name) }))
    .filter(({ distance }) => distance <= Math.min(2, Math.floor(word.length / 2)))
    .sort((a, b) => a.distance - b.distance);
  return scored[0]?.name;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] as number;
}

function trimSlashes(path: string): string {
  return path.replace(/^\/+|\/+$/g, "");
}

/** A location as far as where its data lives: its parsed URL, and the settings naming its service. */
export interface Place {
  parsed: ParsedLocation;
  settings: LocationConfig;
}

/** True when one location contains the other (or both are one): syncing between them would feed on itself. */
export function overlaps(a: Place, b: Place): boolean {
  return overlapOf(a, b) !== undefined;
}

/**
 * How `a` lies against `b`: the same place, inside it, or containing it. Directories compare by real
 * path (a symlinked alias is the same place); buckets by service, bucket and key prefix.
 */
function overlapOf(a: Place, b: Place): "is the same place as" | "is inside" | "contains" | undefined {
  const pa = a.parsed;
  const pb = b.parsed;
  let x: string;
  let y: string;
  if ("root" in pa && "root" in pb) {
    [x, y] = [real(pa.root), real(pb.root)];
  } else if (!("root" in pa) && !("root" in pb)) {
    if (pa.kind !== pb.kind || pa.bucket !== pb.bucket || serviceOf(pa, a.settings) !== serviceOf(pb, b.settings)) {
      return undefined;
    }
    // Keys under a prefix start with "prefix/"; the whole bucket ("") holds every prefix.
    [x, y] = [`/${pa.prefix}`.replace(/\/$/, ""), `/${pb.prefix}`.replace(/\/$/, "")];
  } else {
    return undefined;
  }
  if (x === y) return "is the same place as";
  if (x.startsWith(`${y}/`)) return "is inside";
  if (y.startsWith(`${x}/`)) return "contains";
  return undefined;
}

function real(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * Two configured locations whose trees overlap (an alias of one directory, one tree nested in
 * another, overlapping prefixes of one bucket) are a config error: each would take the other's
 * files for its own, scan and prune them, and write copies over the other's keys.
 */
function refuseOverlappingLocations(loaded: LoadedConfig<Config>): void {
  const places = Object.entries(loaded.config.locations).map(([name, settings]) => {
    try {
      return { name, settings, parsed: parseLocationUrl(settings.url, loaded.baseDir) };
    } catch {
      return undefined; // a malformed URL is reported by the command that uses it
    }
  });
  const known = places.filter((p) => p !== undefined);
  known.forEach((later, j) => {
    for (const earlier of known.slice(0, j)) {
      const how = overlapOf(later, earlier);
      if (how === undefined) continue;
      throw new UsageError(
        `${loaded.position(["locations", later.name, "url"])}: locations.${later.name}: ${later.parsed.url} ` +
          `${how} locations.${earlier.name} (${earlier.parsed.url}); one tree under two names would let each ` +
          "scan, prune and overwrite the other's files: give each location a place of its own",
      );
    }
  });
}
