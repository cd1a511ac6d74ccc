import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { type RawBuilder, sql } from "kysely";
import { processAlive } from "../backends/writers.js";
import { UsageError } from "../config/errors.js";
import { formatDuration } from "../config/units.js";
import type { CatalogDb } from "./db.js";
import type { Dialect } from "./migrations.js";

/**
 * Leases in `policy_locks`: one holder per name at a time, across processes and machines.
 * Times come from the database's clock, not the caller's, so two daemons whose clocks disagree
 * still agree on when a lease has expired.
 */

export interface Lease {
  name: string;
  holder: string;
  acquiredAt: number;
  expiresAt: number;
}

/** Milliseconds since the epoch on the database server, now (not at the start of a transaction). */
function dbNowMs(dialect: Dialect): RawBuilder<number> {
  return dialect === "postgres"
    ? sql<number>`(extract(epoch from clock_timestamp()) * 1000)::bigint`
    : sql<number>`cast(unixepoch('subsec') * 1000 as integer)`;
}

/**
 * Takes the lease on `name` for `leaseMs` if nobody holds it or its lease has expired, in one
 * atomic statement (an upsert whose update applies only to an expired row). Returns true when
 * `holder` now holds it.
 */
export async function acquireLease(
  { db, dialect }: CatalogDb,
  name: string,
  holder: string,
  leaseMs: number,
): Promise<boolean> {
  const now = dbNowMs(dialect);
  const taken = await db
    .insertInto("policy_locks")
    .values({ policy: name, holder, acquired_at: now, expires_at: sql<number>`${now} + ${leaseMs}` })
    .onConflict((oc) =>
      oc
        .column("policy")
        .doUpdateSet((eb) => ({
          holder: eb.ref("excluded.holder"),
          acquired_at: eb.ref("excluded.acquired_at"),
          expires_at: eb.ref("excluded.expires_at"),
        }))
        .where("policy_locks.expires_at", "<", now),
    )
    .returning("holder")
    .executeTakeFirst();
  return taken?.holder === holder;
}

/** Extends a lease `holder` still holds; false when it has lost it (expired and taken over). */
export async function renewLease(
  { db, dialect }: CatalogDb,
  name: string,
  holder: string,
  leaseMs: number,
): Promise<boolean> {
  const result = await db
    .updateTable("policy_locks")
    .set({ expires_at: sql<number>`${dbNowMs(dialect)} + ${leaseMs}` })
    .where("policy", "=", name)
    .where("holder", "=", holder)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Gives a lease back; a lease held by someone else (after a takeover) is left alone. */
export async function releaseLease({ db }: CatalogDb, name: string, holder: string): Promise<void> {
  await db.deleteFrom("policy_locks").where("policy", "=", name).where("holder", "=", holder).execute();
}

/** Who holds `name`, if anyone has a row for it (it may have expired). */
export async function currentLease({ db }: CatalogDb, name: string): Promise<Lease | undefined> {
  const row = await db.selectFrom("policy_locks").selectAll().where("policy", "=", name).executeTakeFirst();
  return row && { name: row.policy, holder: row.holder, acquiredAt: row.acquired_at, expiresAt: row.expires_at };
}

export interface LeaseOptions {
  catalog: CatalogDb;
  /** Who holds it, as other runs see it in the lock table (host:pid, and for commands what runs). */
  holder: string;
  /** How long a lease lasts unless renewed; a crashed holder's lease is free after this. */
  leaseMs: number;
}

/**
 * Renews the leases `names` every third of their length until the returned function is called.
 * One that another holder has taken over, or that could not be renewed for a whole lease length,
 * is lost: `lose` says why, once.
 */
export function heartbeat(options: LeaseOptions, names: readonly string[], lose: (reason: string) => void) {
  const { catalog, holder, leaseMs } = options;
  let renewedAt = Date.now();
  let lost = false;
  let beat = Promise.resolve();
  const renew = async () => {
    if (lost) return;
    try {
      const held = await Promise.all(names.map((name) => renewLease(catalog, name, holder, leaseMs)));
      if (held.every(Boolean)) {
        renewedAt = Date.now();
        return;
      }
      lost = true;
      lose("another run took it over after it expired");
    } catch (err) {
      if (Date.now() - renewedAt < leaseMs) return;
      lost = true;
      lose(`not renewed for a whole lease: ${(err as Error).message}`);
    }
  };
  const timer = setInterval(() => {
    beat = beat.then(renew);
  }, leaseMs / 3);
  return async (): Promise<void> => {
    clearInterval(timer);
    await beat;
  };
}

/** A location's lease: every command that changes its files or catalog rows holds it. */
export function locationLease(location: string): string {
  return `location:${location}`;
}

export interface LocationLockOptions extends LeaseOptions {
  /** How long to wait for a location another run holds before giving up (exit 2). */
  waitMs: number;
  /** Told once per location that another run holds it, before waiting for it. */
  waiting(location: string, by: Lease): void;
  /** A lease lost while working (the holder was stalled past its lease): the work should stop. */
  lost(reason: string): void;
}

/** How often a waiting command looks whether the location is free. */
const POLL_MS = 250;

/**
 * Runs `work` holding the leases of `locations`, so that commands changing one location's files
 * or rows run one at a time, across processes and hosts (the catalog is the meeting point). The
 * leases are taken in name order, so two commands wanting the same two locations cannot each
 * hold one and wait for the other. A location held elsewhere is waited for up to `waitMs`;
 * then the command gives up naming the holder, having changed nothing.
 */
export async function withLocations<T>(
  options: LocationLockOptions,
  locations: readonly string[],
  work: (lost: AbortSignal) => Promise<T>,
): Promise<T> {
  const names = [...new Set(locations)].sort().map(locationLease);
  const held: string[] = [];
  const lost = new AbortController();
  let stopHeartbeat: (() => Promise<void>) | undefined;
  try {
    const deadline = Date.now() + options.waitMs;
    for (const name of names) {
      await takeOrWait(options, name, deadline);
      held.push(name);
    }
    stopHeartbeat = heartbeat(options, held, (reason) => {
      options.lost(reason);
      lost.abort();
    });
    return await work(lost.signal);
  } finally {
    await stopHeartbeat?.();
    // A lease that cannot be given back now (catalog unreachable) expires by itself.
    for (const name of held) await releaseLease(options.catalog, name, options.holder).catch(() => undefined);
  }
}

async function takeOrWait(options: LocationLockOptions, name: string, deadline: number): Promise<void> {
  const { catalog, holder, leaseMs } = options;
  let told = false;
  for (;;) {
    if (await acquireLease(catalog, name, holder, leaseMs)) return;
    const by = await currentLease(catalog, name);
    if (by && heldByDeadProcessHere(by.holder)) {
      // Killed on this very host: no need to wait for its lease to lapse.
      await releaseLease(catalog, name, by.holder);
      continue;
    }
    const location = name.slice(locationLease("").length);
    if (by && !told) {
      options.waiting(location, by);
      told = true;
    }
    if (Date.now() >= deadline) {
      throw new UsageError(
        `${location} is in use by ${by?.holder ?? "another run"}` +
          `${by ? ` (since ${new Date(by.acquiredAt).toISOString()})` : ""}; ` +
          `gave up after waiting ${formatDuration(options.waitMs)} (--lock-wait)`,
      );
    }
    await sleep(Math.min(POLL_MS, Math.max(0, deadline - Date.now())));
  }
}

/** A holder named `host:pid …` whose host is this one and whose process is gone. */
function heldByDeadProcessHere(holder: string): boolean {
  const match = /^(.*):(\d+)(?: |$)/.exec(holder);
  return (
    match !== null && match[1] === hostname() && Number(match[2]) !== process.pid && !processAlive(Number(match[2]))
  );
}
