import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { descriptorOf, LocationUrlError, openBackend, type ParsedLocation, parseLocationUrl } from "../backends/all.js";
import type { Backend } from "../backends/backend.js";
import type { CatalogDb } from "../catalog/db.js";
import { allLocations, forgetLocations, registerLocation } from "../catalog/locations.js";
import { type LocationLockOptions, withLocations } from "../catalog/locks.js";
import type { LocationRow } from "../catalog/schema.js";
import { UsageError } from "../config/errors.js";
import type { LoadedConfig } from "../config/load.js";
import { formatDuration } from "../config/units.js";
import { type Config, type LocationConfig, locationSchema } from "../policy/config-schema.js";
import { TokenBucket } from "../transfer/rate-limit.js";
import { RateLimitedBackend } from "../transfer/rate-limited-backend.js";
import type { PolicyContext } from "./apply.js";

/**
 * Locations as every run resolves them, opens them and holds them: by config name, URL or path,
 * registered in the catalog, their backends opened once, under the leases that keep two runs
 * from changing one location at once. The CLI's commands and the server's operate API share it.
 */

export interface ResolvedLocation {
  name: string;
  row: LocationRow;
  parsed: ParsedLocation;
  settings: LocationConfig;
  backend: Backend;
}

export const DEFAULT_LOCK_WAIT_MS = 15 * 60_000;
/** A location lease outlives a killed holder by this much at most; renewed every third of it. */
const LOCATION_LEASE_MS = 30_000;

export interface LocationsOptions {
  /** How long a run waits for a location another run holds (ms). */
  lockWaitMs?: number;
  /** A line for whoever runs this (stderr for a command, the log for the server). */
  warn(line: string): void;
}

export class Locations {
  private readonly backends = new Map<string, Promise<Backend>>();
  /** Locations registered here, unregistered again by `forgetRegistered` if nothing came of it. */
  private readonly registered: number[] = [];
  /** `--tps`: applied to every cloud location opened after it is set. */
  tps: number | undefined;

  constructor(
    readonly loaded: LoadedConfig<Config>,
    readonly catalog: CatalogDb,
    private readonly options: LocationsOptions,
  ) {}

  private get lockWaitMs(): number {
    return this.options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS;
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
      // A row named by its own URL (a run given the bare URL) is found by URL below, after the
      // config's entries: one may name that URL now, and its settings (an endpoint) then apply.
      const recorded = (await allLocations(this.catalog)).find((l) => l.name === arg && l.name !== l.url);
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
   * Runs `work` holding the leases of the named locations (see withLocations): the run
   * `command` waits, saying once who it waits for, while another run changes one of them.
   */
  holding<T>(locations: readonly string[], command: string, work: (lost: AbortSignal) => Promise<T>): Promise<T> {
    const { warn } = this.options;
    const options: LocationLockOptions = {
      catalog: this.catalog,
      holder: `${hostname()}:${process.pid} strata ${command}`,
      leaseMs: LOCATION_LEASE_MS,
      waitMs: this.lockWaitMs,
      waiting: (location, by) =>
        warn(
          `waiting for ${location}: in use by ${by.holder} since ${new Date(by.acquiredAt).toISOString()} ` +
            `(up to ${formatDuration(this.lockWaitMs)}, --lock-wait)`,
        ),
      lost: (reason) => warn(`lost the lease on its locations (${reason}); stopping`),
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

  /** Cloud locations draw each request from a bucket when a rate cap is set. */
  private limited(backend: Backend, parsed: ParsedLocation, tps: number | undefined): Backend {
    if (tps === undefined || descriptorOf(parsed.kind).onThisMachine) return backend;
    return new RateLimitedBackend(backend, new TokenBucket(() => tps));
  }

  /** Closes every backend opened. */
  async closeBackends(): Promise<void> {
    for (const backend of this.backends.values()) await (await backend).close();
    this.backends.clear();
  }

  /** Unregisters the locations registered here: a refused or dry run leaves the catalog as it was. */
  async forgetRegistered(): Promise<void> {
    await forgetLocations(this.catalog, this.registered);
  }

  /**
   * What applying policies needs, with locations limited to the config's names: an action naming
   * a location the config no longer has fails, rather than the name being taken for a relative path.
   */
  configuredOnly(retryPolicy: PolicyContext["retryPolicy"]): PolicyContext {
    return {
      catalog: this.catalog,
      retryPolicy,
      loaded: this.loaded,
      defaults: this.loaded.config.defaults,
      location: (name) =>
        Object.hasOwn(this.loaded.config.locations, name)
          ? this.location(name)
          : Promise.reject(new Error(`location ${name} is not in the config`)),
    };
  }

  /** The locations the named policies read from or place into: what their runs change. */
  policyLocations(policyNames: readonly string[]): string[] {
    const names = this.loaded.config.policies
      .filter((p) => policyNames.includes(p.name))
      .flatMap((p) => [...p.from, ...p.place.map((place) => place.to)]);
    return [...new Set(names)];
  }

  /** A wrong bucket, key or endpoint is one clear line before anything runs, not a failure per file. */
  async checkPolicyLocations(policyNames: readonly string[]): Promise<void> {
    await Promise.all(
      this.policyLocations(policyNames).map(async (name) => (await this.location(name)).backend.check()),
    );
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
