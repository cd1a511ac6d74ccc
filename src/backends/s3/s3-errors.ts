import { S3ServiceException } from "@aws-sdk/client-s3";
import { formatDuration } from "../../config/units.js";
import { BackendError, BucketNotFoundError, NoCredentialsError } from "../backend.js";
import { classifyFailure, type FailureContext, firstLine } from "../errors.js";
import { UploadGoneError } from "../multipart.js";
import { type S3Options, silenceLimitMs } from "./s3-options.js";

type S3Request = Pick<FailureContext, "url" | "key" | "bucket" | "probing">;

/**
 * An S3 SDK error as a typed error. The SDK wraps failures of its own (a checksum it computed, a
 * body it could not parse) as plain errors: those are worth another try.
 */
export function s3Error(err: unknown, request: S3Request, options: S3Options): Error {
  if (err instanceof BackendError) return err;
  const context: FailureContext = {
    ...request,
    accessHint: "check the credentials and the bucket policy",
    unknownIsTransient: true,
  };
  if (err instanceof S3ServiceException) {
    const status = err.$metadata.httpStatusCode ?? 0;
    const code = err.name;
    const text = err.message === "UnknownError" ? "" : err.message;
    if (code === "NoSuchBucket" || (request.probing && status === 404)) {
      return new BucketNotFoundError(request.url, request.bucket);
    }
    if (code === "NoSuchUpload") {
      return new UploadGoneError(request.url, `${JSON.stringify(request.key)}: ${code} (HTTP ${status})`, {
        cause: err,
      });
    }
    return classifyFailure({ status, code, text, cause: err }, context);
  }
  if ((err as Error).name === "CredentialsProviderError") {
    return new NoCredentialsError(request.url, credentialSources(options), { cause: err });
  }
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).name;
  const text = droppedForSilence(err, code) ? silenceText(options, request.probing === true) : firstLine(err);
  return classifyFailure({ code, text, cause: err }, context);
}

/**
 * A request dropped because the store said nothing for too long: undici's two timeouts (the
 * lean path), or the SDK handler's socket inactivity timeout (its connect timeout has the same
 * name, and says so in its message).
 */
function droppedForSilence(err: unknown, code: string): boolean {
  if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") return true;
  return code === "TimeoutError" && /inactivity/.test(firstLine(err));
}

function silenceText(options: S3Options, probing: boolean): string {
  const waited = formatDuration(silenceLimitMs(options, probing));
  return `no answer from the store within ${waited}${probing ? "" : " (s3.requestTimeout)"}`;
}

/** Where the SDK's default chain looks for credentials, in its order, as this process sees it. */
function credentialSources(options: S3Options): string {
  const env = process.env;
  const home = env.HOME ?? "~";
  const profile = options.profile ?? (env.AWS_PROFILE || "default");
  const metadata =
    env.AWS_EC2_METADATA_DISABLED === "true"
      ? "instance metadata (disabled by AWS_EC2_METADATA_DISABLED)"
      : "instance metadata";
  return [
    "environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    `profile "${profile}" (AWS_PROFILE) in ${env.AWS_SHARED_CREDENTIALS_FILE || `${home}/.aws/credentials`} ` +
      `and ${env.AWS_CONFIG_FILE || `${home}/.aws/config`}, with its SSO and process settings`,
    "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)",
    "container credentials",
    metadata,
  ].join(", ");
}
