import { describe, expect, it } from "vitest";
import {
  AccessDeniedError,
  BackendError,
  BucketNotFoundError,
  InvalidRequestError,
  NeedsRestoreError,
  NotFoundError,
  TransientError,
  UnreachableError,
} from "../../src/backends/backend.js";
import { classifyFailure, type Failure, type FailureContext } from "../../src/backends/errors.js";

const context: FailureContext = {
  url: "s3://bucket/prefix",
  key: "a/b.txt",
  bucket: "bucket",
  accessHint: "check the credentials",
};

describe("classifyFailure: one mapping from a failed request to a typed error", () => {
  const cases: [string, Failure, Partial<FailureContext>, new (...args: never[]) => BackendError][] = [
    ["404", { status: 404, text: "" }, {}, NotFoundError],
    ["NoSuchKey", { status: 400, code: "NoSuchKey", text: "" }, {}, NotFoundError],
    ["a missing bucket", { status: 404, code: "NoSuchBucket", text: "" }, { bucketMissing: true }, BucketNotFoundError],
    ["an archived S3 object (403)", { status: 403, code: "InvalidObjectState", text: "" }, {}, NeedsRestoreError],
    ["an archived blob (409)", { status: 409, code: "BlobArchived", text: "" }, {}, NeedsRestoreError],
    ["403", { status: 403, code: "AccessDenied", text: "Access Denied" }, {}, AccessDeniedError],
    ["401", { status: 401, text: "" }, {}, AccessDeniedError],
    ["a bad signature", { status: 400, code: "SignatureDoesNotMatch", text: "" }, {}, AccessDeniedError],
    ["503 SlowDown", { status: 503, code: "SlowDown", text: "" }, {}, TransientError],
    ["500", { status: 500, text: "" }, {}, TransientError],
    ["429", { status: 429, text: "" }, {}, TransientError],
    ["408", { status: 408, text: "" }, {}, TransientError],
    ["412: the object changed under a resumed read", { status: 412, text: "" }, {}, TransientError],
    ["ServerBusy whatever its status", { status: 400, code: "ServerBusy", text: "" }, {}, TransientError],
    ["any other status", { status: 400, code: "InvalidArgument", text: "" }, {}, InvalidRequestError],
    ["a reset connection", { code: "ECONNRESET", text: "read ECONNRESET" }, {}, TransientError],
    ["a socket hang up", { text: "request failed, reason: socket hang up" }, {}, TransientError],
    ["a timeout", { code: "ETIMEDOUT", text: "" }, {}, TransientError],
    ["a refused first check", { code: "ECONNREFUSED", text: "" }, { probing: true }, UnreachableError],
    ["a first check the server dropped", { code: "ECONNRESET", text: "" }, { probing: true }, TransientError],
    ["an unknown failure the SDK wrapped", { text: "checksum mismatch" }, { unknownIsTransient: true }, TransientError],
  ];
  it.each(cases)("%s", (_label, failure, extra, expected) => {
    const error = classifyFailure(failure, { ...context, ...extra });
    expect(error).toBeInstanceOf(expected);
    expect(error.message).toMatch(/^s3:\/\/bucket\/prefix: /);
  });

  it("leaves an unknown failure final, naming the key and what the SDK said", () => {
    const error = classifyFailure({ code: "EWHAT", text: "something odd" }, context);
    expect(error.constructor).toBe(BackendError);
    expect(error.retryable).toBe(false);
    expect(error.message).toBe('s3://bucket/prefix: "a/b.txt": EWHAT: something odd');
  });

  it("says what to check when access is refused, and the status of other refusals", () => {
    expect(classifyFailure({ status: 403, code: "AccessDenied", text: "Access Denied" }, context).message).toBe(
      's3://bucket/prefix: access denied: "a/b.txt": AccessDenied (Access Denied) (check the credentials)',
    );
    expect(classifyFailure({ status: 400, code: "InvalidArgument", text: "bad" }, context).message).toBe(
      's3://bucket/prefix: "a/b.txt": InvalidArgument (bad) (HTTP 400)',
    );
  });
});
