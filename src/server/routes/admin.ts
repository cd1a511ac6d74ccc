import type { FastifyInstance } from "fastify";
import * as z from "zod";
import type { CatalogDb } from "../../catalog/db.js";
import { TOKEN_ROLES } from "../../catalog/schema.js";
import { createToken, listTokens, revokeToken, TOKEN_NAME, TOKEN_NAME_RULE } from "../../catalog/tokens.js";
import { ProblemError } from "../problem.js";
import { type RouteRegistry, route } from "../route.js";

/**
 * The admin API: tokens made, listed and revoked over HTTP as `strata token` does on the
 * catalog's host, so whoever runs the server need not log in to it to hand out access.
 */
export function registerAdminRoutes(app: FastifyInstance, registry: RouteRegistry, catalog: CatalogDb): void {
  route(
    app,
    registry,
    { method: "GET", url: "/api/v1/tokens", role: "admin", summary: "every token (never its text)" },
    async () => ({ tokens: await listTokens(catalog) }),
  );

  route(
    app,
    registry,
    {
      method: "POST",
      url: "/api/v1/tokens",
      role: "admin",
      summary: "make a token; its text is in this answer only",
      body: z.strictObject({
        role: z.enum(TOKEN_ROLES),
        name: z.string().regex(TOKEN_NAME, `a token's name is ${TOKEN_NAME_RULE}`),
      }),
    },
    async ({ body }, _request, reply) => {
      const made = await createToken(catalog, body);
      return reply.code(201).send({ token: made.token, ...made.info });
    },
  );

  route(
    app,
    registry,
    {
      method: "DELETE",
      url: "/api/v1/tokens/:idOrName",
      role: "admin",
      summary: "revoke a token by id or name: it is refused from the next request on",
      params: z.strictObject({ idOrName: z.string().min(1).max(64) }),
    },
    async ({ params }) => {
      const revoked = await revokeToken(catalog, params.idOrName);
      if (revoked === 0)
        throw new ProblemError(404, `no live token with id or name ${JSON.stringify(params.idOrName)}`);
      return { revoked };
    },
  );
}
