import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { UsageError } from "../config/errors.js";

/** Errors as RFC 9457 problem details (application/problem+json). */

export const PROBLEM_TYPE = "application/problem+json";

/** A refusal with its HTTP status; its message is safe to show the client. */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Problem {
  type: "about:blank";
  title: string;
  status: number;
  detail: string;
  instance: string;
}

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  detail: string,
): FastifyReply {
  const problem: Problem = {
    type: "about:blank",
    title: TITLES[status] ?? "Error",
    status,
    detail,
    instance: request.url.split("?")[0] as string,
  };
  if (status === 401) reply.header("www-authenticate", 'Bearer realm="strata"');
  return reply.code(status).type(PROBLEM_TYPE).send(problem);
}

/**
 * The status and the client-safe text of an error: refusals say why; fastify's own errors (a body
 * too large, bad JSON) keep their 4xx status and message; anything else is a 500 whose detail
 * stays in the log, since it may name paths or SQL the client has no business seeing.
 */
export function problemOf(err: unknown): { status: number; detail: string } {
  if (err instanceof ProblemError) return { status: err.status, detail: err.message };
  if (err instanceof UsageError) return { status: 400, detail: err.message };
  const status = (err as FastifyError).statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return { status, detail: (err as Error).message };
  }
  return { status: 500, detail: "internal error (see the server's log)" };
}
