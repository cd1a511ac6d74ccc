import { realpathSync } from "node:fs";
import type { Backend } from "../backends/backend.js";
import { LocationUrlError, openBackend, type ParsedLocation, parseLocationUrl } from "../backends/registry.js";
import { type CatalogDb, openCatalog } from "../catalog/db.js";
import { allLocations, ensureLocation } from "../catalog/locations.js";
import type { LocationRow } from "../catalog/schema.js";
import { UsageError } from "../config/errors.js";
import { type LoadedConfig, loadConfig } from "../config/load.js";
import { type LocationConfig, locationSchema } from "../config/schema.js";
import { TokenBucket } from "../transfer/rate-limit.js";
import { RateLimitedBackend } from "../transfer/rate-limited-backend.js";
import { DEFAULT_RETRY, type RetryPolicy } from "../transfer/retry.js";
import { Output, type OutputOptions } from "./output.js";

export interface GlobalOptions extends OutputOptions {
  config?: string;
  catalog?: string;
}

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

  private constructor(
    readonly loaded: LoadedConfig,
    readonly catalog: CatalogDb,
    readonly out: Output,
  ) {}

  static async open(options: GlobalOptions): Promise<Context> {
    const loaded = loadConfig({
      configFlag: options.config,
      catalogFlag: options.catalog,
      env: process.env,
      cwd: process.cwd(),
    });
    refuseOverlappingLocations(loaded);
    const catalog = await openCatalog(loaded.catalogUrl);
    return new Context(loaded, catalog, new Output(options));
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
    try {
      if (configured) {
        return await this.register(arg, parseLocationUrl(configured.url, this.loaded.baseDir), configured);
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

  private async register(name: string, parsed: ParsedLocation, settings: LocationConfig): Promise<ResolvedLocation> {
    const row = await ensureLocation(this.catalog, {
      name,
      url: parsed.url,
      kind: parsed.kind,
      ...(settings.class ? { defaultClass: settings.class } : {}),
    });
    let backend = this.backends.get(parsed.url);
    if (!backend) {
      backend = openBackend(parsed, {
        restoreDelayMs: settings.restoreDelay,
        ...(settings.s3 ? { s3: settings.s3 } : {}),
        ...(settings.azure ? { azure: settings.azure } : {}),
        ...(settings.gcs ? { gcs: settings.gcs } : {}),
      });
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
          return parsed.kind === "posix" ? [{ row, root: parsed.root }] : [];
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
    if (tps === undefined || parsed.kind === "posix" || parsed.kind === "local") return backend;
    return new RateLimitedBackend(backend, new TokenBucket(() => tps));
  }

  async close(): Promise<void> {
    for (const backend of this.backends.values()) await (await backend).close();
    await this.catalog.close();
  }
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
    if (pa.kind !== pb.kind || pa.bucket !== pb.bucket || service(a.settings) !== service(b.settings)) return undefined;
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

/** Which server a cloud location's bucket lives on, as far as the config says. */
function service(settings: LocationConfig): string {
  return JSON.stringify([
    settings.s3?.endpoint,
    settings.azure?.account,
    settings.azure?.endpoint,
    settings.gcs?.apiEndpoint,
  ]);
}

/**
 * Two configured locations whose trees overlap (an alias of one directory, one tree nested in
 * another, overlapping prefixes of one bucket) are a config error: each would take the other's
 * files for its own, scan and prune them, and write copies over the other's keys.
 */
function refuseOverlappingLocations(loaded: LoadedConfig): void {
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
