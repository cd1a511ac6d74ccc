import {
  type ColumnDefinitionBuilder,
  type CreateTableBuilder,
  type Kysely,
  type Migration,
  type MigrationProvider,
  sql,
} from "kysely";
import { createSnapshots, skipBulkReplicaStates, sumStoredReplicaBytes } from "./capacity-summaries.js";
import { postgresBaseName, sqliteBaseName, useLinearPathNames } from "./path-sql.js";
import type { Dialect } from "./schema.js";
import {
  createSummaries,
  dropBulkInsertMarker,
  fastReplicaInserts,
  NOT_BULK,
  skipBulkInserts,
  skipBulkReplicaInserts,
  sumStoredBytes,
} from "./summaries.js";

export type { Dialect };

/** FTS5's `automerge` for the name trigrams (migration 0027): segments merged 16 at a time (FTS5's default is 4). */
export const TRIGRAM_AUTOMERGE = 16;

/**
 * One set of migrations for both databases. The few places they differ (id columns, byte-order
 * collation of paths) go through the helpers below, so every table reads the same for both.
 */
export function migrations(dialect: Dialect): MigrationProvider {
  const id = <T extends string>(table: CreateTableBuilder<T>) =>
    dialect === "sqlite"
      ? table.addColumn("id", "integer", (c) => c.primaryKey().autoIncrement())
      : table.addColumn("id", sql`bigserial`, (c) => c.primaryKey());
  // Paths and keys sort by bytes in both databases, as object stores list them.
  const bytewise = (c: ColumnDefinitionBuilder) => (dialect === "postgres" ? c.modifyEnd(sql`collate "C"`) : c);

  const initial: Migration = {
    async up(db: Kysely<unknown>) {
      await id(db.schema.createTable("locations"))
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("url", "text", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("default_class", "text")
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .execute();

      await id(db.schema.createTable("scans"))
        .addColumn("location_id", "bigint", (c) => c.notNull().references("locations.id"))
        .addColumn("started_at", "bigint", (c) => c.notNull())
        .addColumn("finished_at", "bigint")
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("files", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("bytes", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("new_files", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("changed_files", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("deleted_files", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("errors", "bigint", (c) => c.notNull().defaultTo(0))
        .execute();

      await id(db.schema.createTable("files"))
        .addColumn("location_id", "bigint", (c) => c.notNull().references("locations.id"))
        .addColumn("path", "text", (c) => bytewise(c.notNull()))
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("size", "bigint", (c) => c.notNull())
        .addColumn("mtime_us", "bigint", (c) => c.notNull())
        .addColumn("atime_us", "bigint", (c) => c.notNull())
        .addColumn("ctime_us", "bigint", (c) => c.notNull())
        .addColumn("mode", "integer", (c) => c.notNull())
        .addColumn("uid", "bigint", (c) => c.notNull())
        .addColumn("gid", "bigint", (c) => c.notNull())
        .addColumn("inode", "bigint", (c) => c.notNull())
        .addColumn("hash", "text")
        .addColumn("file_type", "text")
        .addColumn("tags", "text")
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("first_scan_id", "bigint", (c) => c.notNull())
        .addColumn("seen_scan_id", "bigint", (c) => c.notNull())
        .addColumn("changed_scan_id", "bigint", (c) => c.notNull())
        .addColumn("deleted_scan_id", "bigint")
        .addUniqueConstraint("files_location_path", ["location_id", "path"])
        .execute();
      // No secondary index on files yet: every scan writes each row, and the queries that read
      // by scan generation or age go through a location's rows whole anyway.

      await id(db.schema.createTable("packs"))
        .addColumn("location_id", "bigint", (c) => c.notNull().references("locations.id"))
        .addColumn("key", "text", (c) => bytewise(c.notNull()))
        .addColumn("size", "bigint", (c) => c.notNull())
        .addColumn("members", "bigint", (c) => c.notNull())
        .addColumn("hash", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .execute();

      await id(db.schema.createTable("replicas"))
        .addColumn("file_id", "bigint", (c) => c.notNull().references("files.id"))
        .addColumn("location_id", "bigint", (c) => c.notNull().references("locations.id"))
        .addColumn("key", "text", (c) => bytewise(c.notNull()))
        .addColumn("size", "bigint", (c) => c.notNull())
        .addColumn("hash", "text", (c) => c.notNull())
        .addColumn("storage_class", "text")
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("codec", "text")
        .addColumn("pack_id", "bigint", (c) => c.references("packs.id"))
        .addColumn("source_size", "bigint", (c) => c.notNull())
        .addColumn("source_mtime_us", "bigint", (c) => c.notNull())
        .addColumn("etag", "text")
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("verified_at", "bigint")
        .addUniqueConstraint("replicas_file_location", ["file_id", "location_id"])
        .execute();
      await db.schema.createIndex("replicas_location_key").on("replicas").columns(["location_id", "key"]).execute();

      await id(db.schema.createTable("runs"))
        .addColumn("command", "text", (c) => c.notNull())
        .addColumn("host", "text", (c) => c.notNull())
        .addColumn("pid", "integer", (c) => c.notNull())
        .addColumn("started_at", "bigint", (c) => c.notNull())
        .addColumn("finished_at", "bigint")
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("summary", "text")
        .execute();

      await id(db.schema.createTable("actions"))
        .addColumn("run_id", "bigint", (c) => c.notNull().references("runs.id"))
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("file_id", "bigint", (c) => c.references("files.id"))
        .addColumn("source_location_id", "bigint", (c) => c.references("locations.id"))
        .addColumn("target_location_id", "bigint", (c) => c.references("locations.id"))
        .addColumn("key", "text", (c) => c.notNull())
        .addColumn("bytes", "bigint", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("error", "text")
        .addColumn("progress", "text")
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("actions_run").on("actions").columns(["run_id", "state"]).execute();

      await id(db.schema.createTable("events"))
        .addColumn("at", "bigint", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("location_id", "bigint", (c) => c.references("locations.id"))
        .addColumn("file_id", "bigint", (c) => c.references("files.id"))
        .addColumn("run_id", "bigint", (c) => c.references("runs.id"))
        .addColumn("detail", "text")
        .execute();
    },
  };

  const policies: Migration = {
    async up(db: Kysely<unknown>) {
      await id(db.schema.createTable("purge_notices"))
        .addColumn("policy", "text", (c) => c.notNull())
        .addColumn("file_id", "bigint", (c) => c.notNull().references("files.id"))
        .addColumn("uid", "bigint", (c) => c.notNull())
        .addColumn("atime_us", "bigint", (c) => c.notNull())
        .addColumn("announced_at", "bigint", (c) => c.notNull())
        .addColumn("delete_after", "bigint", (c) => c.notNull())
        .addUniqueConstraint("purge_notices_policy_file", ["policy", "file_id"])
        .execute();
      await db.schema
        .createTable("policy_locks")
        .addColumn("policy", "text", (c) => c.primaryKey())
        .addColumn("holder", "text", (c) => c.notNull())
        .addColumn("acquired_at", "bigint", (c) => c.notNull())
        .addColumn("expires_at", "bigint", (c) => c.notNull())
        .execute();
    },
  };

  // A multipart upload in progress, and its acknowledged parts, so a killed upload resumes.
  const uploads: Migration = {
    async up(db: Kysely<unknown>) {
      await id(db.schema.createTable("uploads"))
        .addColumn("location_id", "bigint", (c) => c.notNull().references("locations.id"))
        .addColumn("key", "text", (c) => bytewise(c.notNull()))
        .addColumn("file_id", "bigint", (c) => c.notNull().references("files.id"))
        .addColumn("source_size", "bigint", (c) => c.notNull())
        .addColumn("source_mtime_us", "bigint", (c) => c.notNull())
        .addColumn("upload_id", "text", (c) => c.notNull())
        .addColumn("part_size", "bigint", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addUniqueConstraint("uploads_location_key", ["location_id", "key"])
        .execute();
      await db.schema
        .createTable("upload_parts")
        .addColumn("upload_row_id", "bigint", (c) => c.notNull().references("uploads.id").onDelete("cascade"))
        .addColumn("part_number", "integer", (c) => c.notNull())
        .addColumn("etag", "text", (c) => c.notNull())
        .addColumn("md5", "text", (c) => c.notNull())
        .addColumn("checksum", "text")
        .addPrimaryKeyConstraint("upload_parts_pk", ["upload_row_id", "part_number"])
        .execute();
    },
  };

  // A thaw requested of an archived replica, so a later run or the daemon finishes the copy.
  const restores: Migration = {
    async up(db: Kysely<unknown>) {
      await id(db.schema.createTable("restore_requests"))
        .addColumn("replica_id", "bigint", (c) => c.notNull().references("replicas.id"))
        .addColumn("file_id", "bigint", (c) => c.notNull().references("files.id"))
        .addColumn("tier", "text", (c) => c.notNull())
        .addColumn("days", "integer", (c) => c.notNull())
        .addColumn("requested_at", "bigint", (c) => c.notNull())
        .addColumn("expected_at", "bigint")
        .addColumn("target_dir", "text")
        .addColumn("replica_state", "text", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("finished_at", "bigint")
        .addColumn("error", "text")
        .execute();
      await db.schema.createIndex("restore_requests_state").on("restore_requests").columns(["state", "id"]).execute();
    },
  };

  // What a release put in a file's place, so a scan can tell the stub from new data.
  const stubs: Migration = {
    async up(db: Kysely<unknown>) {
      // One column per statement: SQLite's ALTER TABLE adds one at a time.
      for (const column of ["stub_size", "stub_mtime_us", "stub_inode"]) {
        await db.schema.alterTable("files").addColumn(column, "bigint").execute();
      }
    },
  };

  // The device a POSIX location's root was on when a scan first found it non-empty: a root on
  // another device later is an unmounted filesystem's mount point, not a tree whose files all went.
  const rootDevice: Migration = {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable("locations").addColumn("root_device", "bigint").execute();
    },
  };

  // Who did what, when: one event per action carried out (see src/engine/events.ts), for `strata log`.
  const engineEvents: Migration = {
    async up(db: Kysely<unknown>) {
      // One column per statement: SQLite's ALTER TABLE adds one at a time. Defaults only let the
      // NOT NULL columns be added to a table that may hold rows; every writer sets them.
      const events = () => db.schema.alterTable("events");
      await events()
        .addColumn("target_location_id", "bigint", (c) => c.references("locations.id"))
        .execute();
      await events()
        .addColumn("bytes", "bigint", (c) => c.notNull().defaultTo(0))
        .execute();
      await events().addColumn("policy", "text").execute();
      await events()
        .addColumn("host", "text", (c) => c.notNull().defaultTo(""))
        .execute();
      await events()
        .addColumn("user", "text", (c) => c.notNull().defaultTo(""))
        .execute();
      await events()
        .addColumn("outcome", "text", (c) => c.notNull().defaultTo("done"))
        .execute();
      await db.schema.createIndex("events_at").on("events").column("at").execute();
      await db.schema.createIndex("events_file").on("events").column("file_id").execute();
    },
  };

  // What `strata find` needs to answer from indexes (see docs/design-notes.md, "Queries: find"):
  // a trigram index over each file's base name, so a pattern with a leading wildcard
  // (`-name '*run*'`) reads the rows holding its trigrams instead of every row, and one B-tree
  // for the selective question admins ask most (one owner's files over a size).
  const findIndexes: Migration = {
    async up(db: Kysely<unknown>) {
      await db.schema.createIndex("files_owner_size").on("files").columns(["uid", "size"]).execute();
      if (dialect === "sqlite") {
        // Contentless (the names live in files.path already), detail=none (no positions) and
        // columnsize=0 (no per-row sizes): about 20 bytes a file. The index answers "which rows
        // hold these trigrams", a superset the query then checks exactly. Removing a row's
        // trigrams takes the name it was indexed under, which the triggers have in `old`.
        await sql`CREATE VIRTUAL TABLE files_name_trigrams USING fts5(
          name, tokenize = 'trigram', detail = 'none', content = '', columnsize = 0)`.execute(db);
        const name = (row: "new" | "old") => sql.raw(sqliteBaseName(`${row}.path`));
        const add = sql`INSERT INTO files_name_trigrams (rowid, name) VALUES (new.id, ${name("new")});`;
        const remove = sql`INSERT INTO files_name_trigrams (files_name_trigrams, rowid, name)
          VALUES ('delete', old.id, ${name("old")});`;
        await sql`CREATE TRIGGER files_name_trigrams_insert AFTER INSERT ON files BEGIN ${add} END`.execute(db);
        await sql`CREATE TRIGGER files_name_trigrams_rename AFTER UPDATE OF path ON files
          WHEN old.path IS NOT new.path BEGIN ${remove} ${add} END`.execute(db);
        await sql`CREATE TRIGGER files_name_trigrams_delete AFTER DELETE ON files BEGIN ${remove} END`.execute(db);
        await sql`INSERT INTO files_name_trigrams (rowid, name)
          SELECT id, ${sql.raw(sqliteBaseName("path"))} FROM files`.execute(db);
      } else {
        // pg_trgm is a trusted extension: a role with CREATE on the database (its owner) may
        // create it. Where it cannot (no contrib package, a role without that right), find works
        // without the index, slower on leading wildcards, rather than no command opening the
        // catalog; the savepoint keeps the migration's transaction alive past the failure.
        await sql`SAVEPOINT find_name_trigrams`.execute(db);
        try {
          await sql`CREATE EXTENSION IF NOT EXISTS pg_trgm`.execute(db);
          await sql`CREATE INDEX files_name_trigrams ON files
            USING gin ((${sql.raw(postgresBaseName("path"))}) gin_trgm_ops)`.execute(db);
          await sql`RELEASE SAVEPOINT find_name_trigrams`.execute(db);
        } catch {
          await sql`ROLLBACK TO SAVEPOINT find_name_trigrams`.execute(db);
        }
      }
    },
  };

  // du's summary tables and the triggers that keep them exact (see src/catalog/summaries.ts).
  const duSummaries: Migration = {
    async up(db: Kysely<unknown>) {
      await createSummaries(db, dialect);
    },
  };

  // `strata log --run N` reads one run's events by this index, not by a walk of the whole table.
  const eventsByRun: Migration = {
    async up(db: Kysely<unknown>) {
      await db.schema.createIndex("events_run").on("events").columns(["run_id", "id"]).execute();
    },
  };

  // API tokens of `strata serve`: only a token's SHA-256 is kept, so a stolen catalog grants nothing.
  const tokens: Migration = {
    async up(db: Kysely<unknown>) {
      await id(db.schema.createTable("tokens"))
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("role", "text", (c) => c.notNull())
        .addColumn("hash", "text", (c) => c.notNull().unique())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("revoked_at", "bigint")
        .execute();
    },
  };

  // Strata's own alerts (src/engine/alerts/): one row per episode of a rule firing for a
  // subject, and every message sent about it. At most one firing row per rule and subject.
  const alerts: Migration = {
    async up(db: Kysely<unknown>) {
      await id(db.schema.createTable("alerts"))
        .addColumn("rule", "text", (c) => c.notNull())
        .addColumn("subject", "text", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("severity", "text", (c) => c.notNull())
        .addColumn("summary", "text", (c) => c.notNull())
        .addColumn("labels", "text", (c) => c.notNull())
        .addColumn("starts_at", "bigint", (c) => c.notNull())
        .addColumn("ends_at", "bigint")
        .addColumn("last_sent_at", "bigint")
        .execute();
      await db.schema
        .createIndex("alerts_firing")
        .on("alerts")
        .columns(["rule", "subject"])
        .unique()
        .where(sql.ref("state"), "=", "firing")
        .execute();
      await db.schema.createIndex("alerts_state").on("alerts").columns(["state", "ends_at"]).execute();
      await id(db.schema.createTable("alert_deliveries"))
        .addColumn("alert_id", "bigint", (c) => c.notNull().references("alerts.id"))
        .addColumn("receiver", "text", (c) => c.notNull())
        .addColumn("kind", "text", (c) => c.notNull())
        .addColumn("at", "bigint", (c) => c.notNull())
        .addColumn("outcome", "text", (c) => c.notNull())
        .addColumn("error", "text")
        .execute();
      await db.schema
        .createIndex("alert_deliveries_alert")
        .on("alert_deliveries")
        .columns(["alert_id", "receiver", "kind", "at"])
        .execute();
    },
  };

  // Capacity snapshots and the summaries metrics read (see src/catalog/capacity-summaries.ts).
  const snapshots: Migration = {
    async up(db: Kysely<unknown>) {
      await createSnapshots(db, dialect);
    },
  };

  // The bytes a replica's store holds, when not its logical size (a compressed object's frames).
  const storedSize: Migration = {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable("replicas").addColumn("stored_size", "bigint").execute();
    },
  };

  // Pack members (docs/formats.md, "Packs"): where a member's frame lies in its pack, and the
  // pack's own codec. One pack row per key, so recording a pack found again is idempotent.
  const packMembers: Migration = {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable("replicas").addColumn("pack_offset", "bigint").execute();
      await db.schema.alterTable("replicas").addColumn("pack_length", "bigint").execute();
      await db.schema.alterTable("packs").addColumn("codec", "text").execute();
      await db.schema.createIndex("packs_location_key").on("packs").columns(["location_id", "key"]).unique().execute();
      await db.schema.createIndex("replicas_pack").on("replicas").column("pack_id").execute();
    },
  };

  // Deduplication looks a content up by hash and size among one location's replicas.
  const dedup: Migration = {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createIndex("replicas_location_hash")
        .on("replicas")
        .columns(["location_id", "hash", "size"])
        .execute();
    },
  };

  // A run another process asked to stop (the server's cancel): the run polls for it.
  const runStopRequests: Migration = {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable("runs").addColumn("stop_requested_at", "bigint").execute();
    },
  };

  // du's and metrics' summaries count a copy's stored bytes as coalesce(stored_size, size): a
  // compressed copy or a pack member at what its store holds, not its logical size.
  const policyPack: Migration = {
    async up(db: Kysely<unknown>) {
      await sumStoredBytes(db, dialect);
      await sumStoredReplicaBytes(db, dialect);
    },
  };

  // "Does an older copy hold these bytes?" (cost's and du's deduplicated bytes) is asked per
  // replica: for a pack member that is (location, key, offset). With (location, key) alone each
  // member scanned every member of its pack before it: quadratic, minutes at 100,000 members.
  const replicasAtMember: Migration = {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createIndex("replicas_location_key_offset")
        .on("replicas")
        .columns(["location_id", "key", "pack_offset"])
        .execute();
    },
  };

  // A new copy that cannot change its file's du flags (the common case: every pack member) adds
  // its own row in 3 statements instead of the file's whole contribution out and back in.
  const fastReplicaInsert: Migration = {
    async up(db: Kysely<unknown>) {
      await fastReplicaInserts(db, dialect);
    },
  };

  // A scan's new rows in bulk (src/catalog/files.ts, FileUpserter): on SQLite the files insert
  // triggers skip the rows of a batch marked in its transaction (until 0028, which drops the
  // marker: the load drops the triggers inside its transaction instead), whose summaries and
  // trigrams the writer adds once per batch. PostgreSQL sums a statement's new rows already (and its trigram
  // index is a GIN index, no trigger).
  const bulkFileInserts: Migration = {
    async up(db: Kysely<unknown>) {
      if (dialect !== "sqlite") return;
      await skipBulkInserts(db);
      const name = sql.raw(sqliteBaseName("new.path"));
      await sql`DROP TRIGGER files_name_trigrams_insert`.execute(db);
      await sql`CREATE TRIGGER files_name_trigrams_insert AFTER INSERT ON files WHEN ${sql.raw(NOT_BULK)}
        BEGIN INSERT INTO files_name_trigrams (rowid, name) VALUES (new.id, ${name}); END`.execute(db);
    },
  };

  // replicas_location_key_offset (0021) begins with (location_id, key): it answers every lookup
  // the older index did, which each replica insert kept up to date for nothing (a pack's 100,000
  // members wrote one more 70-byte index entry each).
  const dropReplicaKeyIndex: Migration = {
    async up(db: Kysely<unknown>) {
      await db.schema.dropIndex("replicas_location_key").execute();
    },
  };

  // A pack's members in bulk (src/catalog/replicas.ts, recordReplicasInBulk): on SQLite the
  // replica insert triggers' short way and the capacity trigger skip the rows of a batch marked in
  // its transaction, whose copies the writer adds once per batch. PostgreSQL is left as it is.
  const bulkReplicaInserts: Migration = {
    async up(db: Kysely<unknown>) {
      if (dialect !== "sqlite") return;
      await skipBulkReplicaInserts(db);
      await skipBulkReplicaStates(db);
    },
  };

  // The name and directory of a path in linear time (src/catalog/path-sql.ts): every SQLite
  // trigger that computed them with rtrim made again. PostgreSQL's spellings are unchanged.
  const linearPathNames: Migration = {
    async up(db: Kysely<unknown>) {
      if (dialect === "sqlite") await useLinearPathNames(db);
    },
  };

  // The name trigrams' index (FTS5) merges its segments 16 at a time, not 4: every transaction
  // of a scan writes one segment, and merging them 4 at a time rewrote the index about
  // log4(transactions) times over (0.7 s of a 1,000,000-entry scan's writer). With `crisismerge`
  // at its default, also 16, a level's 16 segments are merged in one step. A query reads at most
  // 15 segments per level instead of 3, microseconds per trigram.
  const trigramMerges: Migration = {
    async up(db: Kysely<unknown>) {
      if (dialect !== "sqlite") return;
      await sql`INSERT INTO files_name_trigrams (files_name_trigrams, rank) VALUES ('automerge', ${sql.lit(TRIGRAM_AUTOMERGE)})`.execute(
        db,
      );
    },
  };

  // The scan's bulk path drops the files insert triggers inside its transaction instead of
  // marking its rows (src/catalog/files.ts, withoutInsertTriggers): their WHEN and the marker
  // go. PostgreSQL never had them.
  const bulkInsertsWithoutMarker: Migration = {
    async up(db: Kysely<unknown>) {
      if (dialect === "sqlite") await dropBulkInsertMarker(db);
    },
  };

  return {
    getMigrations: async () => ({
      "0001_initial": initial,
      "0002_uploads": uploads,
      "0003_policies": policies,
      "0004_restores": restores,
      "0005_stubs": stubs,
      "0006_root_device": rootDevice,
      "0007_engine_events": engineEvents,
      "0008_find_indexes": findIndexes,
      "0009_du_summaries": duSummaries,
      "0010_events_by_run": eventsByRun,
      "0011_tokens": tokens,
      "0012_snapshots": snapshots,
      "0013_alerts": alerts,
      "0014_stored_size": storedSize,
      "0015_pack_members": packMembers,
      "0016_dedup": dedup,
      "0017_run_stop_requests": runStopRequests,
      "0020_policy_pack": policyPack,
      "0021_replicas_at_member": replicasAtMember,
      "0022_fast_replica_insert": fastReplicaInsert,
      "0023_bulk_file_inserts": bulkFileInserts,
      "0024_drop_replica_key_index": dropReplicaKeyIndex,
      "0025_bulk_replica_inserts": bulkReplicaInserts,
      "0026_linear_path_names": linearPathNames,
      "0027_trigram_merges": trigramMerges,
      "0028_bulk_inserts_without_marker": bulkInsertsWithoutMarker,
    }),
  };
}
