import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/**
 * The dashboard: a page and its two bundled assets, built by scripts/bundle.mjs into
 * dist/dashboard/. Served without a token (they hold no data; every API call the page makes
 * carries one). A fixed list of routes, each mapped to one fixed file: nothing from the request
 * reaches the filesystem.
 */

/** URL path → file in dist/dashboard/ and its content type. */
const ASSETS: readonly { route: string; file: string; type: string }[] = [
  { route: "/", file: "index.html", type: "text/html; charset=utf-8" },
  { route: "/assets/app.js", file: "app.js", type: "text/javascript; charset=utf-8" },
  { route: "/assets/app.css", file: "app.css", type: "text/css; charset=utf-8" },
];

/**
 * Same-origin only: the page works offline and can leak nothing to another origin. uPlot sets
 * element.style from script, which CSP allows; no inline <script> or <style> exists to permit.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

interface LoadedAsset {
  body: Buffer;
  etag: string;
  type: string;
}

/**
 * dist/dashboard/ of the package this module belongs to, whether it runs from src/ (tsx), dist/
 * (tsc) or dist/bundle/ (esbuild): the nearest directory above holding package.json.
 */
export function dashboardDir(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
  return join(dir, "dist", "dashboard");
}

function loadAsset(dir: string, file: string, type: string): LoadedAsset | undefined {
  const path = join(dir, file);
  if (!existsSync(path)) return undefined;
  const body = readFileSync(path);
  return { body, type, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"` };
}

function send(request: FastifyRequest, reply: FastifyReply, asset: LoadedAsset): FastifyReply {
  // Fixed names, so no long-lived cache: the browser revalidates each time and gets a 304 while
  // the build is unchanged.
  reply
    .header("Cache-Control", "no-cache")
    .header("ETag", asset.etag)
    .header("Content-Security-Policy", DASHBOARD_CSP)
    .header("X-Content-Type-Options", "nosniff")
    .header("Referrer-Policy", "no-referrer")
    .header("Cross-Origin-Opener-Policy", "same-origin");
  if (request.headers["if-none-match"] === asset.etag) return reply.code(304).send();
  return reply.type(asset.type).send(asset.body);
}

/** Mounts the dashboard at `/`; read once at start (the build does not change under a server). */
export async function registerDashboard(app: FastifyInstance, dir: string = dashboardDir()): Promise<void> {
  for (const { route, file, type } of ASSETS) {
    const asset = loadAsset(dir, file, type);
    app.get(route, (request, reply) => {
      if (asset) return send(request, reply, asset);
      return reply
        .code(503)
        .type("application/problem+json")
        .send({
          type: "about:blank",
          title: "Dashboard not built",
          status: 503,
          detail: `${file} is missing from ${dir}: run npm run build`,
        });
    });
  }
}
