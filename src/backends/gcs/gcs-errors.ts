import { AccessDeniedError, BackendError, TransientError } from "../backend.js";
import { classifyFailure, type FailureContext, isNetworkCode } from "../errors.js";

type GcsRequest = Pick<FailureContext, "url" | "key" | "bucket" | "probing">;

/** Maps client, HTTP and network errors onto the typed errors; `probing` turns "no answer" into Unreachable. */
export function gcsError(err: unknown, request: GcsRequest): Error {
  if (err instanceof BackendError) return err;
  const { url, key } = request;
  const what = key ? `${JSON.stringify(key)}: ` : "";
  const status = httpStatus(err);
  const accessHint = "check the credentials and the bucket's IAM roles";
  if (status !== 404 && credentialsProblem(err)) {
    return new AccessDeniedError(url, `${what}${describe(err)} (${accessHint})`, { cause: err });
  }
  if (status === 400 && /\b(md5|crc32c)\b/i.test(message(err))) {
    // GCS refused bytes that do not match the hashes sent with them: damaged on the way.
    return new TransientError(url, `${what}the bytes arrived damaged: ${describe(err)}`, { cause: err });
  }
  if (status === undefined && integrityProblem(err)) {
    return new TransientError(url, `${what}checksum mismatch: ${describe(err)}`, { cause: err });
  }
  return classifyFailure(
    { status, code: errorCode(err), text: describe(err), cause: err },
    { ...request, bucketMissing: bucketMissing(err), accessHint },
  );
}

// --- reading the library's errors, which come in several shapes ---

interface ErrorFields {
  code?: unknown;
  status?: unknown;
  type?: unknown;
  name?: unknown;
  message?: unknown;
  errors?: unknown;
  response?: { status?: unknown; data?: unknown };
  cause?: { code?: unknown };
}

function fields(err: unknown): ErrorFields {
  return typeof err === "object" && err !== null ? (err as ErrorFields) : {};
}

/** The HTTP status: ApiError.code, an "Upload failed" error's code, or a GaxiosError's response. */
export function httpStatus(err: unknown): number | undefined {
  const e = fields(err);
  for (const value of [e.response?.status, e.code, e.status]) {
    const n = typeof value === "string" && /^\d{3}$/.test(value) ? Number(value) : value;
    if (typeof n === "number" && n >= 100 && n < 600) return n;
  }
  return undefined;
}

function errorCode(err: unknown): string | undefined {
  const e = fields(err);
  for (const value of [e.code, e.cause?.code, e.type, e.name]) {
    if (typeof value === "string" && isNetworkCode(value)) return value;
  }
  return typeof e.code === "string" ? e.code : undefined;
}

/**
 * The most telling message: GCS's own, from the JSON error body wherever the error carries it
 * (a GaxiosError's response data, an "Upload failed" error's `errors`, or a download error whose
 * message is the body's text), else the error's message.
 */
function message(err: unknown): string {
  const e = fields(err);
  const firstError = Array.isArray(e.errors) ? (e.errors[0] as unknown) : undefined;
  for (const body of [e.response?.data, firstError, e.message]) {
    const text = errorBodyMessage(body);
    if (text) return text;
  }
  return typeof e.message === "string" ? e.message : String(err);
}

/** `{"error": {"message": …}}`, as an object or as JSON text. */
function errorBodyMessage(body: unknown): string | undefined {
  let value = body;
  if (typeof value === "string") {
    if (!value.trimStart().startsWith("{")) return undefined;
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  const error = typeof value === "object" && value !== null && "error" in value ? value.error : undefined;
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") {
    return error.message;
  }
  return undefined;
}

/** One line, no secrets: bearer tokens are cut out, whitespace folded, length capped. */
function describe(err: unknown): string {
  const text = message(err)
    .replace(/(bearer|access_token[=:]?)\s*[\w.~+/-]+=*/gi, "$1 [redacted]")
    .replace(/\s+/g, " ")
    .trim();
  return text.length > 300 ? `${text.slice(0, 297)}...` : text || "unknown error";
}

export function bucketMissing(err: unknown): boolean {
  return httpStatus(err) === 404 && /bucket does not exist/i.test(message(err));
}

/**
 * google-auth-library's failures: no credentials found, a token refused, or a key file that
 * cannot be read (the backend reads no other local file, so a filesystem error is that).
 */
function credentialsProblem(err: unknown): boolean {
  const code = fields(err).code;
  if (code === "ENOENT" || code === "EACCES" || code === "EISDIR") return true;
  return /could not load the default credentials|invalid_grant|invalid_client|unauthorized_client|private key/i.test(
    message(err),
  );
}

/** The library's own CRC32C or MD5 comparison failed (on upload it has deleted the object). */
function integrityProblem(err: unknown): boolean {
  const code = fields(err).code;
  return code === "FILE_NO_UPLOAD" || code === "FILE_NO_UPLOAD_DELETE" || code === "CONTENT_DOWNLOAD_MISMATCH";
}
