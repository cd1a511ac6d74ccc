import { realpathSync } from "node:fs";
import { type ParsedLocation, parseLocationUrl, serviceOf } from "../backends/all.js";
import { type CatalogDb, openCatalog } from "../catalog/db.js";
import { UsageError } from "../config/errors.js";
import type { LoadedConfig } from "../config/load.js";
import type { PolicyContext } from "../engine/apply.js";
import { Locations, type ResolvedLocation } from "../engine/locations.js";
import { loadStrataConfig } from "../policy/config.js";
import type { Config, LocationConfig } from "../policy/config-schema.js";
import { DEFAULT_RETRY, type RetryPolicy } from "../transfer/retry.js";
import { Output, type OutputOptions } from "./output.js";

export type { ResolvedLocation };

export interface GlobalOptions extends OutputOptions {
  config?: string;
  catalog?: string;
  /** How long a command waits for a location another run holds (ms). */
  lockWait?: number;
}

/**
 * What every command works with: the loaded config, the open catalog, its locations (resolved,
 * opened and held by the engine's Locations, which the server shares).
 */
export class Context {
  readonly locations: Locations;
  /** Set by a command run with --dry-run: closing then undoes what opening and resolving did. */
  dryRun = false;

  private constructor(
    readonly loaded: LoadedConfig<Config>,
    readonly catalog: CatalogDb,
    readonly out: Output,
    lockWaitMs: number | undefined,
  ) {
    this.locations = new Locations(loaded, catalog, {
      ...(lockWaitMs === undefined ? {} : { lockWaitMs }),
      warn: (line) => out.warn(line),
    });
  }

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

  /** `--tps` for this command, applied to every cloud location it opens. */
  get tps(): number | undefined {
    return this.locations.tps;
  }

  set tps(value: number | undefined) {
    this.locations.tps = value;
  }

  /** A location by config name, URL or path (see Locations.location). */
  location(arg: string, flag = "location"): Promise<ResolvedLocation> {
    return this.locations.location(arg, flag);
  }

  /** `LOCATION:relative/path`, `LOCATION`, or an absolute path inside a POSIX location. */
  reference(arg: string, flag: string): Promise<{ location: ResolvedLocation; path: string }> {
    return this.locations.reference(arg, flag);
  }

  /** Runs `work` holding the leases of the named locations. */
  holding<T>(locations: readonly string[], command: string, work: (lost: AbortSignal) => Promise<T>): Promise<T> {
    return this.locations.holding(locations, command, work);
  }

  /** Puts every configured location in the catalog (without opening it). */
  registerConfigured(): Promise<void> {
    return this.locations.registerConfigured();
  }

  /** What applying policies needs, with locations limited to the config's names. */
  configuredOnly(): PolicyContext {
    return this.locations.configuredOnly(this.retryPolicy);
  }

  /** Closes; a command that was refused, or ran dry, leaves the catalog as it found it. */
  async close(outcome: "done" | "refused" = "done"): Promise<void> {
    await this.locations.closeBackends();
    if (outcome === "done" && !this.dryRun) return this.catalog.close();
    await this.locations.forgetRegistered();
    await this.catalog.discard();
  }
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
