import {
  CompiledQuery,
  type ExpressionBuilder,
  type InsertObject,
  type InsertQueryBuilder,
  type InsertResult,
  type Kysely,
  type OnConflictBuilder,
  type RawBuilder,
  sql,
  type Transaction,
} from "kysely";
import type { StubRecord } from "../codec/stub.js";
import type { CatalogDb } from "./db.js";
import { buildDeferredIndexes, deferIndexesIfEmpty } from "./deferred-indexes.js";
import { addNewFileSums } from "./new-file-sums.js";
import { sqliteBaseName } from "./path-sql.js";
import { learnReplicas } from "./replicas.js";
import type { CatalogSchema, FileKind, FileRow, FileState } from "./schema.js";
import { takeSnapshot } from "./snapshots.js";
import { bulkDoneFileTriggers, bulkInsertedFilesSummaries, largestId } from "./summaries.js";

/** What a scan or an inventory saw of one entry. */
export interface FileStat {
  path: string;
  kind: FileKind;
  size: number;
  mtimeUs: number;
  atimeUs: number;
  ctimeUs: number;
  mode: number;
  uid: number;
  gid: number;
  inode: number;
  /** Known only when the listing carries it (object stores that kept Strata's metadata). */
  hash?: string;
  /** The entry is a Strata stub, and this is what it says (POSIX scans only). */
  stub?: StubRecord;
  /** The detected type family (netcdf, fastq, …) of a file, from its name. */
  fileType?: string | null;
}

/** The catalog id of the location a stub's replica lives at, if the catalog knows it. */
export type ReplicaLocationOf = (replica: StubRecord["replicas"][number]) => number | undefined;

/** The columns bound per scanned entry; the location, state and scan ids are literals of the statement. */
const BOUND_COLUMNS = [
  "path",
  "kind",
  "size",
  "mtime_us",
  "atime_us",
  "ctime_us",
  "mode",
  "uid",
  "gid",
  "inode",
  "hash",
  "file_type",
];

/** Rows per INSERT: under SQLite's 32,766 and PostgreSQL's 65,535 bound parameters. */
export const UPSERT_ROWS = 1000;

// The content may have changed: the hash no longer describes it. The ctime too, since an edit
// can put the mtime back (`touch -d`, `cp -p`, `rsync -t`) but cannot set the ctime.
const contentChanged = sql`(files.size <> excluded.size OR files.mtime_us <> excluded.mtime_us
  OR files.ctime_us <> excluded.ctime_us OR files.inode <> excluded.inode OR files.kind <> excluded.kind
  OR files.state <> 'present')`;

/**
 * The entry on disk is still the stub a release wrote: the same size, and the same inode (a stub
 * only touched or chmod-ed) or the same mtime (a stub copied back from a backup). The row then
 * stays 'released' and keeps the original file's attributes and hash: the stub is not new data.
 */
const stubIntact = sql`(files.stub_size IS NOT NULL AND excluded.kind = 'file' AND excluded.size = files.stub_size
  AND (excluded.inode = files.stub_inode OR excluded.mtime_us = files.stub_mtime_us))`;

/**
 * The row is what the full upsert would leave as it is, but for seen_scan_id: a present file (no
 * stub recorded) with every attribute the scan writes unchanged, and no hash learnt that differs.
 */
const unchanged = sql<boolean>`(files.state = 'present' AND files.stub_size IS NULL AND files.stub_mtime_us IS NULL
  AND files.stub_inode IS NULL AND files.kind = excluded.kind AND files.file_type IS excluded.file_type
  AND files.size = excluded.size AND files.mtime_us = excluded.mtime_us AND files.atime_us = excluded.atime_us
  AND files.ctime_us = excluded.ctime_us AND files.mode = excluded.mode AND files.uid = excluded.uid
  AND files.gid = excluded.gid AND files.inode = excluded.inode
  AND (excluded.hash IS NULL OR excluded.hash IS files.hash))`;

/** `column` as the scan saw it (`scanned`), unless the entry is an intact stub. */
const unlessStub = <T = number>(column: keyof FileRow, scanned: RawBuilder<unknown> = sql.ref(`excluded.${column}`)) =>
  sql<T>`CASE WHEN ${stubIntact} THEN ${sql.ref(`files.${column}`)} ELSE ${scanned} END`;

/**
 * Writes scanned entries in multi-row upserts. The statement for a full batch is compiled once
 * and reused with fresh parameters: building a 16,000-parameter query per batch cost more than
 * running it.
 *
 * On SQLite, rows the catalog does not hold yet take a bulk path (`insertNew`): plain inserts
 * with the per-row triggers skipped, then du's summaries and the name trigrams of the whole
 * batch added at once, summed per key (du's in memory, from the entries the writer holds). A
 * batch is tried that way when the last rows written were all new (at first: when the location
 * had no rows), so a fresh scan goes in bulk and a re-scan upserts as before.
 */
export class FileUpserter {
  private readonly compiled = new Map<string, string>();
  /** The next rows are expected to be new; undefined until the first write asks the catalog. */
  private expectNew: boolean | undefined;

  constructor(
    private readonly catalog: CatalogDb,
    private readonly locationId: number,
    private readonly scanId: number,
    private readonly replicaLocationOf: ReplicaLocationOf = () => undefined,
  ) {}

  /** Writes a batch in one transaction: one commit per batch, not per statement. */
  async write(entries: readonly FileStat[]): Promise<void> {
    const data = entries.filter((e) => e.stub === undefined);
    const stubs = entries.filter((e) => e.stub !== undefined);
    const sqlite = this.catalog.dialect === "sqlite";
    await this.catalog.db.transaction().execute(async (trx) => {
      if (this.expectNew === undefined && sqlite) await deferIndexesIfEmpty(trx);
      this.expectNew ??= sqlite && !(await locationHasFiles(trx, this.locationId));
      const rest = this.expectNew ? await this.insertNew(trx, data) : data;
      for (let start = 0; start < rest.length; start += UPSERT_ROWS) {
        const chunk = rest.slice(start, start + UPSERT_ROWS);
        if (sqlite) this.expectNew = await this.upsertCountingNew(trx, chunk);
        else await this.upsert(trx, chunk);
      }
      for (let start = 0; start < stubs.length; start += UPSERT_ROWS / 4) {
        await this.writeStubs(trx, stubs.slice(start, start + UPSERT_ROWS / 4));
      }
    });
  }

  /**
   * After the last write, on SQLite: builds the deferrable indexes if missing, those this load
   * deferred or a killed one left unbuilt.
   */
  async finish(): Promise<void> {
    if (this.catalog.dialect === "sqlite") await buildDeferredIndexes(this.catalog.db);
  }

  private async upsert(trx: Transaction<CatalogSchema>, chunk: readonly FileStat[]): Promise<void> {
    await trx.executeQuery(CompiledQuery.raw(this.statement("upsert", chunk.length), boundValues(chunk)));
  }

  /**
   * SQLite: upserts the chunk; returns whether every row of it was new (ids only grow, one writer
   * at a time). Rows the scan finds as they were only get their seen_scan_id: rewriting their
   * size and uid, as the full upsert does, rewrote their files_owner_size entry too (half of a
   * re-scan's time). The full upsert then runs only when some row changed, for those rows alone.
   */
  private async upsertCountingNew(trx: Transaction<CatalogSchema>, chunk: readonly FileStat[]): Promise<boolean> {
    const before = await largestId(trx, "files");
    const values = boundValues(chunk);
    const seen = await trx.executeQuery(CompiledQuery.raw(this.statement("seen", chunk.length), values));
    if (Number(seen.numAffectedRows) < chunk.length) {
      await trx.executeQuery(CompiledQuery.raw(this.statement("changed", chunk.length), values));
    }
    const { rows } = await sql<{ n: number }>`SELECT count(*) AS n FROM files WHERE id > ${before}`.execute(trx);
    return Number(rows[0]?.n) === chunk.length;
  }

  /**
   * SQLite's bulk path: chunks inserted with the files insert triggers dropped (see
   * `withoutInsertTriggers`) and rows already there left alone, until a chunk meets one (a
   * re-scan, another writer); then du's sums of the rows inserted whole added from memory
   * (new-file-sums.ts), those of the chunk that met a row and every new row's trigrams set-wise
   * over their id range (ids only grow, and the transaction is the only writer). Returns the
   * entries still to upsert with the triggers on: from that chunk on, whose rows just inserted an
   * upsert leaves as they are.
   */
  private async insertNew(trx: Transaction<CatalogSchema>, data: readonly FileStat[]): Promise<readonly FileStat[]> {
    // A batch of stubs alone has no row for this path: the schema is left as it is.
    if (data.length === 0) return data;
    const before = await largestId(trx, "files");
    /** The largest id before the chunk being inserted: the chunk's rows are past it. */
    let chunkFrom = before;
    const start = await withoutInsertTriggers(trx, async () => {
      let start = 0;
      for (; start < data.length; start += UPSERT_ROWS) {
        const chunk = data.slice(start, start + UPSERT_ROWS);
        if (start > 0) chunkFrom = await largestId(trx, "files");
        const insert = CompiledQuery.raw(this.statement("insert", chunk.length), boundValues(chunk));
        const inserted = await trx.executeQuery(insert);
        if (Number(inserted.numAffectedRows) < chunk.length) break;
      }
      return start;
    });
    const last = await largestId(trx, "files");
    // The rows of the chunks inserted whole are known here; which of the chunk that met an
    // existing row went in, only SQL knows (its ids, past chunkFrom). SQL also sums them all
    // when a sum is past what a double holds exactly.
    const summed = await addNewFileSums(trx, this.locationId, data.slice(0, start));
    if (!summed || start < data.length) {
      for (const statement of bulkInsertedFilesSummaries()) {
        await trx.executeQuery(CompiledQuery.raw(statement, [summed ? chunkFrom : before, last]));
      }
    }
    await trx.executeQuery(CompiledQuery.raw(BULK_TRIGRAMS, [before, last]));
    this.expectNew = start >= data.length;
    return data.slice(start);
  }

  /**
   * Entries that are Strata stubs, known from their own content: each row is the released file
   * the stub describes (its original size, mtime and hash; the stub's own size, mtime and inode
   * kept to recognise it), whatever the catalog held before, and the replicas the stub names
   * are learnt where the catalog knows their location and has no replica there yet. A lost
   * catalog thus learns which object holds each released file, and no stub is ever data.
   */
  private async writeStubs(trx: Transaction<CatalogSchema>, entries: readonly FileStat[]): Promise<void> {
    const sameVersion = sql`(files.size = excluded.size AND files.mtime_us = excluded.mtime_us
      AND files.hash = excluded.hash AND files.kind = 'file')`;
    const rows = await trx
      .insertInto("files")
      .values(
        entries.map((e) => {
          const stub = e.stub as StubRecord;
          return {
            location_id: this.locationId,
            path: e.path,
            kind: "file" as const,
            size: stub.size,
            mtime_us: stub.mtimeUs,
            atime_us: e.atimeUs,
            ctime_us: e.ctimeUs,
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            inode: e.inode,
            hash: stub.sha256,
            file_type: e.fileType ?? null,
            state: "released" as const,
            first_scan_id: this.scanId,
            seen_scan_id: this.scanId,
            changed_scan_id: this.scanId,
            stub_size: e.size,
            stub_mtime_us: e.mtimeUs,
            stub_inode: e.inode,
          };
        }),
      )
      .onConflict((oc) =>
        oc.columns(["location_id", "path"]).doUpdateSet({
          kind: sql`excluded.kind`,
          size: sql`excluded.size`,
          mtime_us: sql`excluded.mtime_us`,
          atime_us: sql`excluded.atime_us`,
          ctime_us: sql`excluded.ctime_us`,
          mode: sql`excluded.mode`,
          uid: sql`excluded.uid`,
          gid: sql`excluded.gid`,
          // The original file's inode, when the catalog knew the file; the stub's otherwise.
          inode: sql`CASE WHEN ${sameVersion} THEN files.inode ELSE excluded.inode END`,
          hash: sql`excluded.hash`,
          file_type: sql`excluded.file_type`,
          state: sql`excluded.state`,
          changed_scan_id: sql`CASE WHEN ${sameVersion} THEN files.changed_scan_id ELSE excluded.changed_scan_id END`,
          seen_scan_id: sql`excluded.seen_scan_id`,
          deleted_scan_id: sql`NULL`,
          stub_size: sql`excluded.stub_size`,
          stub_mtime_us: sql`excluded.stub_mtime_us`,
          stub_inode: sql`excluded.stub_inode`,
        }),
      )
      .returning(["id", "path"])
      .execute();
    const idOf = new Map(rows.map((r) => [r.path, r.id]));
    await learnReplicas(
      trx,
      entries.flatMap((e) => {
        const stub = e.stub as StubRecord;
        const fileId = idOf.get(e.path);
        if (fileId === undefined) return [];
        return stub.replicas.flatMap((replica) => {
          const locationId = this.replicaLocationOf(replica);
          return locationId === undefined ? [] : [{ fileId, locationId, stub, replica }];
        });
      }),
    );
  }

  /**
   * A statement over `rows` entries: `upsert` writes each; `insert` leaves rows already there
   * alone; `seen` inserts new rows and marks unchanged ones seen, leaving changed ones alone,
   * which `changed` then upserts (and no other).
   */
  private statement(mode: "upsert" | "insert" | "seen" | "changed", rows: number): string {
    const key = `${mode}:${rows}`;
    const cached = this.compiled.get(key);
    if (cached) return cached;
    const insert = this.catalog.db
      .insertInto("files")
      .values(Array.from({ length: rows }, () => this.placeholderRow()));
    const onPath = (oc: OnConflictBuilder<CatalogSchema, "files">) => oc.columns(["location_id", "path"]);
    const query = {
      insert: () => insert.onConflict((oc) => onPath(oc).doNothing()),
      seen: () =>
        insert.onConflict((oc) =>
          onPath(oc)
            .doUpdateSet({ seen_scan_id: sql`excluded.seen_scan_id`, deleted_scan_id: sql`NULL` })
            .where(unchanged),
        ),
      // IS NOT TRUE: a row `seen` did not take, whatever its condition came to.
      changed: () => this.upsertOf(insert, sql<boolean>`${unchanged} IS NOT TRUE`),
      upsert: () => this.upsertOf(insert),
    }
      [mode]()
      .compile();
    if (query.parameters.length !== rows * BOUND_COLUMNS.length) {
      throw new Error("file upsert: unexpected parameter layout");
    }
    this.compiled.set(key, query.sql);
    return query.sql;
  }

  /** The full upsert, of the rows `only` admits if given. */
  private upsertOf(insert: InsertQueryBuilder<CatalogSchema, "files", InsertResult>, only?: RawBuilder<boolean>) {
    return insert.onConflict((oc) => {
      const update = oc.columns(["location_id", "path"]).doUpdateSet({
        kind: sql`excluded.kind`,
        // Tags are left alone: a scan never learns them, `strata tag` sets them.
        file_type: sql`excluded.file_type`,
        size: unlessStub("size"),
        mtime_us: unlessStub("mtime_us"),
        atime_us: unlessStub("atime_us"),
        ctime_us: unlessStub("ctime_us"),
        mode: unlessStub("mode"),
        uid: unlessStub("uid"),
        gid: unlessStub("gid"),
        inode: unlessStub("inode"),
        hash: unlessStub<string | null>(
          "hash",
          sql`CASE WHEN ${contentChanged} THEN excluded.hash ELSE COALESCE(excluded.hash, files.hash) END`,
        ),
        changed_scan_id: unlessStub(
          "changed_scan_id",
          sql`CASE WHEN ${contentChanged} THEN excluded.changed_scan_id ELSE files.changed_scan_id END`,
        ),
        // 'released' also when the release died between renaming the stub in and saying so.
        state: sql`CASE WHEN ${stubIntact} THEN 'released' ELSE excluded.state END`,
        stub_size: unlessStub<number | null>("stub_size", sql`NULL`),
        stub_mtime_us: unlessStub<number | null>("stub_mtime_us", sql`NULL`),
        stub_inode: unlessStub<number | null>("stub_inode", sql`NULL`),
        seen_scan_id: sql`excluded.seen_scan_id`,
        deleted_scan_id: sql`NULL`,
      });
      return only ? update.where(only) : update;
    });
  }

  /**
   * Only the shape matters: each bound value compiles to one parameter, in BOUND_COLUMNS order.
   * The ids are integers this object owns, so inlining them is safe and binds a third fewer values.
   */
  private placeholderRow(): InsertObject<CatalogSchema, "files"> {
    return {
      location_id: sql.lit(this.locationId),
      path: "",
      kind: "file",
      size: 0,
      mtime_us: 0,
      atime_us: 0,
      ctime_us: 0,
      mode: 0,
      uid: 0,
      gid: 0,
      inode: 0,
      hash: null,
      file_type: null,
      state: sql.lit("present"),
      first_scan_id: sql.lit(this.scanId),
      seen_scan_id: sql.lit(this.scanId),
      changed_scan_id: sql.lit(this.scanId),
    };
  }
}

/**
 * Runs `insert` with the files insert triggers whose work the bulk path does itself dropped, and
 * makes them again from their own text before the transaction commits: no other connection
 * sees them missing, and a failure or a kill rolls the drop back with the rows. Skipping them by
 * their WHEN (a marker row, migration 0023) still entered both per row: 0.4–0.6 s of a
 * 1,000,000-entry scan's writer. The schema change costs each batch the re-preparing of its
 * statements, and other connections a reload of the schema (about 2.5 ms) after its commit.
 * No `finally` makes them again on a failure: the caller's transaction rolls back, the drop with it.
 */
async function withoutInsertTriggers<T>(trx: Transaction<CatalogSchema>, insert: () => Promise<T>): Promise<T> {
  const triggers = await bulkDoneFileTriggers(trx);
  for (const trigger of triggers) await sql`DROP TRIGGER ${sql.id(trigger.name)}`.execute(trx);
  const result = await insert();
  for (const trigger of triggers) await sql.raw(trigger.sql).execute(trx);
  return result;
}

/** The name trigrams of the files with `? < id <= ?` (the range bound in that order), rows just inserted by the bulk path. */
const BULK_TRIGRAMS = `INSERT INTO files_name_trigrams (rowid, name)
  SELECT id, ${sqliteBaseName("path")} FROM files WHERE id > ? AND id <= ?`;

/** One flat parameter list, filled in place: building it was a third of a scan's main-thread time. */
function boundValues(chunk: readonly FileStat[]): unknown[] {
  const values = new Array<unknown>(chunk.length * BOUND_COLUMNS.length);
  let i = 0;
  for (const e of chunk) {
    values[i++] = e.path;
    values[i++] = e.kind;
    values[i++] = e.size;
    values[i++] = e.mtimeUs;
    values[i++] = e.atimeUs;
    values[i++] = e.ctimeUs;
    values[i++] = e.mode;
    values[i++] = e.uid;
    values[i++] = e.gid;
    values[i++] = e.inode;
    values[i++] = e.hash ?? null;
    values[i++] = e.fileType ?? null;
  }
  return values;
}

export async function startScan({ db }: CatalogDb, locationId: number): Promise<number> {
  const row = await db
    .insertInto("scans")
    .values({
      location_id: locationId,
      started_at: Date.now(),
      status: "running",
      files: 0,
      bytes: 0,
      new_files: 0,
      changed_files: 0,
      deleted_files: 0,
      errors: 0,
    })
    .returning("id")
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Entries the location's last completed scan saw; undefined before its first. */
export async function lastScanEntries({ db }: CatalogDb, locationId: number): Promise<number | undefined> {
  const row = await db
    .selectFrom("scans")
    .select("files")
    .where("location_id", "=", locationId)
    .where("status", "in", ["done", "partial"])
    .orderBy("id", "desc")
    .limit(1)
    .executeTakeFirst();
  return row ? Number(row.files) : undefined;
}

export interface ScanCounts {
  files: number;
  bytes: number;
  newFiles: number;
  changedFiles: number;
  deletedFiles: number;
  /** Released files whose stub is gone; their copies are kept. */
  missingFiles: number;
}

/** Whether the catalog holds any entry of the location, in whatever state. */
export async function locationHasFiles(db: Kysely<CatalogSchema>, locationId: number): Promise<boolean> {
  const row = await db
    .selectFrom("files")
    .select("id")
    .where("location_id", "=", locationId)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** What a scan saw: its entries (of every kind), the bytes in its files, and which were new or changed. */
export type SeenCounts = Pick<ScanCounts, "files" | "bytes" | "newFiles" | "changedFiles">;

/**
 * Counts what a scan saw, once all it saw is committed. A read: it may run while the scan's
 * writer still builds its deferred indexes (deferred-indexes.ts), which hold the write lock.
 */
export async function countSeen({ db }: CatalogDb, locationId: number, scanId: number): Promise<SeenCounts> {
  const counts = await db
    .selectFrom("files")
    .select((eb) => [
      eb.fn.countAll<number>().as("files"),
      eb.fn.sum<number>(eb.case().when("kind", "=", "file").then(eb.ref("size")).else(0).end()).as("bytes"),
      eb.fn.sum<number>(eb.case().when("first_scan_id", "=", scanId).then(1).else(0).end()).as("new_files"),
      eb.fn
        .sum<number>(
          eb
            .case()
            // A directory "changes" whenever its entries do; those are what get counted.
            .when(
              eb.and([eb("changed_scan_id", "=", scanId), eb("first_scan_id", "<>", scanId), eb("kind", "<>", "dir")]),
            )
            .then(1)
            .else(0)
            .end(),
        )
        .as("changed_files"),
    ])
    .where("location_id", "=", locationId)
    .where("seen_scan_id", "=", scanId)
    .executeTakeFirstOrThrow();
  return {
    files: Number(counts.files),
    bytes: Number(counts.bytes ?? 0),
    newFiles: Number(counts.new_files ?? 0),
    changedFiles: Number(counts.changed_files ?? 0),
  };
}

/**
 * Closes a scan: entries it did not see are marked deleted (kept, not dropped), except under
 * `unseenSubtrees`, directories it could not read, whose contents are unknown rather than gone.
 * A released file whose stub is gone is marked missing, not deleted: its replicas hold its only
 * data, and nothing that deletes the copies of deleted files may take them.
 *
 * `locationWasEmpty`: the location had no entry when the scan began, so none can be unseen; the
 * two passes over its rows that look for them are skipped (0.4 s at 1,000,000 entries). Rows
 * another writer added meanwhile are left for the next scan to judge: not marking is the safe side.
 * `seen`: what `countSeen` found, when the caller counted while its writer finished.
 */
export async function finishScan(
  catalog: CatalogDb,
  locationId: number,
  scanId: number,
  unseenSubtrees: readonly string[],
  errors: number,
  { locationWasEmpty = false, seen }: { locationWasEmpty?: boolean; seen?: SeenCounts } = {},
): Promise<ScanCounts> {
  const { db } = catalog;
  const unseen = (from: FileState, to: FileState) => {
    let marking = db
      .updateTable("files")
      .set({ state: to, deleted_scan_id: scanId })
      .where("location_id", "=", locationId)
      .where("state", "=", from)
      .where("seen_scan_id", "<>", scanId);
    // A purged file (released, no stub) was never expected on disk.
    if (from === "released") marking = marking.where("stub_size", "is not", null);
    for (const dir of unseenSubtrees) {
      // "dir/" up to "dir0" ('0' follows '/') is exactly the subtree, in byte order.
      marking = marking.where((eb) => eb.not(eb.and([eb("path", ">=", `${dir}/`), eb("path", "<", `${dir}0`)])));
    }
    return marking.executeTakeFirst();
  };
  const deleted = locationWasEmpty ? undefined : await unseen("present", "deleted");
  const missing = locationWasEmpty ? undefined : await unseen("released", "missing");
  const result: ScanCounts = {
    ...(seen ?? (await countSeen(catalog, locationId, scanId))),
    deletedFiles: Number(deleted?.numUpdatedRows ?? 0),
    missingFiles: Number(missing?.numUpdatedRows ?? 0),
  };
  await db
    .updateTable("scans")
    .set({
      finished_at: Date.now(),
      status: errors > 0 ? "partial" : "done",
      files: result.files,
      bytes: result.bytes,
      new_files: result.newFiles,
      changed_files: result.changedFiles,
      deleted_files: result.deletedFiles,
      errors,
    })
    .where("id", "=", scanId)
    .execute();
  await takeSnapshot(catalog);
  return result;
}

/** Entries a location's catalog holds as there (present, or released with their stub). */
export async function liveEntries({ db }: CatalogDb, locationId: number): Promise<number> {
  const row = await db
    .selectFrom("files")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("location_id", "=", locationId)
    .where((eb) =>
      eb.or([eb("state", "=", "present"), eb.and([eb("state", "=", "released"), eb("stub_size", "is not", null)])]),
    )
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** A scan refused before it marked anything: closed as failed, its counts left at zero. */
export async function abandonScan({ db }: CatalogDb, scanId: number): Promise<void> {
  await db.updateTable("scans").set({ finished_at: Date.now(), status: "failed" }).where("id", "=", scanId).execute();
}

const HASH_BATCH = 64;

/**
 * Records content hashes learnt while copying, one statement per batch. Batches are small: the
 * CASE is searched branch by branch for each row, so a statement costs its batch size squared.
 */
export async function setFileHashes(
  { db }: { db: Kysely<CatalogSchema> },
  hashes: readonly { fileId: number; hash: string }[],
) {
  for (let start = 0; start < hashes.length; start += HASH_BATCH) {
    const batch = hashes.slice(start, start + HASH_BATCH);
    await db
      .updateTable("files")
      .set({
        hash: sql<string>`CASE id ${sql.join(
          batch.map((h) => sql`WHEN ${h.fileId} THEN ${h.hash}`),
          sql` `,
        )} END`,
      })
      .where(
        "id",
        "in",
        batch.map((h) => h.fileId),
      )
      .execute();
  }
}

export async function fileByPath({ db }: CatalogDb, locationId: number, path: string): Promise<FileRow | undefined> {
  return db
    .selectFrom("files")
    .selectAll()
    .where("location_id", "=", locationId)
    .where("path", "=", path)
    .executeTakeFirst();
}

export async function fileById({ db }: CatalogDb, id: number): Promise<FileRow | undefined> {
  return db.selectFrom("files").selectAll().where("id", "=", id).executeTakeFirst();
}

/** The rows of these ids, in id order; keep `ids` to a few hundred (one bound parameter each). */
export async function filesByIds({ db }: CatalogDb, ids: readonly number[]): Promise<FileRow[]> {
  if (ids.length === 0) return [];
  return db.selectFrom("files").selectAll().where("id", "in", ids).orderBy("id").execute();
}

/** What a release wrote in a file's place: size, mtime and inode of the stub. */
export interface StubStat {
  size: number;
  mtimeUs: number;
  inode: number;
}

/**
 * Records the stub about to replace a file, written before the rename so a scan after a crash
 * between rename and `markReleased` still knows the stub. A compare-and-set: it applies only
 * while the row is still the present version `file` was read as, stub columns included, so of
 * two releases of one file only one goes on; returns whether this one did.
 */
export async function recordStub({ db }: CatalogDb, file: FileRow, stub: StubStat): Promise<boolean> {
  const result = await db
    .updateTable("files")
    .set({ stub_size: stub.size, stub_mtime_us: stub.mtimeUs, stub_inode: stub.inode })
    .where("id", "=", file.id)
    .where("state", "=", "present")
    .where("size", "=", file.size)
    .where("mtime_us", "=", file.mtime_us)
    .where("inode", "=", file.inode)
    .where((eb) => (file.stub_inode === null ? eb("stub_inode", "is", null) : eb("stub_inode", "=", file.stub_inode)))
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** The row still carries this very stub (what one release wrote, not another's). */
function carriesStub(stub: StubStat) {
  return (eb: ExpressionBuilder<CatalogSchema, "files">) =>
    eb.and([
      eb("stub_size", "=", stub.size),
      eb("stub_mtime_us", "=", stub.mtimeUs),
      eb("stub_inode", "=", stub.inode),
    ]);
}

/** Forgets a stub that was not renamed into place, only if it is still this release's own. */
export async function forgetStub({ db }: CatalogDb, fileId: number, stub: StubStat): Promise<void> {
  await db
    .updateTable("files")
    .set({ stub_size: null, stub_mtime_us: null, stub_inode: null })
    .where("id", "=", fileId)
    .where("state", "=", "present")
    .where(carriesStub(stub))
    .execute();
}

/**
 * The file's data now lives in its replicas only; size, mtime and hash stay the original's.
 * Applies only while the row is present and carries this release's stub; returns whether it did.
 */
export async function markReleased({ db }: CatalogDb, fileId: number, stub: StubStat): Promise<boolean> {
  const result = await db
    .updateTable("files")
    .set({ state: "released" })
    .where("id", "=", fileId)
    .where("state", "=", "present")
    .where(carriesStub(stub))
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** An access seen outside a scan (a purge found the file read since its notice). */
export async function recordAtime({ db }: CatalogDb, fileId: number, atimeUs: number): Promise<void> {
  await db.updateTable("files").set({ atime_us: atimeUs }).where("id", "=", fileId).execute();
}

/**
 * A purged file (a compare-and-set on the version read: returns whether it applied): its data lives in its verified replicas alone, like a released file's, but
 * nothing stands in its place. Not 'deleted', which would tell `sync --delete` and pruning
 * policies to remove those very replicas.
 */
export async function markPurged({ db }: CatalogDb, file: FileRow): Promise<boolean> {
  const result = await db
    .updateTable("files")
    .set({ state: "released", stub_size: null, stub_mtime_us: null, stub_inode: null })
    .where("id", "=", file.id)
    .where("state", "=", "present")
    .where("size", "=", file.size)
    .where("mtime_us", "=", file.mtime_us)
    .where("inode", "=", file.inode)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}
