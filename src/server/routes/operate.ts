import type { FastifyInstance } from "fastify";
import * as z from "zod";
import type { CatalogDb } from "../../catalog/db.js";
import { allLocations } from "../../catalog/locations.js";
import type { LoadedConfig } from "../../config/load.js";
import { Locations } from "../../engine/locations.js";
import { restorePathInPlace } from "../../engine/restore-path.js";
import { applyPolicyNow, RunsInFlight } from "../../engine/runs-in-flight.js";
import { requestStop } from "../../engine/stop-requests.js";
import type { Config } from "../../policy/config-schema.js";
import { DEFAULT_RETRY } from "../../transfer/retry.js";
import { ProblemError } from "../problem.js";
import { type RouteRegistry, route } from "../route.js";
import { catalogPath } from "./read.js";

/**
 * The operate API: runs started through the engine, journaled as the CLI's are, answered with
 * the run's id at once (202) while the run goes on; GET /api/v1/runs/:id/events follows it.
 */

interface OperateDeps {
  catalog: CatalogDb;
  loaded: LoadedConfig<Config>;
}

/**
 * A request does not wait long for a location another run holds: the client is told who holds
 * it and can try again, where a command would wait its --lock-wait.
 */
const SERVER_LOCK_WAIT_MS = 5000;

export function registerOperateRoutes(app: FastifyInstance, registry: RouteRegistry, deps: OperateDeps): void {
  const { catalog, loaded } = deps;
  const locations = new Locations(loaded, catalog, {
    lockWaitMs: SERVER_LOCK_WAIT_MS,
    warn: (line) => app.log.warn(line),
  });
  const runs = new RunsInFlight();
  const retryPolicy = { ...DEFAULT_RETRY, retries: loaded.config.defaults.retries };
  app.addHook("onClose", async () => {
    await runs.stopAll();
    await locations.closeBackends();
  });

  route(
    app,
    registry,
    {
      method: "POST",
      url: "/api/v1/policies/:name/apply",
      role: "operate",
      summary: "plan and apply a policy now; answers 202 with the run's id",
      params: z.strictObject({ name: z.string().min(1).max(256) }),
      body: z.strictObject({ force: z.boolean().default(false) }),
    },
    async ({ params, body }, request, reply) => {
      if (!loaded.config.policies.some((p) => p.name === params.name)) {
        throw new ProblemError(404, `no policy ${JSON.stringify(params.name)} in the config`);
      }
      const runId = await runs.start(
        (signal, started) =>
          applyPolicyNow(locations, retryPolicy, params.name, { force: body.force, signal, started }),
        (err) => request.log.error({ err }, `apply ${params.name} failed`),
      );
      return reply.code(202).send({ runId, events: `/api/v1/runs/${runId}/events` });
    },
  );

  route(
    app,
    registry,
    {
      method: "POST",
      url: "/api/v1/restores",
      role: "operate",
      summary: "restore a path (a file, a directory or a glob) of a POSIX location in place; answers when done",
      body: z.strictObject({
        location: z.string().min(1).max(256),
        path: catalogPath,
        days: z.number().int().min(1).max(365).default(1),
      }),
    },
    async ({ body }) => {
      const known = (await allLocations(catalog)).some((l) => l.name === body.location);
      if (!known && !Object.hasOwn(loaded.config.locations, body.location)) {
        throw new ProblemError(404, `no location ${JSON.stringify(body.location)}`);
      }
      const { defaults } = loaded.config;
      const settings = {
        transfers: defaults.transfers,
        maxBuffer: defaults.maxBuffer,
        streams: defaults.streams ?? "auto",
      };
      return restorePathInPlace(locations, retryPolicy, settings, body);
    },
  );

  route(
    app,
    registry,
    {
      method: "POST",
      url: "/api/v1/runs/:id/cancel",
      role: "operate",
      summary:
        "stop a run (this server's, or another process's policy run): nothing new begins, what is in flight finishes",
      params: z.strictObject({ id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER) }),
    },
    async ({ params }, _request, reply) => {
      const run = await catalog.db
        .selectFrom("runs")
        .select(["status", "host", "pid", "command"])
        .where("id", "=", params.id)
        .executeTakeFirst();
      if (!run) throw new ProblemError(404, `no run ${params.id}`);
      if (run.status !== "running") throw new ProblemError(409, `run ${params.id} has ended (${run.status})`);
      if (runs.cancel(params.id)) return reply.code(202).send({ runId: params.id, stopping: true });
      // Another process's apply run (the daemon, a CLI) polls the catalog for stop requests.
      if (await requestStop(catalog, { id: params.id, command: run.command })) {
        return reply.code(202).send({ runId: params.id, stopping: true });
      }
      throw new ProblemError(
        409,
        `run ${params.id} (${run.command}) belongs to process ${run.pid} on ${run.host} and takes no stop ` +
          "requests: stop it there (SIGTERM)",
      );
    },
  );
}
