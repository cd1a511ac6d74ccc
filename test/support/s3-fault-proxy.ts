/**
 * A counting, fault-injecting proxy in front of the real RGW, for what a test must measure or
 * provoke and RGW alone will not do on cue:
 *
 * - it counts requests by S3 operation (UploadPart, PutObject, CreateMultipartUpload, ...), so a
 *   test can assert how many parts a resumed upload sent; the PUT a backend asks its store's
 *   check of a signed SHA-256 with (payload-check.ts) is a "PayloadCheck", not a PutObject;
 * - it answers a chosen share of requests, before they reach RGW, as a throttled or failing S3
 *   service does: 503 SlowDown or 500 InternalError (S3's XML error body), a connection reset,
 *   or silence (the request read, never answered: a hung store); and counts each fault it injected;
 * - it damages a chosen part of multipart uploads in flight (one byte flipped, the request's
 *   Content-MD5 left as the client computed it), and keeps what the store answered to each.
 *
 * Every other request is forwarded unchanged (headers included, so SigV4 signatures verify).
 */
import { createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import { PAYLOAD_CHECK_PREFIX } from "../../src/backends/s3/payload-check.js";
import { forward, listenLocally, relay } from "./http-proxy.js";

export type Fault = "slowDown" | "internalError" | "reset" | "hang";

/** The share of requests (0 to 1) that get each fault. */
export type FaultShares = Partial<Record<Fault, number>>;

export interface FaultProxy {
  endpoint: string;
  /** Requests seen, by operation name. */
  readonly operations: Map<string, number>;
  /** Faults injected, by kind. */
  readonly faults: Record<Fault, number>;
  count(operation: string): number;
  setFaults(shares: FaultShares): void;
  /** Answers the next `count` requests (of `operation`, if named) with `fault`, whatever the shares. */
  failNext(count: number, fault: Fault, operation?: string): void;
  /**
   * Flips one byte in the body of every UploadPart request of this part number, forwarding it
   * otherwise unchanged; undefined stops. The store's answers to those are in `damagedAnswers`.
   */
  damagePart(partNumber: number | undefined): void;
  /** The HTTP statuses the store answered damaged parts with. */
  readonly damagedAnswers: number[];
  /** Zeroes the counters. */
  resetCounts(): void;
  close(): Promise<void>;
}

const ERRORS = {
  slowDown: { status: 503, code: "SlowDown", message: "Please reduce your request rate." },
  internalError: { status: 500, code: "InternalError", message: "We encountered an internal error. Please try again." },
} as const;

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const operations = new Map<string, number>();
  const faults: Record<Fault, number> = { slowDown: 0, internalError: 0, reset: 0, hang: 0 };
  let shares: FaultShares = {};
  const queued: { fault: Fault; operation: string | undefined }[] = [];
  const nextQueued = (operation: string): Fault | undefined => {
    const index = queued.findIndex((q) => q.operation === undefined || q.operation === operation);
    return index < 0 ? undefined : queued.splice(index, 1)[0]?.fault;
  };
  let damaged: string | undefined;
  const damagedAnswers: number[] = [];

  const server = createServer((req, res) => {
    const operation = operationOf(req);
    operations.set(operation, (operations.get(operation) ?? 0) + 1);
    const part = new URL(req.url ?? "/", "http://proxy").searchParams.get("partNumber");
    if (operation === "UploadPart" && damaged !== undefined && part === damaged) {
      return forwardDamaged(target, req, res, (status) => damagedAnswers.push(status));
    }
    const fault = nextQueued(operation) ?? drawFault(shares, Math.random());
    if (!fault) return forward(target, req, res);
    faults[fault] += 1;
    if (fault === "reset") return req.socket.destroy();
    // Read, never answered; the client gives up on its own (close() drops the connection).
    if (fault === "hang") return void req.resume();
    // Read the body first, as a server does, so the client sees the answer, not a broken pipe.
    req.resume();
    req.on("end", () => xmlError(res, req.method === "HEAD", ERRORS[fault]));
  });

  const { endpoint, close } = await listenLocally(server);
  return {
    endpoint,
    operations,
    faults,
    count: (operation) => operations.get(operation) ?? 0,
    setFaults: (next) => {
      shares = next;
    },
    damagePart: (partNumber) => {
      damaged = partNumber === undefined ? undefined : String(partNumber);
    },
    damagedAnswers,
    failNext: (count, fault, operation) => {
      for (let i = 0; i < count; i++) queued.push({ fault, operation });
    },
    resetCounts: () => {
      operations.clear();
      for (const kind of Object.keys(faults) as Fault[]) faults[kind] = 0;
    },
    close,
  };
}

/** Reads the whole body, flips its middle byte, and sends it on with the request's own headers. */
function forwardDamaged(upstream: URL, req: IncomingMessage, res: ServerResponse, answered: (status: number) => void) {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const middle = body.length >> 1;
    body[middle] = (body[middle] ?? 0) ^ 0xff;
    const out = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        answered(answer.statusCode ?? 0);
        relay(answer, res);
      },
    );
    out.on("error", () => res.destroy());
    out.end(body);
  });
}

/** The S3 operation a request is, by method, path depth and query, as far as tests need. */
export function operationOf(req: IncomingMessage): string {
  const url = new URL(req.url ?? "/", "http://proxy");
  const query = url.searchParams;
  const isObject = url.pathname.split("/").filter(Boolean).length >= 2;
  switch (req.method) {
    case "PUT":
      if (query.has("partNumber")) return req.headers["x-amz-copy-source"] ? "UploadPartCopy" : "UploadPart";
      if (query.has("tagging")) return "PutObjectTagging";
      if (url.pathname.includes(`/${PAYLOAD_CHECK_PREFIX}`)) return "PayloadCheck";
      return req.headers["x-amz-copy-source"] ? "CopyObject" : isObject ? "PutObject" : "CreateBucket";
    case "POST":
      if (query.has("uploads")) return "CreateMultipartUpload";
      if (query.has("uploadId")) return "CompleteMultipartUpload";
      if (query.has("delete")) return "DeleteObjects";
      return "Post";
    case "DELETE":
      return query.has("uploadId") ? "AbortMultipartUpload" : "DeleteObject";
    case "HEAD":
      return isObject ? "HeadObject" : "HeadBucket";
    default:
      if (query.has("uploads")) return "ListMultipartUploads";
      if (query.has("uploadId")) return "ListParts";
      if (query.has("tagging")) return "GetObjectTagging";
      return isObject ? "GetObject" : "ListObjects";
  }
}

function drawFault(shares: FaultShares, draw: number): Fault | undefined {
  let edge = 0;
  for (const [fault, share] of Object.entries(shares) as [Fault, number][]) {
    edge += share;
    if (draw < edge) return fault;
  }
  return undefined;
}

function xmlError(res: ServerResponse, isHead: boolean, error: { status: number; code: string; message: string }) {
  const body =
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${error.code}</Code>` +
    `<Message>${error.message}</Message><RequestId>strata-fault-proxy</RequestId></Error>`;
  res.writeHead(error.status, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) });
  res.end(isHead ? undefined : body);
}
