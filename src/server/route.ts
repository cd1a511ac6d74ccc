import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import * as z from "zod";
import type { TokenRole } from "../catalog/schema.js";
import { ProblemError } from "./problem.js";

/**
 * Routes declared once: the zod schemas of their parameters both check each request and make
 * the OpenAPI document, so the document cannot drift from what the server accepts.
 */

declare module "fastify" {
  interface FastifyContextConfig {
    /** The least role a token needs for this route (read < operate < admin). */
    role?: TokenRole;
    /** Served without a token: /healthz and the dashboard's assets. */
    public?: boolean;
  }
}

type Schema = z.ZodType;

export interface RouteSpec<Q extends Schema, P extends Schema, B extends Schema> {
  method: "GET" | "POST" | "DELETE";
  /** Fastify's path syntax: `:id` for a parameter, a trailing `*` for the rest of the path. */
  url: string;
  role: TokenRole;
  summary: string;
  query?: Q;
  params?: P;
  body?: B;
  /** What a 200 answers with, when not JSON (text/event-stream, text/plain). */
  produces?: string;
}

export interface Parsed<Q extends Schema, P extends Schema, B extends Schema> {
  query: z.infer<Q>;
  params: z.infer<P>;
  body: z.infer<B>;
}

/** What /openapi.json lists: each route as declared. */
export type RouteRegistry = RouteSpec<Schema, Schema, Schema>[];

const NONE = z.object({}).strict();

/** Registers a route whose query, params and body are parsed by their schemas first (400 otherwise). */
export function route<Q extends Schema = typeof NONE, P extends Schema = typeof NONE, B extends Schema = typeof NONE>(
  app: FastifyInstance,
  registry: RouteRegistry,
  spec: RouteSpec<Q, P, B>,
  handler: (input: Parsed<Q, P, B>, request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
): void {
  registry.push(spec as unknown as RouteSpec<Schema, Schema, Schema>);
  app.route({
    method: spec.method,
    url: spec.url,
    config: { role: spec.role },
    handler: async (request, reply) => {
      const input = {
        query: parse("query string", spec.query ?? NONE, request.query ?? {}),
        params: parse("path", spec.params ?? NONE, request.params ?? {}),
        body: parse("body", spec.body ?? NONE, request.body ?? {}),
      } as Parsed<Q, P, B>;
      return handler(input, request, reply);
    },
  });
}

function parse<S extends Schema>(where: string, schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => `${issue.path.join(".") || where}: ${issue.message}`);
  throw new ProblemError(400, `${where}: ${issues.join("; ")}`);
}

/** What a client sends is the schema's input (before transforms and defaults). */
const JSON_SCHEMA_OPTIONS = { io: "input", unrepresentable: "any" } as const;

/** The OpenAPI 3.1 document of the registered routes. */
export function openApiDocument(registry: RouteRegistry): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of registry) {
    const path = spec.url.replace(/:([A-Za-z]+)/g, "{$1}").replace(/\*$/, "{path}");
    const parameters = [
      ...parametersOf(spec.query, "query"),
      ...parametersOf(spec.params, "path"),
      ...(spec.url.endsWith("*") ? [{ name: "path", in: "path", required: true, schema: { type: "string" } }] : []),
    ];
    paths[path] ??= {};
    (paths[path] as Record<string, unknown>)[spec.method.toLowerCase()] = {
      summary: spec.summary,
      "x-strata-role": spec.role,
      security: [{ bearer: [] }],
      parameters,
      ...(spec.body
        ? {
            requestBody: {
              required: true,
              content: { "application/json": { schema: z.toJSONSchema(spec.body, JSON_SCHEMA_OPTIONS) } },
            },
          }
        : {}),
      responses: {
        "200": { description: "OK", content: { [spec.produces ?? "application/json"]: {} } },
        default: { description: "a problem", content: { "application/problem+json": {} } },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "Strata API", version: "1" },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    paths,
  };
}

function parametersOf(schema: Schema | undefined, where: "query" | "path"): Record<string, unknown>[] {
  if (!schema) return [];
  const json = z.toJSONSchema(schema, JSON_SCHEMA_OPTIONS) as {
    properties?: Record<string, unknown>;
    required?: string[];
  };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === "path" || (json.required ?? []).includes(name),
    schema: property,
  }));
}
