/**
 * A proxy in front of a real S3 server (RGW) that forwards every request unchanged (SigV4
 * signatures still verify) and logs it: method, path, query, the start of its Range, and when it
 * began and ended. Tests read from the log what a run did on the wire: how many ranged GETs or
 * part PUTs, how many at once, how many requests per second.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import { PAYLOAD_CHECK_PREFIX } from "../../src/backends/s3/payload-check.js";
import { forward, listenLocally } from "./http-proxy.js";

export interface LoggedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  /** The first byte asked for by a Range header; undefined without one. */
  rangeStart: number | undefined;
  /** The request's headers as they arrived (names lower case). */
  headers: IncomingHttpHeaders;
  startedAt: number;
  /** When the answer was sent whole or the connection closed; undefined while in flight. */
  endedAt: number | undefined;
}

export interface RequestLogProxy {
  endpoint: string;
  /** Every request forwarded since the last reset, in the order they arrived. */
  requests: LoggedRequest[];
  reset(): void;
  close(): Promise<void>;
}

export async function startRequestLogProxy(upstream: string): Promise<RequestLogProxy> {
  const target = new URL(upstream);
  const proxy: RequestLogProxy = {
    endpoint: "",
    requests: [],
    reset() {
      proxy.requests = [];
    },
    close: () => served.close(),
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    const start = /^bytes=(\d+)-/.exec(req.headers.range ?? "")?.[1];
    const logged: LoggedRequest = {
      method: req.method ?? "",
      path: url.pathname,
      query: url.searchParams,
      rangeStart: start === undefined ? undefined : Number(start),
      headers: req.headers,
      startedAt: Date.now(),
      endedAt: undefined,
    };
    proxy.requests.push(logged);
    res.once("close", () => {
      logged.endedAt = Date.now();
    });
    forward(target, req, res);
  });
  const served = await listenLocally(server);
  proxy.endpoint = served.endpoint;
  return proxy;
}

/** An object GET carries no sub-resource (the SDK adds only x-id=GetObject); listings and tags do. */
export function isObjectGet(r: LoggedRequest): boolean {
  return r.method === "GET" && [...r.query.keys()].every((name) => name === "x-id");
}

/** A single-request object upload: a PUT with no sub-resource (not a part, not tagging). */
export function isObjectPut(r: LoggedRequest): boolean {
  return r.method === "PUT" && [...r.query.keys()].every((name) => name === "x-id") && !isPayloadCheck(r);
}

/** The PUT a backend asks its store's check of a signed SHA-256 with (payload-check.ts), not a body of the caller's. */
export function isPayloadCheck(r: LoggedRequest): boolean {
  return r.method === "PUT" && r.path.includes(`/${PAYLOAD_CHECK_PREFIX}`);
}

/** One part of a multipart upload. */
export function isPartPut(r: LoggedRequest): boolean {
  return r.method === "PUT" && r.query.has("partNumber") && r.query.has("uploadId");
}

/** The most of `requests` that were in flight at one time. */
export function maxInFlight(requests: readonly LoggedRequest[]): number {
  // Sweep the starts and ends in time order; at equal times an end goes first (no overlap).
  const edges = requests.flatMap((r) => [
    { at: r.startedAt, step: 1 },
    { at: r.endedAt ?? Number.POSITIVE_INFINITY, step: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.step - b.step);
  let now = 0;
  let most = 0;
  for (const edge of edges) {
    now += edge.step;
    most = Math.max(most, now);
  }
  return most;
}

/**
 * The most objects that had requests in flight at one time: each object counts from its first
 * request's start to its last one's end (a multipart upload's parts, a ranged download's GETs).
 */
export function maxObjectsInFlight(requests: readonly LoggedRequest[]): number {
  const spans = new Map<string, LoggedRequest>();
  for (const r of requests) {
    const span = spans.get(r.path);
    if (!span) spans.set(r.path, { ...r });
    else {
      span.startedAt = Math.min(span.startedAt, r.startedAt);
      span.endedAt =
        span.endedAt === undefined || r.endedAt === undefined ? undefined : Math.max(span.endedAt, r.endedAt);
    }
  }
  return maxInFlight([...spans.values()]);
}
