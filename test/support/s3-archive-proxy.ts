/**
 * A stand-in for archive behaviour that Ceph RGW 16 lacks: RGW stores GLACIER and DEEP_ARCHIVE
 * objects as labels, serves them without a restore, and answers RestoreObject with 501. This thin
 * proxy in front of the real RGW implements what AWS documents, with a configurable delay:
 *
 * - GET of an archived object that has not been restored answers 403 InvalidObjectState;
 * - POST ?restore answers 202 and starts a thaw; asked again while it runs, 409
 *   RestoreAlreadyInProgress; once done, 200;
 * - HEAD adds `x-amz-restore: ongoing-request="true"`, then `ongoing-request="false",
 *   expiry-date="…"`, after which GET passes through.
 *
 * Everything else is forwarded unchanged (headers included, so SigV4 signatures still verify).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { forward, listenLocally, relay } from "./http-proxy.js";

const ARCHIVE = new Set(["GLACIER", "DEEP_ARCHIVE"]);

interface Thaw {
  readyAt: number;
  days: number;
}

/** One RestoreObject the proxy accepted: the object's path (/bucket/key) and what was asked. */
export interface RestoreRequestSeen {
  path: string;
  days: number;
  /** The GlacierJobParameters tier as sent (Expedited, Standard, Bulk); AWS's default is Standard. */
  tier: string;
}

export interface ArchiveProxy {
  endpoint: string;
  /** Every restore request that started or renewed a thaw, in order. */
  restores: RestoreRequestSeen[];
  close(): Promise<void>;
}

export async function startArchiveProxy(upstream: string, delayMs: number): Promise<ArchiveProxy> {
  const target = new URL(upstream);
  const archived = new Map<string, Thaw | undefined>();
  const restores: RestoreRequestSeen[] = [];

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    const objectPath = decodeURIComponent(url.pathname);
    const isObject = objectPath.split("/").filter(Boolean).length >= 2;
    const thaw = archived.get(objectPath);
    const isArchived = archived.has(objectPath);

    if (isObject && req.method === "POST" && url.searchParams.has("restore")) {
      return answerRestore(req, res, objectPath, isArchived, thaw);
    }
    if (isObject && req.method === "GET" && isArchived && !thawed(thaw) && !hasSubresource(url)) {
      req.resume();
      return xmlError(res, 403, "InvalidObjectState", "The operation is not valid for the object's storage class");
    }
    forward(target, req, res, (answer) => {
      const headers = { ...answer.headers };
      if (isObject && (answer.statusCode ?? 502) < 300) {
        trackWrites(req, url, objectPath);
        if (req.method === "HEAD" && isArchived && thaw) headers["x-amz-restore"] = restoreHeader(thaw);
      }
      relay(answer, res, headers);
    });
  });

  function answerRestore(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    isArchived: boolean,
    thaw: Thaw | undefined,
  ) {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      if (!isArchived)
        return xmlError(
          res,
          403,
          "InvalidObjectState",
          "Restore is not allowed for the object's current storage class",
        );
      if (thaw && !thawed(thaw))
        return xmlError(res, 409, "RestoreAlreadyInProgress", "Object restore is already in progress");
      const days = Number(/<Days>(\d+)<\/Days>/.exec(body)?.[1] ?? 1);
      const tier = /<Tier>(\w+)<\/Tier>/.exec(body)?.[1] ?? "Standard";
      restores.push({ path, days, tier });
      archived.set(path, { readyAt: thaw?.readyAt ?? Date.now() + delayMs, days });
      res.writeHead(thaw ? 200 : 202).end();
    });
  }

  function trackWrites(req: IncomingMessage, url: URL, path: string) {
    const storageClass = String(req.headers["x-amz-storage-class"] ?? "STANDARD");
    const createsObject =
      (req.method === "PUT" && !url.searchParams.has("partNumber") && !hasSubresource(url)) ||
      (req.method === "POST" && url.searchParams.has("uploads"));
    if (createsObject) {
      if (ARCHIVE.has(storageClass)) archived.set(path, undefined);
      else archived.delete(path);
    }
    if (req.method === "DELETE" && !url.searchParams.has("uploadId")) archived.delete(path);
  }

  const { endpoint, close } = await listenLocally(server);
  return { endpoint, restores, close };
}

function thawed(thaw: Thaw | undefined): boolean {
  return thaw !== undefined && Date.now() >= thaw.readyAt;
}

function restoreHeader(thaw: Thaw): string {
  if (!thawed(thaw)) return 'ongoing-request="true"';
  const expiry = new Date(thaw.readyAt + thaw.days * 86_400_000).toUTCString();
  return `ongoing-request="false", expiry-date="${expiry}"`;
}

/** ?tagging, ?acl and the like address a sub-resource, not the object's bytes. */
function hasSubresource(url: URL): boolean {
  return ["tagging", "acl", "uploads", "uploadId", "retention", "legal-hold"].some((q) => url.searchParams.has(q));
}

function xmlError(res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  res.writeHead(status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) }).end(body);
}
