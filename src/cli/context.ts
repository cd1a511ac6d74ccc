import { realpathSync } from "node:fs";
import { hostname } from "node:os";
import type { Backend } from "../backends/backend.js";
import { LocationUrlError, openBackend, type ParsedLocation, parseLocationUrl } from "../backends/registry.js";
import { type CatalogDb, openCatalog } from "../catalog/db.js";
import { allLocations, ensureLocation } from "../catalog/locations.js";
import { type LocationLockOptions, withLocations } from "../catalog/locks.js";
import type { LocationRow } from "../catalog/schema.js";
import { UsageError } from "../config/errors.js";
import { type LoadedConfig, loadConfig } from "../config/load.js";
import { type LocationConfig, locationSchema } from "../config/schema.js";
import { formatDuration } from "../config/units.js";
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

  private constructor(
    readonly loaded: LoadedConfig,
    readonly catalog: CatalogDb,
    readonly out: Output,
    private readonly lockWaitMs = DEFAULT_LOCK_WAIT_MS,
  ) {}

  static async open(options: GlobalOptions): Promise<Context> {
    const loaded = loadConfig({
      configFlag: options.config,
      catalogFlag: options.catalog,
      env: process.env,
      cwd: process.cwd(),
    });
    const catalog = await openCatalog(loaded.catalogUrl);
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
      await ensureLocation(this.catalog, spec).catch((err: unknown) => {
        if (!(err instanceof UsageError)) throw err;
      });
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

/** True when one directory location contains the other: syncing between them would feed on itself. */
export function overlaps(a: ParsedLocation, b: ParsedLocation): boolean {
  if (!("root" in a) || !("root" in b)) return false;
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return p;
    }
  };
  const [x, y] = [real(a.root), real(b.root)];
  return x === y || x.startsWith(`${y}/`) || y.startsWith(`${x}/`);
}
