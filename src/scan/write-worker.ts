import { parentPort, workerData } from "node:worker_threads";
import { sql } from "kysely";
import type { CatalogDb } from "../catalog/db.js";
import { openCatalogConnection } from "../catalog/db.js";
import { type FileStat, FileUpserter, type ReplicaLocationOf } from "../catalog/files.js";
import { allLocations } from "../catalog/locations.js";
import { UsageError } from "../config/errors.js";
import { batchTotals, unpackBatch } from "./entry-batch.js";
import type { WriteReply, WriteRequest, WriterInit } from "./write-protocol.js";

/**
 * The scan's catalog writer thread: its own connection, its own thread, so the walkers are handed
 * directories while rows are written. Entries are gathered into transactions of `batchSize`;
 * requests are taken strictly in order, and the first failure ends all writing.
 */
const init = workerData as WriterInit;
const port = parentPort;
if (!port) throw new Error("write-worker must run as a worker thread");

const reply = (message: WriteReply) => port.postMessage(message);
const opened = open();
// A failure to open is reported when the first request awaits it, not as a crash before.
opened.catch(() => {});
let pending: FileStat[] = [];
let pendingBytes = 0;
let work: Promise<void> = Promise.resolve();
let failed = false;
/** Where failures happened, for their message; known once the connection is open. */
let where = "catalog";

port.on("message", (request: WriteRequest) => {
  work = work.then(() => (failed ? undefined : handle(request))).catch(fail);
});

async function open(): Promise<{ catalog: CatalogDb; upserter: FileUpserter }> {
  const catalog = await openCatalogConnection(init.catalogUrl, { bulkWrites: true });
  where = `catalog ${catalog.displayUrl}`;
  const upserter = new FileUpserter(catalog, init.locationId, init.scanId, await replicaLocations(catalog));
  return { catalog, upserter };
}

async function handle(request: WriteRequest): Promise<void> {
  const { catalog, upserter } = await opened;
  if (request.type === "entries") {
    const entries = unpackBatch(request.batch);
    for (const entry of entries) pending.push(entry);
    pendingBytes += batchTotals(request.batch).bytes;
    if (pending.length >= init.batchSize) await commit(upserter);
    return;
  }
  await commit(upserter);
  reply({ type: "committed" });
  // SQLite's index build sorts every row: on disk past its cache, not all in memory.
  if (catalog.dialect === "sqlite") await sql`PRAGMA temp_store = DEFAULT`.execute(catalog.db);
  await upserter.finish();
  await catalog.close();
  reply({ type: "finished" });
}

async function commit(upserter: FileUpserter): Promise<void> {
  if (pending.length === 0) return;
  const rows = pending;
  const bytes = pendingBytes;
  pending = [];
  pendingBytes = 0;
  await upserter.write(rows);
  reply({ type: "written", entries: rows.length, bytes });
}

function fail(err: unknown): void {
  failed = true;
  const code = (err as { code?: unknown }).code;
  // A failure to open already names the catalog.
  const message = err instanceof UsageError ? err.message : `${where}: ${(err as Error).message}`;
  reply({ type: "failed", message, ...(typeof code === "string" ? { code } : {}) });
  void opened.then(({ catalog }) => catalog.close()).catch(() => {});
}

/** Where a stub's replica is, by its location's URL: the URL is a location's identity in the catalog. */
async function replicaLocations(catalog: CatalogDb): Promise<ReplicaLocationOf> {
  const byUrl = new Map((await allLocations(catalog)).map((l) => [l.url, l.id]));
  return (replica) => byUrl.get(replica.url);
}
