import { z } from "zod";
import { priceOverrideSchema } from "../cost/override.js";
import { policySchema } from "../policy/schema.js";
import { durationMs, sizeBytes } from "./units-schema.js";

const tagMap = z.record(
  z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, "tag names are letters, digits and _ . : -"),
  z.string().max(256),
);

/**
 * Per-cloud settings. Credentials are not written here: each SDK's standard chain finds them
 * (environment, profiles, instance metadata, DefaultAzureCredential, Application Default
 * Credentials), so they never reach the config, the catalog, a log or an error message.
 */
export const s3Schema = z
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
  })
  .strict();

export const azureSchema = z
  .object({
    /** The storage account; else AZURE_STORAGE_ACCOUNT or the connection string's. */
    account: z.string().optional(),
    /** The blob service URL, for Azurite or sovereign clouds; default https://<account>.blob.core.windows.net. */
    endpoint: z.url().optional(),
    blockSize: sizeBytes.optional(),
    concurrency: z.number().int().min(1).max(64).default(4),
  })
  .strict();

export const gcsSchema = z
  .object({
    projectId: z.string().optional(),
    /** A service-account key file; default: Application Default Credentials. */
    keyFile: z.string().optional(),
    /** The JSON API endpoint, for emulators and stand-ins. */
    apiEndpoint: z.url().optional(),
  })
  .strict();

export const locationSchema = z
  .object({
    url: z.string().min(1, "a location needs a url"),
    class: z
      .string()
      .regex(/^[A-Za-z_]+$/, "storage classes are written like STANDARD, Cool or GLACIER")
      .optional(),
    tags: tagMap.default({}),
    restoreDelay: durationMs.default(0),
    /** Requests per second at most, to stay under a store's rate limit (cloud locations). */
    tps: z.number().positive().optional(),
    s3: s3Schema.optional(),
    azure: azureSchema.optional(),
    gcs: gcsSchema.optional(),
    /** What storing here costs, when not the profile its URL implies (see docs/cost-model.md). */
    price: priceOverrideSchema.optional(),
  })
  .strict();

export const defaultsSchema = z
  .object({
    transfers: z.number().int().min(1).max(1024).default(8),
    scanThreads: z.number().int().min(1).max(64).default(2),
    retries: z.number().int().min(0).max(20).default(4),
    maxDeleteShare: z.number().min(0).max(1).default(0.25),
    /** One cap on bytes all transfers in flight may buffer together (parts, blocks). */
    maxBuffer: sizeBytes.default(256 * 1024 * 1024),
    /** Parts (upload) or ranges (download) in flight per large file; "auto" fits them to the budget. */
    streams: z
      .union([z.literal("auto"), z.number().int().min(1).max(64)], {
        error: 'must be "auto" or a whole number from 1 to 64',
      })
      .default("auto"),
  })
  .strict();

export const configSchema = z
  .object({
    catalog: z.string().min(1).optional(),
    locations: z
      .record(
        z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, "location names start with a letter: letters, digits, _ . -"),
        locationSchema,
      )
      .default({}),
    defaults: defaultsSchema.default(defaultsSchema.parse({})),
    /** Policy files (paths relative to this file) whose policies join `policies`. */
    include: z.array(z.string().min(1, "an include names a file")).default([]),
    policies: z.array(policySchema).default([]),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type LocationConfig = z.infer<typeof locationSchema>;
export type Defaults = z.infer<typeof defaultsSchema>;
export type S3Options = z.infer<typeof s3Schema>;
export type AzureOptions = z.infer<typeof azureSchema>;
export type GcsOptions = z.infer<typeof gcsSchema>;
