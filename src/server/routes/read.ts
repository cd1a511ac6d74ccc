import { Cron } from "croner";
import type { FastifyInstance } from "fastify";
import type { Selectable } from "kysely";
import * as z from "zod";
import type { CatalogDb } from "../../catalog/db.js";
import { allLocations } from "../../catalog/locations.js";
import { type PendingRestore, pendingRestores } from "../../catalog/restores.js";
import type { LocationRow, RunTable } from "../../catalog/schema.js";
import type { LoadedConfig } from "../../config/load.js";
import type { Config } from "../../policy/config-schema.js";
import { PlanTotals, planPolicies, selectPolicies } from "../../policy/planner.js";
import { listAlerts } from "../../query/alerts.js";
import { type DuOperand, DuQuery, dedupLocationIds, GROUPINGS, type Grouping, topRows } from "../../query/du.js";
import { type FoundFile, findFiles, parseFindArgs } from "../../query/find/index.js";
import { type HistoryEntry, history } from "../../query/history.js";
import { createMetrics, type MetricsSource } from "../../query/metrics.js";
import { capacitySeries } from "../../query/series.js";
import { costNow, monthlyCostByLocation } from "../../report/cost-now.js";
import { forecastCosts } from "../../report/forecast.js";
import { ProblemError } from "../problem.js";
import { type RouteRegistry, route } from "../route.js";
import { streamRunEvents } from "./events.js";

/** The read API: GETs that change nothing, each answering from the catalog's queries. */

interface ReadDeps {
  catalog: CatalogDb;
  loaded: LoadedConfig<Config>;
}

/** The most rows any list answers with; a client asking for more is refused, not trimmed silently. */
export const MAX_LIMIT = 10_000;

const limit = (fallback: number) => z.coerce.number().int().min(1).max(MAX_LIMIT).default(fallback);

/**
 * A path inside a location as the catalog keys it: relative, `/`-separated, with no `.` or `..`
 * segment and no NUL. The catalog is only read, but a path that names no catalog key is a
 * mistake worth saying (and `..` is how a client probes for one).
 */
export const catalogPath = z
  .string()
  .max(4096)
  .refine((p) => !p.startsWith("/"), "must be relative to its location (no leading /)")
  .refine((p) => !p.includes("\u0000"), "must not hold NUL")
  .refine((p) => p.split("/").every((s) => s !== ".." && s !== "."), "must not hold . or .. segments")
  .transform((p) => p.replace(/\/+$/, ""));

const locationName = z.string().min(1).max(256);

const grouping = z
  .string()
  .max(140)
  .transform((text, ctx): Grouping => {
    if ((GROUPINGS as readonly string[]).includes(text)) return text as Grouping;
    const tag = /^tag:([A-Za-z0-9_.:-]{1,128})$/.exec(text);
    if (tag) return { tag: tag[1] as string };
    ctx.addIssue({ code: "custom", message: `one of ${GROUPINGS.join(", ")}, or tag:KEY` });
    return z.NEVER;
  });

export function registerReadRoutes(app: FastifyInstance, registry: RouteRegistry, deps: ReadDeps): void {
  const { catalog } = deps;
  const { config } = deps.loaded;

  route(
    app,
    registry,
    { method: "GET", url: "/api/v1/locations", role: "read", summary: "locations with their totals" },
    async () => locationTotals(catalog, config),
  );

  route(
    app,
    registry,
    {
      method: "GET",
      url: "/api/v1/du",
      role: "read",
      summary: "strata du: files, bytes and copies per location, directory or group",
      query: z.strictObject({
        location: locationName.optional(),
        path: catalogPath.default(""),
        depth: z.coerce.number().int().min(0).max(64).default(0),
        by: grouping.optional(),
        top: z.coerce.number().int().min(1).max(MAX_LIMIT).optional(),
      }),
    },
    async ({ query }) => {
      const rows = await allLocations(catalog);
      const names = new Map(rows.map((l) => [l.id, l.name]));
      const operands = duOperands(rows, query.location, query.path);
      const du = new DuQuery(catalog, names, dedupLocationIds(rows, config.locations));
      let result =
        query.by !== undefined
          ? await du.grouped(operands, query.by, Date.now() * 1000)
          : query.top !== undefined && query.depth === 0
            ? await du.topDirectories(operands, query.top)
            : await du.subtrees(operands, query.depth);
      if (query.top !== undefined) result = topRows(result, query.top);
      return { rows: result };
    },
  );

  route(
    app,
    registry,
    {
      method: "GET",
      url: "/api/v1/find",
      role: "read",
      summary: "strata find: files matching find's words (operands and tests, as on the command line)",
      query: z.strictObject({ expr: z.string().max(2048).default(""), limit: limit(1000) }),
    },
    async ({ query }) => {
      const words = query.expr.trim() === "" ? [] : query.expr.trim().split(/\s+/);
      const parsed = parseFindArgs(words);
      const files: ReturnType<typeof fileJson>[] = [];
      for await (const file of findFiles(catalog, parsed)) {
        if (files.length === query.limit) break;
        files.push(fileJson(file));
      }
      return { files, truncated: files.length === query.limit };
    },
  );

  route(
    app,
    registry,
    {
      method: "GET",
      url: "/api/v1/files/:location/*",
      role: "read",
      summary: "one file: its catalog entry, its replicas and its history",
      params: z.object({ location: locationName, "*": catalogPath }),
      query: z.strictObject({ limit: limit(100) }),
    },
    async ({ params, query }) => fileDetail(catalog, params.location, params["*"], query.limit),
  );

  route(
    app,
    registry,
    {
      method: "GET",
      url: "/api/v1/runs",
      role: "read",
      summary: "the newest runs",
      query: z.strictObject({ limit: limit(50) }),
    },
    async ({ query }) => {
      const rows = await catalog.db.selectFrom("runs").selectAll().orderBy("id", "desc").limit(query.limit).execute();
      return rows.map(runJson);
    },
  );

  const runId = z.strictObject({ id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER) });
  route(
    app,
    registry,
    {
      method: "GET",
      url: "/api/v1/runs/:id",
      role: "read",
      summary: "one run and its actions counted by kind and state",
      params: runId,
    },
    async ({ params }) => {
      const run = await catalog.db.selectFrom("runs").selectAll().where("id", "=", params.id).executeTakeFirst();
      if (!run) throw new ProblemError(404, `no run ${params.id}`);
      const counts = await catalog.db
        .selectFrom("actions")
        .select([
          "kind",
          "state",
          (eb) => eb.fn.countAll<number>().as("actions"),
          (eb) => eb.fn.sum<number>("bytes").as("bytes"),
        ])
        .where("run_id", "=", params.id)
        .groupBy(["kind", "state"])
        .orderBy("kind")
        .orderBy("state")
        .execute();
      const actions: Record<string, number> = {};
      for (const c of counts) actions[c.state] = (actions[c.state] ?? 0) + Number(c.actions);
      return {
        run: runJson(run),
        // Counted by state, as the live stream's progress events count them; by kind and state beside.
        actions,
        kinds: counts.map((c) => ({
          kind: c.kind,
          state: c.state,
          actions: Number(c.actions),
          bytes: Number(c.bytes),
        })),
      };
    },
  );

  route(
    app,
    registry,
    {
      method: "GET",
      url: "/api/v1/runs/:id/events",
      role: "read",
      summary: "a run's events as Server-Sent Events, live until the run ends",
      params: runId,
      produces: "text/event-stream",
    },
    async ({ params }, request, reply) => {
      const run = await catalog.db.selectFrom("runs").select("id").where("id", "=", params.id).executeTakeFirst();
      if (!run) throw new ProblemError(404, `no run ${params.id}`);
      await streamRunEvents(catalog, params.id, request, reply);
    },
  );

  route(
    app,
    registry,
    { method: "GET", url: "/api/v1/policies", role: "read", summary: "policies with their next and last runs" },
    async () => policyTimes(catalog, config),
  );

  route(
    app,
    registry,
    {
      method: "GET",
      url: "/api/v1/plan",
      role: "read",
      summary: "what the next plan would do: per policy and action, files, bytes and cost (nothing is written)",
      query: z.strictObject({ policy: z.string().min(1).max(256).optional() }),
    },
    async ({ query }) => {
      const policies = selectPolicies(config, query.policy === undefined ? [] : [query.policy]).map((p) => p.name);
      const totals = new PlanTotals();
      for await (const action of planPolicies(catalog, config, { policies, now: Date.now() })) totals.add(action);
      return { policies, totals: totals.list() };
    },
  );

  route(
    app,
    registry,
    {
      method: "GET",
      url: "/api/v1/restores",
      role: "read",
      summary: "pending restores",
      query: z.strictObject({ limit: limit(1000) }),
    },
    async ({ query }) => {
      const pending: ReturnType<typeof restoreJson>[] = [];
      for await (const request of pendingRestores(catalog)) {
        if (pending.length === query.limit) break;
        pending.push(restoreJson(request));
      }
      return pending;
    },
  );

  route(
    app,
    registry,
    { method: "GET", url: "/api/v1/cost", role: "read", summary: "what is stored costs per month now" },
    async () => costNow(catalog, config, { by: ["location", "class"], now: Date.now() }),
  );

  route(
    app,
    registry,
    {
      method: "GET",
      url: "/api/v1/cost/forecast",
      role: "read",
      summary: "the monthly cost forecast",
      query: z.strictObject({ months: z.coerce.number().int().min(1).max(120).default(36) }),
    },
    async ({ query }) => forecastCosts(catalog, config, { months: query.months, now: Date.now() }),
  );

  route(
    app,
    registry,
    {
      method: "GET",
      url: "/api/v1/alerts",
      role: "read",
      summary: "Strata's own alerts",
      query: z.strictObject({ state: z.enum(["firing", "resolved"]).optional() }),
    },
    async ({ query }) => listAlerts(catalog, query.state === undefined ? {} : { state: query.state }),
  );

  route(
    app,
    registry,
    {
      method: "GET",
      url: "/api/v1/series",
      role: "read",
      summary: "capacity snapshots since a time (ms since the epoch; default 30 days ago)",
      query: z.strictObject({ since: z.coerce.number().int().min(0).max(8.64e15).optional() }),
    },
    async ({ query }) => capacitySeries(catalog, { since: query.since ?? Date.now() - 30 * 86_400_000 }),
  );

  // Made on the first scrape, not with the app: the metrics source keeps its own registry and caches.
  let metrics: MetricsSource | undefined;
  route(
    app,
    registry,
    { method: "GET", url: "/metrics", role: "read", summary: "Prometheus metrics", produces: "text/plain" },
    async (_input, _request, reply) => {
      metrics ??= createMetrics(catalog, config, { monthlyCost: () => monthlyCostByLocation(catalog, config) });
      const text = await metrics.render();
      return reply.type(metrics.contentType).send(text);
    },
  );
}

/** du's operands: one location (a path in it) or every location. */
function duOperands(rows: readonly LocationRow[], location: string | undefined, path: string): DuOperand[] {
  if (location === undefined) {
    if (path !== "") throw new ProblemError(400, "path needs a location");
    return rows.map((l) => ({ locationId: l.id, location: l.name, path: "" }));
  }
  const row = rows.find((l) => l.name === location);
  if (!row) throw new ProblemError(404, `no location ${JSON.stringify(location)} in the catalog`);
  return [{ locationId: row.id, location: row.name, path }];
}

/**
 * Each location with its own files (logical bytes) and the bytes of the copies it holds of
 * other locations' files (stored bytes), from du's summaries: never a walk of the files table.
 */
async function locationTotals(catalog: CatalogDb, config: Config) {
  const rows = await allLocations(catalog);
  const du = new DuQuery(catalog, new Map(rows.map((l) => [l.id, l.name])), dedupLocationIds(rows, config.locations));
  const totals = await du.subtrees(
    rows.map((l) => ({ locationId: l.id, location: l.name, path: "" })),
    0,
  );
  return rows.map((l, i) => {
    const own = totals[i];
    const storedBytes = totals.reduce((sum, row) => sum + (row.at[l.name]?.stored_bytes ?? 0), 0);
    return {
      name: l.name,
      url: l.url,
      kind: l.kind,
      files: own?.files ?? 0,
      logicalBytes: own?.bytes ?? 0,
      storedBytes,
    };
  });
}

async function fileDetail(catalog: CatalogDb, location: string, path: string, eventLimit: number) {
  const row = await catalog.db
    .selectFrom("files as f")
    .innerJoin("locations as l", "l.id", "f.location_id")
    .selectAll("f")
    .select("l.name as location_name")
    .where("l.name", "=", location)
    .where("f.path", "=", path)
    .executeTakeFirst();
  if (!row) throw new ProblemError(404, `no file ${location}:${path} in the catalog`);
  const replicas = await catalog.db
    .selectFrom("replicas as r")
    .innerJoin("locations as l", "l.id", "r.location_id")
    .select([
      "l.name as location",
      "r.key",
      "r.size",
      "r.hash",
      "r.storage_class as storageClass",
      "r.state",
      "r.created_at as createdAt",
      "r.verified_at as verifiedAt",
    ])
    .where("r.file_id", "=", row.id)
    .orderBy("l.name")
    .execute();
  const events: HistoryEntry[] = [];
  for await (const entry of history(catalog, {
    files: { locationId: row.location_id, path },
    limit: eventLimit,
  })) {
    events.push(entry);
  }
  return { file: fileJson(row), replicas, events };
}

function fileJson(file: FoundFile) {
  return {
    location: file.location_name,
    path: file.path,
    kind: file.kind,
    size: file.size,
    mtime: new Date(file.mtime_us / 1000).toISOString(),
    atime: new Date(file.atime_us / 1000).toISOString(),
    uid: file.uid,
    gid: file.gid,
    hash: file.hash,
    state: file.state,
    tags: file.tags === null ? {} : (JSON.parse(file.tags) as Record<string, string>),
  };
}

function runJson(run: Selectable<RunTable>) {
  return {
    id: run.id,
    command: run.command,
    status: run.status,
    host: run.host,
    pid: run.pid,
    startedAt: new Date(run.started_at).toISOString(),
    finishedAt: run.finished_at === null ? null : new Date(run.finished_at).toISOString(),
    summary: run.summary === null ? null : (JSON.parse(run.summary) as unknown),
  };
}

function restoreJson(r: PendingRestore) {
  return {
    id: r.id,
    location: r.file_location,
    path: r.path,
    size: r.size,
    from: r.replica_location,
    storageClass: r.storage_class,
    tier: r.tier,
    requestedAt: new Date(r.requested_at).toISOString(),
    expectedAt: r.expected_at === null ? null : new Date(r.expected_at).toISOString(),
    targetDir: r.target_dir,
  };
}

/** The newest apply runs read for the policies' last runs; the engine journals them as `apply NAME…`. */
const RUNS_LOOKED_AT = 2000;

/**
 * Each policy's next scheduled run (croner, as the daemon schedules it) and its last run and last
 * successful run, from the journal's newest apply runs.
 */
async function policyTimes(catalog: CatalogDb, config: Config) {
  const runs = await catalog.db
    .selectFrom("runs")
    .select(["command", "status", "started_at"])
    .where("command", "like", "apply %")
    .orderBy("id", "desc")
    .limit(RUNS_LOOKED_AT)
    .execute();
  return config.policies.map((policy) => {
    const mine = runs.filter((r) => r.command.split(" ").slice(1).includes(policy.name));
    const success = mine.find((r) => r.status === "done");
    const next = policy.schedule === undefined ? null : new Cron(policy.schedule, { paused: true }).nextRun();
    return {
      name: policy.name,
      enabled: policy.enabled,
      schedule: policy.schedule ?? null,
      nextRun: next ? next.toISOString() : null,
      lastRun: mine[0] ? new Date(mine[0].started_at).toISOString() : null,
      lastStatus: mine[0]?.status ?? null,
      lastSuccess: success ? new Date(success.started_at).toISOString() : null,
    };
  });
}
