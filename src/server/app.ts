import Fastify, { type FastifyInstance, type FastifyRequest, LogController } from "fastify";
import type { CatalogDb } from "../catalog/db.js";
import { TOKEN_ROLES, type TokenRole } from "../catalog/schema.js";
import { authenticate, type TokenInfo } from "../catalog/tokens.js";
import type { LoadedConfig } from "../config/load.js";
import type { Config } from "../policy/config-schema.js";
import { evaluateAlertsEveryMinute } from "./alerts.js";
import { registerDashboard } from "./dashboard.js";
import { problemOf, sendProblem } from "./problem.js";
import { openApiDocument, type RouteRegistry, route } from "./route.js";
import { registerAdminRoutes } from "./routes/admin.js";
import { registerOperateRoutes } from "./routes/operate.js";
import { registerReadRoutes } from "./routes/read.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The token the request was let in with (never the token's text). */
    token?: TokenInfo;
  }
}

export interface AppOptions {
  catalog: CatalogDb;
  loaded: LoadedConfig<Config>;
  /** Where the JSON request log goes (default: stdout); tests read it back. */
  logStream?: NodeJS.WritableStream;
  /** TLS: the PEM certificate and key. */
  https?: { cert: Buffer; key: Buffer };
}

/** Request bodies are small JSON documents (a policy name, a path): anything larger is refused. */
export const BODY_LIMIT_BYTES = 64 * 1024;
/** A query string longer than this is refused (414) before any route reads it. */
export const QUERY_LIMIT_BYTES = 4096;

/** The fastify instance of `strata serve`: every route, the token check, errors and the log. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: 1024 },
    // One line per request is written by the onResponse hook below, not fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    logger: { level: "info", ...(options.logStream ? { stream: options.logStream } : {}) },
    ...(options.https ? { https: options.https } : {}),
  });

  app.setErrorHandler((err, request, reply) => {
    const { status, detail } = problemOf(err);
    if (status >= 500) request.log.error({ err }, "request failed");
    return sendProblem(request, reply, status, detail);
  });
  app.setNotFoundHandler((request, reply) => sendProblem(request, reply, 404, "no such endpoint"));

  app.addHook("onRequest", async (request, reply) => {
    const query = request.url.indexOf("?");
    if (query >= 0 && Buffer.byteLength(request.url) - query - 1 > QUERY_LIMIT_BYTES) {
      return sendProblem(request, reply, 414, `query strings are limited to ${QUERY_LIMIT_BYTES} bytes`);
    }
    if (request.routeOptions.config?.public) return;
    const refusal = await refusalOf(options.catalog, request);
    if (refusal) return sendProblem(request, reply, refusal.status, refusal.detail);
  });

  app.addHook("onResponse", async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        url: withoutSecrets(request.url),
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
        ...(request.token ? { tokenName: request.token.name, role: request.token.role } : {}),
        remote: request.ip,
      },
      "request",
    );
  });

  const registry: RouteRegistry = [];
  app.get("/healthz", { config: { public: true } }, async () => ({ ok: true }));
  route(app, registry, { method: "GET", url: "/openapi.json", role: "read", summary: "this document" }, async () =>
    openApiDocument(registry),
  );
  registerReadRoutes(app, registry, options);
  registerOperateRoutes(app, registry, options);
  registerAdminRoutes(app, registry, options.catalog);
  // The dashboard's assets are public (the page asks for a token and sends it with its API calls);
  // its routes are marked so in a scope of their own, so every other route stays closed.
  await app.register(async (scope) => {
    scope.addHook("onRoute", (routeOptions) => {
      routeOptions.config = { ...routeOptions.config, public: true };
    });
    await registerDashboard(scope);
  });
  evaluateAlertsEveryMinute(app, options.catalog, options.loaded);
  return app;
}

/** Why a request may not go on (401 no or unknown token, 403 too weak a role), or undefined. */
async function refusalOf(
  catalog: CatalogDb,
  request: FastifyRequest,
): Promise<{ status: number; detail: string } | undefined> {
  const header = request.headers.authorization;
  const bearer = typeof header === "string" ? /^Bearer ([\x21-\x7e]{1,512})$/i.exec(header.trim()) : null;
  if (!bearer) return { status: 401, detail: "an Authorization: Bearer token is needed (strata token create)" };
  const token = await authenticate(catalog, bearer[1] as string);
  if (!token) return { status: 401, detail: "unknown or revoked token" };
  // Routes that declare no role (the 404 handler) need the least one: a valid token sees a 404.
  const needed: TokenRole = request.routeOptions.config?.role ?? "read";
  if (TOKEN_ROLES.indexOf(token.role) < TOKEN_ROLES.indexOf(needed)) {
    return { status: 403, detail: `this needs a ${needed} token; this one is ${token.role}` };
  }
  request.token = token;
  return undefined;
}

/**
 * The URL as logged: tokens travel only in the Authorization header, but a client that puts
 * one in the query string by mistake must not get it written to the log either.
 */
export function withoutSecrets(url: string): string {
  return url
    .replace(/([?&][^=&]*(?:token|key|secret|auth|password)[^=&]*=)[^&]*/gi, "$1***")
    .replace(/strata_[A-Za-z0-9_-]{16,}/g, "strata_***");
}
