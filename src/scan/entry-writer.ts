import { sql } from "kysely";
import type { CatalogDb } from "../catalog/db.js";
import { openCatalogConnection } from "../catalog/db.js";
import { type FileStat, FileUpserter, type ReplicaLocationOf } from "../catalog/files.js";
import { allLocations } from "../catalog/locations.js";
import { UsageError } from "../config/errors.js";
import { batchTotals, unpackBatch } from "./entry-batch.js";
import type { WriteReply, WriteRequest, WriterInit } from "./write-protocol.js";

/** The scan's catalog writer, as its coordinator talks to it: requests in, replies out. */
export interface EntryWriter {
  /** Takes a request; requests are handled strictly in order. */
  handle(request: WriteRequest): void;
  /** Stops writing (what is committed stays) and closes the connection. */
  abort(): Promise<void>;
}

/**
 * Records a scan's entries on a connection of its own (catalog-writer.ts runs it on a thread of
 * its own, or on the caller's for a small tree). Entries are gathered into transactions of
 * `batchSize`; the first failure ends all writing.
 */
export function entryWriter(init: WriterInit, reply: (message: WriteReply) => void): EntryWriter {
  /** Where failures happened, for their message; known once the connection is open. */
  let where = "catalog";
  const opened = open(init).then((writing) => {
    where = `catalog ${writing.catalog.displayUrl}`;
    return writing;
  });
  // A failure to open is reported when the first request awaits it, not as a crash before.
  opened.catch(() => {});
  let pending: FileStat[] = [];
  let pendingBytes = 0;
  let work: Promise<void> = Promise.resolve();
  let failed = false;
  let closing: Promise<void> | undefined;
  const close = (catalog: CatalogDb) => (closing ??= catalog.close());

  const commit = async (upserter: FileUpserter) => {
    if (pending.length === 0) return;
    const rows = pending;
    const bytes = pendingBytes;
    pending = [];
    pendingBytes = 0;
    await upserter.write(rows);
    reply({ type: "written", entries: rows.length, bytes });
  };

  const take = async (request: WriteRequest) => {
    const { catalog, upserter } = await opened;
    if (request.type === "entries") {
      for (const entry of unpackBatch(request.batch)) pending.push(entry);
      pendingBytes += batchTotals(request.batch).bytes;
      if (pending.length >= init.batchSize) await commit(upserter);
      return;
    }
    await commit(upserter);
    reply({ type: "committed" });
    // SQLite's index build sorts every row: on disk past its cache, not all in memory.
    if (catalog.dialect === "sqlite") await sql`PRAGMA temp_store = DEFAULT`.execute(catalog.db);
    await upserter.finish();
    await close(catalog);
    reply({ type: "finished" });
  };

  const closeQuietly = () => opened.then(({ catalog }) => close(catalog)).catch(() => {});

  const fail = (err: unknown) => {
    failed = true;
    const code = (err as { code?: unknown }).code;
    // A failure to open already names the catalog.
    const message = err instanceof UsageError ? err.message : `${where}: ${(err as Error).message}`;
    reply({ type: "failed", message, ...(typeof code === "string" ? { code } : {}) });
    void closeQuietly();
  };

  return {
    handle(request) {
      work = work.then(() => (failed ? undefined : take(request))).catch(fail);
    },
    async abort() {
      failed = true;
      await work;
      await closeQuietly();
    },
  };
}

async function open(init: WriterInit): Promise<{ catalog: CatalogDb; upserter: FileUpserter }> {
  const catalog = await openCatalogConnection(init.catalogUrl, { bulkWrites: true });
  const upserter = new FileUpserter(catalog, init.locationId, init.scanId, await replicaLocations(catalog));
  return { catalog, upserter };
}

/** Where a stub's replica is, by its location's URL: the URL is a location's identity in the catalog. */
async function replicaLocations(catalog: CatalogDb): Promise<ReplicaLocationOf> {
  const byUrl = new Map((await allLocations(catalog)).map((l) => [l.url, l.id]));
  return (replica) => byUrl.get(replica.url);
}
