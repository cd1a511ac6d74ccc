import * as z from "zod";
import { durationMs, sizeBytes } from "../../config/units-schema.js";

/**
 * A location's `s3:` settings. Credentials are not written here: the SDK's standard chain finds
 * them (environment, profiles, instance metadata), so they never reach the config, the catalog,
 * a log or an error message.
 */
export const s3OptionsSchema = z
  .object({
    /** For S3-compatible stores (Ceph RGW, MinIO); AWS itself needs none. */
    endpoint: z.url().optional(),
    region: z.string().default("us-east-1"),
    /** Path-style addressing (bucket in the path), as most S3-compatible stores want. */
    forcePathStyle: z.boolean().default(false),
    /** A named profile of the shared AWS config files. */
    profile: z.string().optional(),
    /**
     * "when_supported" sends a checksum with every upload, which S3 verifies; "when_required"
     * for endpoints that mishandle the SDK's aws-chunked checksum trailers.
     */
    checksums: z.enum(["when_supported", "when_required"]).default("when_supported"),
    partSize: sizeBytes.optional(),
    partsInFlight: z.number().int().min(1).max(64).default(4),
    /**
     * Bodies under one part go up through a lean signed PUT (the SDK's signer, credentials,
     * endpoint and retry strategy over a keep-alive pool) instead of the SDK's command stack,
     * for a fraction of its CPU per request; false sends them through the SDK, for a store
     * where the lean path misbehaves.
     */
    leanRequests: z.boolean().default(true),
    /**
     * How long the store may stay silent on a request: no answer begun once the request is sent,
     * or a body neither sent nor received for this long. The request is then dropped and tried
     * again, as a failure worth retrying; a store that hangs is reported, not waited on for ever.
     * The bucket probe at the start of a command waits at most 10 s of it. A body being sent is
     * activity while it moves, however slow the link.
     */
    requestTimeout: durationMs.refine((ms) => ms >= 1000, { error: "expected at least 1s" }).default(120_000),
    /**
     * What proves each body to the store, which refuses one that differs before it keeps anything:
     * - `whole` (default): a body sent in one request signs its SHA-256, the hash Strata records
     *   and computes anyway, so the client hashes it once (an MD5 as well cost a tenth of an
     *   upload's client CPU); a part of a multipart upload carries its Content-MD5, computed off
     *   the main thread, its payload unsigned. Before its first such body a backend asks the
     *   store whether it checks that hash (payload-check.ts); one that does not gets every whole
     *   body with its Content-MD5 too.
     * - `all`: parts sign their SHA-256 too (the SDK hashes each), and whole bodies carry a
     *   Content-MD5 as well: for plain-http endpoints across networks where a body could be
     *   altered on purpose, which an MD5 does not stop.
     * - `none`: nothing signed, every body proven by its Content-MD5: for a store that does not
     *   check a signed payload's hash (AWS S3, Ceph RGW and MinIO do).
     * `true` and `false`, the earlier spellings, mean `all` and `none`.
     */
    signPayload: z
      .union([z.enum(["whole", "all", "none"]), z.boolean().transform((all) => (all ? "all" : "none"))], {
        error: "expected whole, all or none (or true for all, false for none)",
      })
      .default("whole"),
  })
  .strict();

export type S3Options = z.infer<typeof s3OptionsSchema>;

/** The probe's bound on silence: a command's start is not held up by a hung store for long. */
const PROBE_SILENCE_MS = 10_000;

/** How long a request may meet silence before it is dropped: the probe's, or any other's. */
export function silenceLimitMs(options: S3Options, probing: boolean): number {
  return probing ? Math.min(PROBE_SILENCE_MS, options.requestTimeout) : options.requestTimeout;
}
