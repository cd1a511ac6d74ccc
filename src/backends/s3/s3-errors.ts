import { S3ServiceException } from "@aws-sdk/client-s3";
import { BackendError, BucketNotFoundError, NoCredentialsError } from "../backend.js";
import { classifyFailure, type FailureContext, firstLine } from "../errors.js";
import { UploadGoneError } from "../multipart.js";
import type { S3Options } from "./s3-options.js";

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
  return classifyFailure({ code, text: firstLine(err), cause: err }, context);
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
