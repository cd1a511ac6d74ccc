import { Cron } from "croner";
import Fastify, { type FastifyInstance } from "fastify";
import type { CatalogDb } from "../../src/catalog/db.js";
import { allLocations } from "../../src/catalog/locations.js";
import type { Config } from "../../src/policy/config-schema.js";
import { PlanTotals, planPolicies } from "../../src/policy/planner.js";
import { type DuOperand, DuQuery, type Grouping } from "../../src/query/du.js";
import type { CapacityPoint } from "../../src/query/series.js";
import { costNow } from "../../src/report/cost-now.js";
import { forecastCosts } from "../../src/report/forecast.js";
import { registerDashboard } from "../../src/server/dashboard.js";

/*
 * STAND-IN FOR THE API BRANCH — REPLACED BY THE REAL `strata serve` AFTER THE MERGE.
 *
 * The read API is built in parallel on the api branch; until it lands, the dashboard test needs
 * the agreed /api/v1 routes. This small fastify server answers them from a REAL catalog (built
 * by the real CLI) with the real query functions (du, costNow, forecastCosts, planPolicies), and
 * mounts the real registerDashboard. It checks a bearer token and nothing else of the API's
 * rules (roles, problem+json, limits): those are the api branch's and its tests'.
 *
 * Two answers have no real query yet (their branches are also in parallel):
 *  - /api/v1/series: capacitySeries (metrics branch) is a placeholder. The test takes its own
 *    snapshots with `takeSnapshot` (real du queries on the catalog) after each CLI step, and
 *    the route serves them.
 *  - /api/v1/alerts: listAlerts (alerts branch) is a placeholder; the route answers [].
 */

export interface StandInApi {
  app: FastifyInstance;
  url: string;
  /** Every /api request's path, so the test can tell which endpoints the pages asked. */
  asked: string[];
}

export interface StandInOptions {
  catalog: CatalogDb;
  config: Config;
  token: string;
  snapshots: CapacityPoint[];
}

/** One snapshot of the catalog, as the metrics branch takes after each scan and run: per location, class and state. */
export async function takeSnapshot(catalog: CatalogDb): Promise<CapacityPoint[]> {
  const at = new Date().toISOString();
  const { query, operands } = await everything(catalog);
  const points: CapacityPoint[] = [];
  for (const operand of operands) {
    for (const row of await query.grouped([operand], "state", Date.now() * 1000)) {
      const bytes = row.bytes ?? 0;
      const point = { at, class: "", files: row.files ?? 0, logicalBytes: bytes, storedBytes: bytes };
      points.push({ ...point, location: operand.location, state: row.name });
    }
    for (const row of await query.grouped([operand], "class", Date.now() * 1000)) {
      for (const [location, copies] of Object.entries(row.at)) {
        const stored = copies.stored_bytes;
        points.push({
          at,
          location,
          class: row.name,
          state: "present",
          files: copies.copies,
          logicalBytes: stored,
          storedBytes: stored,
        });
      }
    }
  }
  return points;
}

async function everything(catalog: CatalogDb): Promise<{ query: DuQuery; operands: DuOperand[] }> {
  const locations = await allLocations(catalog);
  const query = new DuQuery(catalog, new Map(locations.map((l) => [l.id, l.name])));
  // Stores hold replicas, not files of their own: du sums them under their sources.
  const trees = locations.filter((l) => l.kind === "posix");
  return { query, operands: trees.map((l) => ({ locationId: l.id, location: l.name, path: "" })) };
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(Number(ms)).toISOString();
}

async function runs(catalog: CatalogDb, limit: number) {
  const rows = await catalog.db.selectFrom("runs").selectAll().orderBy("id", "desc").limit(limit).execute();
  return rows.map((r) => ({
    id: r.id,
    command: r.command,
    status: r.status,
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
    summary: r.summary === null ? null : JSON.parse(r.summary),
  }));
}

async function actionCounts(catalog: CatalogDb, runId: number): Promise<Record<string, number>> {
  const rows = await catalog.db
    .selectFrom("actions")
    .select((eb) => ["state", eb.fn.countAll<number>().as("n")])
    .where("run_id", "=", runId)
    .groupBy("state")
    .execute();
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

function grouping(by: string): Grouping {
  return by.startsWith("tag:") ? { tag: by.slice(4) } : (by as Grouping);
}

export async function startStandInApi(options: StandInOptions): Promise<StandInApi> {
  const { catalog, config, token, snapshots } = options;
  const app = Fastify();
  const asked: string[] = [];
  app.addHook("onRequest", async (request, reply) => {
    if (!request.url.startsWith("/api/")) return;
    asked.push(request.url.split("?")[0] as string);
    if (request.headers.authorization !== `Bearer ${token}`) await reply.code(401).send({ title: "Unauthorized" });
  });
  await registerDashboard(app);

  app.get("/api/v1/series", async () => snapshots);
  app.get("/api/v1/alerts", async () => []);
  app.get("/api/v1/cost", async () => costNow(catalog, config, { by: ["location", "class"], now: Date.now() }));
  app.get("/api/v1/cost/forecast", async () => forecastCosts(catalog, config, { months: 36, now: Date.now() }));
  app.get<{ Querystring: { by?: string; depth?: string } }>("/api/v1/du", async (request) => {
    const { query, operands } = await everything(catalog);
    const { by, depth } = request.query;
    if (by !== undefined) return query.grouped(operands, grouping(by), Date.now() * 1000);
    return query.subtrees(operands, Number(depth ?? 0));
  });
  app.get<{ Querystring: { limit?: string } }>("/api/v1/runs", async (request) =>
    runs(catalog, Number(request.query.limit ?? 50)),
  );
  app.get<{ Params: { id: string } }>("/api/v1/runs/:id", async (request) => {
    const id = Number(request.params.id);
    const run = (await runs(catalog, 1_000)).find((r) => r.id === id);
    return { run, actions: await actionCounts(catalog, id) };
  });
  app.get<{ Params: { id: string } }>("/api/v1/runs/:id/events", (request, reply) => {
    const id = Number(request.params.id);
    reply.hijack();
    reply.raw.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
    // The journal is polled: the run's process is another one, and the catalog is what both share.
    const timer = setInterval(async () => {
      const run = (await runs(catalog, 1_000)).find((r) => r.id === id);
      const data = JSON.stringify({ actions: await actionCounts(catalog, id), status: run?.status });
      reply.raw.write(`event: progress\ndata: ${data}\n\n`);
      if (run?.status !== "running") {
        clearInterval(timer);
        reply.raw.end();
      }
    }, 200);
    request.raw.on("close", () => clearInterval(timer));
  });
  app.get("/api/v1/policies", async () => {
    const applied = (await runs(catalog, 1_000)).filter((r) => r.command.startsWith("apply"));
    const lastRun = applied.find((r) => r.status !== "running");
    const lastSuccess = applied.find((r) => r.status === "done");
    return config.policies.map((policy) => ({
      name: policy.name,
      schedule: policy.schedule ?? null,
      nextRun: policy.schedule ? (new Cron(policy.schedule).nextRun()?.toISOString() ?? null) : null,
      lastRun: lastRun?.finishedAt ?? null,
      lastSuccess: lastSuccess?.finishedAt ?? null,
    }));
  });
  app.get<{ Querystring: { policy: string } }>("/api/v1/plan", async (request) => {
    const totals = new PlanTotals();
    const plan = planPolicies(catalog, config, { policies: [request.query.policy], now: Date.now(), force: false });
    for await (const action of plan) totals.add(action);
    return { policies: [request.query.policy], totals: totals.list() };
  });
  app.get("/api/v1/restores", async () =>
    catalog.db
      .selectFrom("replicas")
      .innerJoin("files", "files.id", "replicas.file_id")
      .select(["files.path", "replicas.key", "replicas.state"])
      .where("replicas.state", "=", "restoring")
      .execute(),
  );

  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  return { app, url, asked };
}
