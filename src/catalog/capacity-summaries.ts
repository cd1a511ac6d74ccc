import { type Kysely, sql } from "kysely";
import type { Dialect } from "./schema.js";
import { NOT_BULK_REPLICAS, type StoredBytes, SUMMARY_LOCK } from "./summaries.js";

/**
 * Migration 0012: capacity snapshots and the two summaries that metrics read besides du's (summaries.ts):
 *
 * - usage_replica_states: replicas per (replica location, source location, storage class, state),
 *   with their logical (source_size) and stored bytes. du's copy tables leave lost replicas out
 *   and key copies by the file's state, not the replica's; metrics and snapshots need the
 *   replica's own state ("lost", "archived") per store. The source location is in the key so
 *   that on PostgreSQL the rows a trigger writes are those of the location whose advisory lock
 *   du's triggers already take for the same replica row: no new lock order, no deadlock.
 * - usage_transfers: events with a target (copies, restores) per (source, target, kind): files
 *   and bytes done, failures. Only inserts count, so pruning old events never lowers a counter.
 *
 * Snapshots are written by snapshots.ts.
 */

const REPLICA_KEYS = ["location_id", "source_location_id", "storage_class", "state"] as const;
const REPLICA_MEASURES = ["copies", "logical_bytes", "stored_bytes"] as const;

function replicaContribution(row: "NEW" | "OLD", sign: 1 | -1, stored: StoredBytes): string {
  const m = sign === 1 ? "" : "-";
  const storedBytes = stored === "stored" ? `COALESCE(${row}.stored_size, ${row}.size)` : `${row}.size`;
  return (
    `INSERT INTO usage_replica_states (${[...REPLICA_KEYS, ...REPLICA_MEASURES].join(", ")}) ` +
    `SELECT ${row}.location_id, f.location_id, COALESCE(${row}.storage_class, ''), ${row}.state, ` +
    `${m}1, ${m}${row}.source_size, ${m}${storedBytes} FROM files f WHERE f.id = ${row}.file_id ` +
    `ON CONFLICT (${REPLICA_KEYS.join(", ")}) DO UPDATE SET ` +
    REPLICA_MEASURES.map((c) => `${c} = usage_replica_states.${c} + excluded.${c}`).join(", ")
  );
}

const DROP_EMPTY_REPLICA_ROWS = "DELETE FROM usage_replica_states WHERE copies = 0";

function replicaChanged(dialect: Dialect, stored: StoredBytes): string {
  const distinct = dialect === "sqlite" ? "IS NOT" : "IS DISTINCT FROM";
  return [
    ...["file_id", "location_id", "state", "size", "source_size"].map((c) => `OLD.${c} <> NEW.${c}`),
    `OLD.storage_class ${distinct} NEW.storage_class`,
    ...(stored === "stored" ? [`OLD.stored_size ${distinct} NEW.stored_size`] : []),
  ].join(" OR ");
}

interface Trigger {
  name: string;
  event: "INSERT" | "UPDATE" | "DELETE";
  when?: string;
  /** The row whose file's location is locked on PostgreSQL. */
  row: "NEW" | "OLD";
  statements: string[];
}

function replicaTriggers(dialect: Dialect, stored: StoredBytes): Trigger[] {
  return [
    {
      name: "usage_replica_states_insert",
      event: "INSERT",
      row: "NEW",
      statements: [replicaContribution("NEW", 1, stored)],
    },
    {
      name: "usage_replica_states_update",
      event: "UPDATE",
      when: replicaChanged(dialect, stored),
      row: "NEW",
      statements: [
        replicaContribution("NEW", 1, stored),
        replicaContribution("OLD", -1, stored),
        DROP_EMPTY_REPLICA_ROWS,
      ],
    },
    {
      name: "usage_replica_states_delete",
      event: "DELETE",
      row: "OLD",
      statements: [replicaContribution("OLD", -1, stored), DROP_EMPTY_REPLICA_ROWS],
    },
  ];
}

/**
 * The replicas with `? < id <= ?` (bound in that order), a bulk batch just inserted with the
 * insert trigger skipped (summaries.ts, BULK_REPLICAS_MARKER), added to usage_replica_states.
 */
export function bulkInsertedReplicaStates(): string {
  return (
    `INSERT INTO usage_replica_states (${[...REPLICA_KEYS, ...REPLICA_MEASURES].join(", ")}) ` +
    "SELECT r.location_id, f.location_id, COALESCE(r.storage_class, ''), r.state, " +
    "COUNT(*), SUM(r.source_size), SUM(COALESCE(r.stored_size, r.size)) " +
    "FROM replicas r JOIN files f ON f.id = r.file_id WHERE r.id > ? AND r.id <= ? GROUP BY 1, 2, 3, 4 " +
    `ON CONFLICT (${REPLICA_KEYS.join(", ")}) DO UPDATE SET ` +
    REPLICA_MEASURES.map((c) => `${c} = usage_replica_states.${c} + excluded.${c}`).join(", ")
  );
}

/** Migration 0025's work for usage_replica_states on SQLite: its insert trigger skips a bulk batch's rows. */
export async function skipBulkReplicaStates(db: Kysely<unknown>): Promise<void> {
  const [insert] = replicaTriggers("sqlite", "stored").filter((t) => t.event === "INSERT");
  if (!insert) throw new Error("no usage_replica_states insert trigger");
  const statements = [
    `DROP TRIGGER ${insert.name}`,
    ...createReplicaTrigger("sqlite", { ...insert, when: NOT_BULK_REPLICAS }),
  ];
  for (const statement of statements) await sql.raw(statement).execute(db);
}

/** usage_replica_states summed from the replicas there, reading stored bytes as `stored` says. */
function backfillReplicaStates(stored: StoredBytes): string {
  const storedBytes = stored === "stored" ? "COALESCE(r.stored_size, r.size)" : "r.size";
  return `INSERT INTO usage_replica_states (${[...REPLICA_KEYS, ...REPLICA_MEASURES].join(", ")})
      SELECT r.location_id, f.location_id, COALESCE(r.storage_class, ''), r.state, COUNT(*), SUM(r.source_size), SUM(${storedBytes})
      FROM replicas r JOIN files f ON f.id = r.file_id GROUP BY 1, 2, 3, 4`;
}

function createReplicaTrigger(dialect: Dialect, t: Trigger): string[] {
  const when = t.when ? ` WHEN (${t.when})` : "";
  const head = `CREATE TRIGGER ${t.name} AFTER ${t.event} ON replicas FOR EACH ROW${when}`;
  const body = t.statements.map((s) => `${s};`).join(" ");
  if (dialect === "sqlite") return [`${head} BEGIN ${body} END`];
  const lock = `PERFORM pg_advisory_xact_lock(${SUMMARY_LOCK}, (SELECT location_id FROM files WHERE id = ${t.row}.file_id)::integer);`;
  return [
    `CREATE FUNCTION ${t.name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${lock} ${body} RETURN NULL; END $$`,
    `${head} EXECUTE FUNCTION ${t.name}()`,
  ];
}

const TRANSFER_KEYS = ["source_location_id", "target_location_id", "kind"] as const;
const TRANSFER_MEASURES = ["files", "bytes", "errors"] as const;

/** Events (rows of `from`, alias e) summed per transfer key; sorted, so concurrent statements lock rows in one order. */
function addTransfers(from: string): string {
  return (
    `INSERT INTO usage_transfers (${[...TRANSFER_KEYS, ...TRANSFER_MEASURES].join(", ")}) ` +
    "SELECT COALESCE(e.location_id, 0), e.target_location_id, e.kind, " +
    "SUM(CASE WHEN e.outcome = 'failed' THEN 0 ELSE 1 END), " +
    "SUM(CASE WHEN e.outcome = 'failed' THEN 0 ELSE e.bytes END), " +
    "SUM(CASE WHEN e.outcome = 'failed' THEN 1 ELSE 0 END) " +
    `FROM ${from} e WHERE e.target_location_id IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 ` +
    `ON CONFLICT (${TRANSFER_KEYS.join(", ")}) DO UPDATE SET ` +
    TRANSFER_MEASURES.map((c) => `${c} = usage_transfers.${c} + excluded.${c}`).join(", ")
  );
}

function transferTrigger(dialect: Dialect): string[] {
  if (dialect === "sqlite") {
    // SQLite has no transition tables: the row is read back by its id.
    return [
      "CREATE TRIGGER usage_transfers_insert AFTER INSERT ON events WHEN NEW.target_location_id IS NOT NULL " +
        `BEGIN ${addTransfers("(SELECT * FROM events WHERE id = NEW.id)")}; END`,
    ];
  }
  // One statement per batch of events (recordEvents writes a thousand at a time), not a function call per row.
  return [
    `CREATE FUNCTION usage_transfers_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${addTransfers("inserted")}; RETURN NULL; END $$`,
    "CREATE TRIGGER usage_transfers_insert AFTER INSERT ON events REFERENCING NEW TABLE AS inserted " +
      "FOR EACH STATEMENT EXECUTE FUNCTION usage_transfers_insert()",
  ];
}

/** Migration 0012's work: the snapshot table, both summaries and their triggers, backfilled from the rows there. */
export async function createSnapshots(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const id = dialect === "sqlite" ? "id integer PRIMARY KEY AUTOINCREMENT" : "id bigserial PRIMARY KEY";
  const statements = [
    `CREATE TABLE snapshots (${id}, at bigint NOT NULL, location_id bigint NOT NULL REFERENCES locations (id),
      storage_class text NOT NULL, state text NOT NULL,
      files bigint NOT NULL, logical_bytes bigint NOT NULL, stored_bytes bigint NOT NULL)`,
    "CREATE INDEX snapshots_at ON snapshots (at)",
    `CREATE TABLE usage_replica_states (location_id bigint NOT NULL, source_location_id bigint NOT NULL,
      storage_class text NOT NULL, state text NOT NULL,
      copies bigint NOT NULL, logical_bytes bigint NOT NULL, stored_bytes bigint NOT NULL,
      PRIMARY KEY (${REPLICA_KEYS.join(", ")}))`,
    backfillReplicaStates("logical"),
    ...replicaTriggers(dialect, "logical").flatMap((t) => createReplicaTrigger(dialect, t)),
    `CREATE TABLE usage_transfers (source_location_id bigint NOT NULL, target_location_id bigint NOT NULL,
      kind text NOT NULL, files bigint NOT NULL, bytes bigint NOT NULL, errors bigint NOT NULL,
      PRIMARY KEY (${TRANSFER_KEYS.join(", ")}))`,
    addTransfers("events"),
    ...transferTrigger(dialect),
    // Metrics read each policy's last run and success, and the pending actions, by these.
    "CREATE INDEX runs_command ON runs (command, status, finished_at)",
    "CREATE INDEX actions_state ON actions (state, kind)",
  ];
  for (const statement of statements) await sql.raw(statement).execute(db);
}

/** Migration 0020's work for usage_replica_states: stored bytes read as coalesce(stored_size, size). */
export async function sumStoredReplicaBytes(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const statements = [
    ...replicaTriggers(dialect, "logical").flatMap((t) =>
      dialect === "sqlite"
        ? [`DROP TRIGGER ${t.name}`]
        : [`DROP TRIGGER ${t.name} ON replicas`, `DROP FUNCTION ${t.name}()`],
    ),
    "DELETE FROM usage_replica_states",
    backfillReplicaStates("stored"),
    ...replicaTriggers(dialect, "stored").flatMap((t) => createReplicaTrigger(dialect, t)),
  ];
  for (const statement of statements) await sql.raw(statement).execute(db);
}
