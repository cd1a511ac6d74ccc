import * as z from "zod";
import { durationMs, sizeBytes } from "./units-schema.js";

/*
 * The shape of strata.yaml. Parts of it are input schemas that live beside their domain: each
 * backend's options section (`s3:`, `azure:`, `gcs:`), a location's `price:`, a policy. The
 * caller hands them in (see ConfigParts), so config/ imports none of those domains and none of
 * them has to import config/ back beyond its units.
 */

/** What strata.yaml holds that config/ does not define itself. */
export interface ConfigParts<
  Sections extends Record<string, z.ZodType> = Record<string, z.ZodType>,
  Price extends z.ZodType = z.ZodType,
  Policy extends z.ZodType = z.ZodType,
  Costs extends z.ZodType = z.ZodType,
  Alerts extends z.ZodType = z.ZodType,
  CodecSetting extends z.ZodType = z.ZodType,
> {
  /** Each backend's options section of a location, by its key. */
  backendOptions: Sections;
  /** A location's `price:`: what storing there costs, when not the profile its URL implies. */
  price: Price;
  /** One policy of `policies:` (and of the policy files `include:` names). */
  policy: Policy;
  /** `costs:`: the site's own prices for the cost analysis (on-premises media). */
  costs: Costs;
  /** `alerts:`: the conditions Strata watches itself and whom it tells. */
  alerts: Alerts;
  /** A location's `codec:`: how an object store holds what is copied there (codec/). */
  codec: CodecSetting;
}

const tagMap = z.record(
  z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, "tag names are letters, digits and _ . : -"),
  z.string().max(256),
);

/** A location's settings: its URL, class and tags, and the sections its domains define. */
export function locationSchemaOf<
  Sections extends Record<string, z.ZodType>,
  Price extends z.ZodType,
  CodecSetting extends z.ZodType,
>(
  parts: Pick<
    ConfigParts<Sections, Price, z.ZodType, z.ZodType, z.ZodType, CodecSetting>,
    "backendOptions" | "price" | "codec"
  >,
) {
  // Credentials are never written here: each SDK's standard chain finds them (environment,
  // profiles, instance metadata), so they never reach the config, the catalog, a log or an error.
  const sections = Object.fromEntries(
    Object.entries(parts.backendOptions).map(([key, schema]) => [key, schema.optional()]),
  ) as { [K in keyof Sections]: z.ZodOptional<Sections[K]> };
  return z
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
      /** Content already held here (same SHA-256 and size) is not stored again: the new copy shares its key. */
      dedup: z.boolean().default(false),
      ...sections,
      price: parts.price.optional(),
      /** Compression of what is copied here (object stores; a POSIX tree always gets plain files). */
      codec: parts.codec.optional(),
    })
    .strict();
}

/** The most files a fixed `transfers` may put in flight, for the flag and the config key alike. */
export const MAX_TRANSFERS = 1024;
/** One message for any bad `transfers`, whichever check it fails. */
const TRANSFERS_MESSAGE = `must be "auto" or a whole number from 1 to ${MAX_TRANSFERS}`;

/**
 * The default cap on bytes all transfers buffer together. 96 MiB lets a lone large upload keep
 * three 16 MiB parts in flight and one filling, with a quarter left for small files; 256 MiB
 * measured no faster on a 512 MiB upload and held 80 MB more (bench/ANALYSIS.md).
 */
export const DEFAULT_MAX_BUFFER = 96 * 1024 * 1024;

export const defaultsSchema = z
  .object({
    /** Files in flight: a whole number, or "auto" (chosen file by file: see src/transfer/flight.ts). */
    transfers: z
      .union(
        [
          z.literal("auto"),
          z.number().int(TRANSFERS_MESSAGE).min(1, TRANSFERS_MESSAGE).max(MAX_TRANSFERS, TRANSFERS_MESSAGE),
        ],
        {
          error: TRANSFERS_MESSAGE,
        },
      )
      .default("auto"),
    scanThreads: z.number().int().min(1).max(64).default(2),
    retries: z.number().int().min(0).max(20).default(4),
    maxDeleteShare: z.number().min(0).max(1).default(0.25),
    /** One cap on bytes all transfers in flight may buffer together (parts, blocks). */
    maxBuffer: sizeBytes.default(DEFAULT_MAX_BUFFER),
    /** Parts (upload) or ranges (download) in flight per large file; "auto" fits them to the budget. */
    streams: z
      .union([z.literal("auto"), z.number().int().min(1).max(64)], {
        error: 'must be "auto" or a whole number from 1 to 64',
      })
      .default("auto"),
  })
  .strict();

/**
 * How long the catalog keeps its history (`events`) by default: 400 days, a yearly audit and a
 * month to spare. Not forever, because events grow without bound (every verify of every copy
 * is one: daily verifies of a million copies add 7M rows a week).
 */
const DEFAULT_EVENTS_RETENTION_MS = 400 * 86_400_000;

export const historySchema = z
  .object({
    /** Events older than this are pruned at the end of each run that changes something; "forever" keeps all. */
    retention: z.union([z.literal("forever"), durationMs]).default(DEFAULT_EVENTS_RETENTION_MS),
  })
  .strict();

/** strata.yaml as a whole, from its parts. */
export function configSchemaOf<
  Sections extends Record<string, z.ZodType>,
  Price extends z.ZodType,
  Policy extends z.ZodType,
  Costs extends z.ZodType,
  Alerts extends z.ZodType,
  CodecSetting extends z.ZodType,
>(parts: ConfigParts<Sections, Price, Policy, Costs, Alerts, CodecSetting>) {
  return z
    .object({
      catalog: z.string().min(1).optional(),
      locations: z
        .record(
          z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, "location names start with a letter: letters, digits, _ . -"),
          locationSchemaOf(parts),
        )
        .default({}),
      defaults: defaultsSchema.default(defaultsSchema.parse({})),
      history: historySchema.default(historySchema.parse({})),
      /** Policy files (paths relative to this file) whose policies join `policies`. */
      include: z.array(z.string().min(1, "an include names a file")).default([]),
      policies: z.array(parts.policy).default([]),
      costs: parts.costs.optional(),
      alerts: parts.alerts.optional(),
    })
    .strict();
}

export type Defaults = z.infer<typeof defaultsSchema>;
