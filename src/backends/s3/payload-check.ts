import { createHash, randomUUID } from "node:crypto";
import { S3ServiceException } from "@aws-sdk/client-s3";

/**
 * Whether a store refuses a body that its signed SHA-256 does not describe. Under `signPayload:
 * whole` (s3-options.ts) that refusal is the only proof a body sent in one request arrived
 * intact: AWS S3, Ceph RGW and MinIO answer XAmzContentSHA256Mismatch, but an S3-compatible
 * store that does not check would keep a body damaged on the way, and Strata would record it as
 * the file. So the backend asks once, before the first such body: a PUT, to a key of Strata's
 * own, of bytes other than those its signed hash describes, as a damaged body would arrive.
 */

/** Where the question's object goes, under the location's prefix; only a store that keeps it holds it, until it is deleted. */
export const PAYLOAD_CHECK_PREFIX = ".strata-payload-check/";

/** What a store that checks answers such a body with (AWS, RGW and MinIO the first; others a digest error). */
const REFUSALS = new Set(["XAmzContentSHA256Mismatch", "BadDigest", "InvalidDigest"]);

/** How the question is sent: the backend's own request path, so it is asked as bodies are sent. */
export interface PayloadCheckRoute {
  /** PUTs `body` at `key` (relative to the location), signing `payloadHash` as its SHA-256 and nothing else to prove it. */
  put(key: string, body: Buffer, payloadHash: string): Promise<unknown>;
  remove(key: string): Promise<void>;
}

/**
 * True when the store refused the body. False when it kept it (the object is deleted), or refused
 * it as a bad request for another reason (a bucket lock that wants a Content-MD5): unproven, so
 * the caller proves each body by its Content-MD5 instead. Any other failure (credentials, a
 * missing bucket, a store unreachable or busy past the retries) is thrown, as the write's own
 * would be: the question stays open.
 */
export async function storeRefusesMismatchedPayload(route: PayloadCheckRoute): Promise<boolean> {
  const key = `${PAYLOAD_CHECK_PREFIX}${randomUUID()}`;
  const described = Buffer.from("Strata asks whether this store checks a body's signed SHA-256.\n");
  const damaged = Buffer.from(described.map((byte) => byte ^ 1));
  try {
    await route.put(key, damaged, createHash("sha256").update(described).digest("hex"));
  } catch (err) {
    if (!(err instanceof S3ServiceException)) throw err;
    if (REFUSALS.has(err.name)) return true;
    if (err.$metadata.httpStatusCode === 400) return false;
    throw err;
  }
  await route.remove(key);
  return false;
}
