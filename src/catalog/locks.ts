import { type RawBuilder, sql } from "kysely";
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
