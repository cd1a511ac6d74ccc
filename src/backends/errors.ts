import {
  AccessDeniedError,
  BackendError,
  BucketNotFoundError,
  InvalidRequestError,
  NeedsRestoreError,
  NotFoundError,
  TransientError,
  UnreachableError,
} from "./backend.js";

/*
 * The one classifier from a failed request to the typed errors of backend.ts, for every cloud
 * backend: HTTP status codes, the services' error codes and network errors decide retry or not,
 * and whether a location is unusable (missing, refused, silent). Each backend reads its SDK's
 * error into a Failure (its `<kind>-errors.ts`) and handles first what only it knows (S3's gone
 * upload, GCS's damaged bytes, each SDK's missing credentials).
 */

/** One failed request, as far as a backend could read its SDK's error. */
export interface Failure {
  /** The HTTP status, when an answer came back. */
  status?: number | undefined;
  /** The service's error code (NoSuchKey, BlobArchived, …) or the network error's (ECONNRESET, …). */
  code?: string | undefined;
  /** The error's message, one line, no secrets. */
  text: string;
  cause?: unknown;
}

/** Where the request went, and what the backend knows of the failure beyond its codes. */
export interface FailureContext {
  /** The location's URL, which every typed error names. */
  url: string;
  /** The key asked for; "" when the request was about the bucket. */
  key: string;
  bucket: string;
  /** A first check of the location (check()): no answer at all means unreachable, not "try again". */
  probing?: boolean;
  /** The service said the bucket (container) itself is missing, not one object. */
  bucketMissing?: boolean;
  /** What to look at when access is refused, for the message. */
  accessHint: string;
  /**
   * A failure with no HTTP answer and no network code is worth another try: the SDK wrapped a
   * failure of its own (a checksum it computed, a body it could not parse). Else it is final.
   */
  unknownIsTransient?: boolean;
}

const NOT_FOUND = new Set(["NoSuchKey", "NotFound", "BlobNotFound"]);
/** Archived objects read before they are restored (S3 answers 403, Azure 409). */
const NEEDS_RESTORE = new Set(["InvalidObjectState", "BlobArchived"]);
const ACCESS_DENIED = new Set([
  "AccessDenied",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "AuthorizationFailure",
  "AuthenticationFailed",
]);
/** Slow-down answers, whatever their status. */
const THROTTLED = new Set([
  "SlowDown",
  "RequestTimeout",
  "Throttling",
  "ThrottlingException",
  "TooManyRequests",
  "RequestLimitExceeded",
  "ServerBusy",
  "OperationTimedOut",
]);
/** No HTTP answer came back at all: refused, reset, timed out, unknown host. */
const NETWORK = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_SOCKET",
  "REQUEST_SEND_ERROR",
  "request-timeout",
  "body-timeout",
  "AbortError",
  "TimeoutError",
]);
const NETWORK_TEXT = /socket hang up|other side closed/i;
/** A connection the server dropped proves it is there: worth another try even when probing, unlike silence. */
const DROPPED = new Set(["ECONNRESET", "EPIPE"]);

/** Whether a code (of any of the shapes SDKs use) says no answer came back. */
export function isNetworkCode(code: string | undefined): boolean {
  return code !== undefined && NETWORK.has(code);
}

/** A slow-down answer (429, or a throttling code whatever the status): retries wait longer for it. */
export function isThrottling(failure: Pick<Failure, "status" | "code">): boolean {
  return failure.status === 429 || (failure.code !== undefined && THROTTLED.has(failure.code));
}

/** The typed error for one failed request. */
export function classifyFailure(failure: Failure, context: FailureContext): BackendError {
  const { url, key } = context;
  const options = failure.cause === undefined ? undefined : { cause: failure.cause };
  const what = key ? `${JSON.stringify(key)}: ` : "";
  const { status, code, text } = failure;
  if (status === undefined) return noAnswer(failure, context, `${what}${code ? `${code}: ` : ""}${text}`);
  const named = code ?? `HTTP ${status}`;
  const described = `${what}${named}${text && text !== named ? ` (${text})` : ""}`;
  const detail = `${described} (HTTP ${status})`;
  if (context.bucketMissing) return new BucketNotFoundError(url, context.bucket, options);
  if (code !== undefined && NEEDS_RESTORE.has(code)) return new NeedsRestoreError(url, key);
  if (status === 404 || (code !== undefined && NOT_FOUND.has(code))) return new NotFoundError(url, key, options);
  if (status === 401 || status === 403 || (code !== undefined && ACCESS_DENIED.has(code))) {
    return new AccessDeniedError(url, `${described} (${context.accessHint})`, options);
  }
  // 412: the object changed under a read resumed or conditioned on its version; reading again is right.
  if (
    status === 408 ||
    status === 412 ||
    status === 429 ||
    status >= 500 ||
    (code !== undefined && THROTTLED.has(code))
  ) {
    return new TransientError(url, detail, options);
  }
  return new InvalidRequestError(url, detail);
}

function noAnswer(failure: Failure, context: FailureContext, message: string): BackendError {
  const options = failure.cause === undefined ? undefined : { cause: failure.cause };
  const network = isNetworkCode(failure.code) || NETWORK_TEXT.test(failure.text);
  const dropped = failure.code !== undefined && DROPPED.has(failure.code);
  if (context.probing && !dropped) return new UnreachableError(context.url, message, options);
  if (network || dropped || context.unknownIsTransient) return new TransientError(context.url, message, options);
  return new BackendError(message, context.url, false, options);
}

/** The first line of an error's message, trimmed. */
export function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return (message.split("\n")[0] ?? "").trim();
}
