import { randomUUID } from "node:crypto";
import {
  Agent,
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A stand-in for Azure behaviour that Azurite lacks. Azurite archives blobs and answers a read
 * of one with 409 BlobArchived, but it rehydrates at once: Set Blob Tier to Hot takes effect
 * immediately, so the "restore takes its time" path could never be seen. This thin HTTP proxy
 * sits in front of Azurite and implements Azure's documented rehydration with a configurable
 * delay:
 *
 * - it remembers blobs set to Archive: Put Blob, Put Block List or Copy Blob with
 *   `x-ms-access-tier: Archive`, or Set Blob Tier to Archive; an overwrite or a delete (also
 *   inside a blob batch) forgets them;
 * - Set Blob Tier to Hot, Cool or Cold on such a blob starts a rehydration, answered 202
 *   Accepted as Azure does. For `delayMs` the blob stays archived: Get Blob answers 409 with
 *   error code BlobArchived (header and XML body, as Azure's), Get Blob Properties and List Blobs
 *   show access tier Archive with archive status `rehydrate-pending-to-hot` (or -cool, -cold),
 *   and another tier change answers 409 BlobBeingRehydrated. After the delay the blob reads
 *   normally.
 *
 * Everything else passes through unchanged, bodies streamed: the request line, query and headers
 * (with their original case) reach Azurite as sent, so Shared Key signatures still validate.
 */
export interface ArchiveProxy {
  /** The proxy's base URL (http://127.0.0.1:PORT); append the account as for Azurite. */
  url: string;
  /** Requests seen, for tests that must know which path a client took. */
  stats: { batches: number; rehydrations: number };
  stop(): Promise<void>;
}

interface Rehydration {
  tier: string;
  priority: string;
  readyAt: number;
}

export async function startArchiveProxy(target: string, options: { delayMs: number }): Promise<ArchiveProxy> {
  const upstream = new URL(target);
  // Idle upstream sockets close well before Azurite's keep-alive ends (60 s, see azurite-server.ts),
  // so a request never lands on a socket Azurite is closing.
  const agent = new Agent({ keepAlive: true, timeout: 30_000 });
  const archived = new Set<string>();
  const rehydrating = new Map<string, Rehydration>();
  const stats = { batches: 0, rehydrations: 0 };

  /** The rehydration of `path` still under way, dropping those that have finished. */
  const pending = (path: string): Rehydration | undefined => {
    const state = rehydrating.get(path);
    if (state && state.readyAt <= Date.now()) {
      rehydrating.delete(path);
      archived.delete(path);
      return undefined;
    }
    return state;
  };
  const forget = (path: string) => {
    archived.delete(path);
    rehydrating.delete(path);
  };

  const forward = (req: IncomingMessage, res: ServerResponse, body?: Buffer, rewrite: Rewrite = {}) => {
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.rawHeaders,
        agent,
      },
      (answer) => respond(answer, res, rewrite),
    );
    out.on("error", (err) => fail(res, err));
    if (body) out.end(body);
    else req.pipe(out);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    const path = blobPath(url.pathname);
    const comp = url.searchParams.get("comp");
    const tier = header(req.headers, "x-ms-access-tier");
    const method = req.method ?? "GET";

    if (method === "POST" && comp === "batch") {
      stats.batches += 1;
      // Blob batch bodies are small text; read the deletes in it, then send it on as it was.
      readAll(req).then(
        (body) =>
          forward(req, res, body, {
            head: (status) => {
              if (status < 300) for (const deleted of batchDeletes(body.toString("latin1"))) forget(deleted);
              return undefined;
            },
          }),
        (err: Error) => fail(res, err),
      );
      return;
    }
    if (!path) {
      const listing = url.searchParams.get("restype") === "container" && comp === "list";
      return forward(req, res, undefined, listing && rehydrating.size > 0 ? rewriteListing(url.pathname, pending) : {});
    }

    const state = pending(path);
    if (method === "PUT" && comp === "tier") {
      if (state) {
        // Azure refuses another tier change while a rehydration runs; the same target is a no-op.
        if (tier === state.tier) return answer(req, res, 202);
        return answerError(
          req,
          res,
          409,
          "BlobBeingRehydrated",
          "This operation is not permitted because the blob is being rehydrated.",
        );
      }
      const rehydrate = tier !== undefined && tier !== "Archive" && archived.has(path);
      return forward(req, res, undefined, {
        head: (status) => {
          if (status >= 300) return undefined;
          if (tier === "Archive") archived.add(path);
          if (!rehydrate || !tier) return undefined;
          const priority = header(req.headers, "x-ms-rehydrate-priority") ?? "Standard";
          rehydrating.set(path, { tier, priority, readyAt: Date.now() + options.delayMs });
          stats.rehydrations += 1;
          return { status: 202 };
        },
      });
    }
    if (method === "PUT" && (comp === null || comp === "blocklist")) {
      const writesBlob =
        comp === "blocklist" || header(req.headers, "x-ms-blob-type") || header(req.headers, "x-ms-copy-source");
      if (writesBlob) {
        return forward(req, res, undefined, {
          head: (status) => {
            if (status < 300) {
              forget(path);
              if (tier === "Archive") archived.add(path);
            }
            return undefined;
          },
        });
      }
    }
    if (method === "DELETE" && comp === null) {
      return forward(req, res, undefined, {
        head: (status) => {
          if (status < 300 || status === 404) forget(path);
          return undefined;
        },
      });
    }
    if (state && method === "GET" && comp === null) {
      return answerError(req, res, 409, "BlobArchived", "This operation is not permitted on an archived blob.");
    }
    if (state && method === "HEAD" && comp === null) {
      return forward(req, res, undefined, {
        head: (status) => (status < 300 ? { headers: archivedHeaders(state) } : undefined),
      });
    }
    forward(req, res);
  });

  // Longer than the SDK keeps idle sockets, for the same reason.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    stop: () => close(server, agent),
  };
}

/** What the proxy changes in an upstream answer; everything else passes as it came. */
interface Rewrite {
  /** Sees the upstream status; may replace the status or headers (null removes one). */
  head?: (status: number) => { status?: number; headers?: Record<string, string | null> } | undefined;
  /** Rewrites a 200 answer's body, which is then buffered. */
  body?: (text: string) => string;
}

function respond(answer: IncomingMessage, res: ServerResponse, rewrite: Rewrite): void {
  const status = answer.statusCode ?? 502;
  const change = rewrite.head?.(status);
  const rewriteBody = rewrite.body;
  const headers = changeHeaders(answer.rawHeaders, change?.headers ?? {});
  if (rewriteBody && status === 200) {
    readAll(answer).then(
      (raw) => {
        const body = Buffer.from(rewriteBody(raw.toString("utf8")), "utf8");
        const fixed = changeHeaders(headers, {
          "content-length": String(body.length),
          "transfer-encoding": null,
          "content-md5": null,
        });
        res.writeHead(status, answer.statusMessage, fixed);
        res.end(body);
      },
      (err: Error) => fail(res, err),
    );
    return;
  }
  const finalStatus = change?.status ?? status;
  res.writeHead(finalStatus, change?.status ? STATUS_CODES[finalStatus] : answer.statusMessage, headers);
  answer.pipe(res);
}

/** Rehydration in progress, as Azure's Get Blob Properties shows it. */
function archivedHeaders(state: Rehydration): Record<string, string | null> {
  return {
    "x-ms-access-tier": "Archive",
    "x-ms-access-tier-inferred": null,
    "x-ms-archive-status": `rehydrate-pending-to-${state.tier.toLowerCase()}`,
    "x-ms-rehydrate-priority": state.priority,
  };
}

/** List Blobs with the rehydrating blobs of this container shown as Azure shows them. */
function rewriteListing(containerPath: string, pending: (path: string) => Rehydration | undefined): Rewrite {
  const body = (xml: string) =>
    xml.replace(/<Blob>([\s\S]*?)<\/Blob>/g, (whole, inner: string) => {
      const name = listedName(inner);
      const state = name === undefined ? undefined : pending(`${decodePath(containerPath)}/${name}`);
      if (!state) return whole;
      const properties = inner
        .replace(/<AccessTierInferred>[^<]*<\/AccessTierInferred>/, "")
        .replace(
          /<AccessTier>[^<]*<\/AccessTier>/,
          `<AccessTier>Archive</AccessTier><ArchiveStatus>rehydrate-pending-to-${state.tier.toLowerCase()}</ArchiveStatus>`,
        );
      return `<Blob>${properties}</Blob>`;
    });
  return { body };
}

function listedName(inner: string): string | undefined {
  const match = /<Name( Encoded="true")?>([^<]*)<\/Name>/.exec(inner);
  if (!match?.[2]) return undefined;
  const text = unescapeXml(match[2]);
  return match[1] ? decodeURIComponent(text) : text;
}

function answer(req: IncomingMessage, res: ServerResponse, status: number): void {
  req.resume();
  res.writeHead(status, commonHeaders(req, { "content-length": "0" }));
  res.end();
}

/** An error as Azure writes it: the code in x-ms-error-code and in an XML body. */
function answerError(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string): void {
  req.resume();
  const requestId = randomUUID();
  const body = Buffer.from(
    `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}\nRequestId:${requestId}\nTime:${new Date().toISOString()}</Message></Error>`,
  );
  res.writeHead(
    status,
    commonHeaders(req, {
      "content-type": "application/xml",
      "content-length": String(req.method === "HEAD" ? 0 : body.length),
      "x-ms-error-code": code,
      "x-ms-request-id": requestId,
    }),
  );
  res.end(req.method === "HEAD" ? undefined : body);
}

function commonHeaders(req: IncomingMessage, extra: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = { date: new Date().toUTCString(), server: "strata-archive-proxy", ...extra };
  const version = header(req.headers, "x-ms-version");
  if (version) headers["x-ms-version"] = version;
  const clientId = header(req.headers, "x-ms-client-request-id");
  if (clientId) headers["x-ms-client-request-id"] = clientId;
  return headers;
}

/** Raw headers with some replaced (a string) or removed (null), names matched without case. */
function changeHeaders(raw: string[], changes: Record<string, string | null>): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.toLowerCase() in changes) continue;
    out.push(name, raw[i + 1] as string);
  }
  for (const [name, value] of Object.entries(changes)) if (value !== null) out.push(name, value);
  return out;
}

/** "/account/container/blob/name" → "account/container/blob/name" (decoded), or undefined for a container. */
function blobPath(pathname: string): string | undefined {
  const parts = pathname.split("/");
  if (parts.length < 4 || parts.slice(3).join("/") === "") return undefined;
  return decodePath(pathname);
}

function decodePath(pathname: string): string {
  const trimmed = pathname.replace(/^\//, "");
  try {
    return decodeURIComponent(trimmed);
  } catch {
    return trimmed;
  }
}

/** The blob paths a batch body deletes: its sub-requests read "DELETE /account/container/blob HTTP/1.1". */
function batchDeletes(body: string): string[] {
  const paths: string[] = [];
  for (const match of body.matchAll(/^DELETE (\S+) HTTP\/1\.1\r?$/gm)) {
    const target = new URL(match[1] as string, "http://proxy");
    const path = blobPath(target.pathname);
    if (path) paths.push(path);
  }
  return paths;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function unescapeXml(text: string): string {
  return text
    .replace(/&#x([0-9a-fA-F]+);/g, (_, hex: string) => String.fromCodePoint(Number.parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&apos;", "'")
    .replaceAll("&amp;", "&");
}

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.once("end", () => resolve(Buffer.concat(chunks)));
    stream.once("error", reject);
  });
}

function fail(res: ServerResponse, err: Error): void {
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  res.writeHead(502, { "content-type": "text/plain" });
  res.end(`archive proxy: ${err.message}`);
}

function close(server: Server, agent: Agent): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
    agent.destroy();
  });
}
