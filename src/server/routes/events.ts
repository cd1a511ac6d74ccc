import { setTimeout as sleep } from "node:timers/promises";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { CatalogDb } from "../../catalog/db.js";
import { history } from "../../query/history.js";

/** How often a live run's journal is read again for what is new. */
const POLL_MS = 1000;
/** A stream is closed after this long even if its run never ends (a run whose process died unseen). */
const MAX_STREAM_MS = 6 * 3600_000;

/**
 * A run's events as Server-Sent Events: `progress` (its actions counted by state) and each new
 * `event` as the journal records them, then `end` with the run's status once it has finished.
 * The run's writer is another process: the journal is polled, which the events_run index serves.
 */
export async function streamRunEvents(
  catalog: CatalogDb,
  runId: number,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<void> {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-store",
    connection: "keep-alive",
  });
  const closed = new AbortController();
  request.raw.on("close", () => closed.abort());
  const send = (event: string, data: unknown) => raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  let afterId = 0;
  const until = Date.now() + MAX_STREAM_MS;
  try {
    while (!closed.signal.aborted && Date.now() < until) {
      // The status is read before the events, so an end seen here has every event of the run behind it.
      const run = await catalog.db.selectFrom("runs").select("status").where("id", "=", runId).executeTakeFirst();
      for await (const entry of history(catalog, { runId, afterId })) {
        send("event", entry);
        afterId = entry.id;
      }
      send("progress", await actionStates(catalog, runId));
      if (run?.status !== "running") {
        send("end", { status: run?.status ?? "gone" });
        break;
      }
      await sleep(POLL_MS, undefined, { signal: closed.signal }).catch(() => {});
    }
  } finally {
    raw.end();
  }
}

async function actionStates(catalog: CatalogDb, runId: number): Promise<Record<string, number>> {
  const rows = await catalog.db
    .selectFrom("actions")
    .select(["state", (eb) => eb.fn.countAll<number>().as("actions")])
    .where("run_id", "=", runId)
    .groupBy("state")
    .execute();
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.actions)]));
}
