import { CronPattern } from "croner";
import * as z from "zod";
import { codecSettingSchema } from "../codec/choose.js";
import { codecNamed } from "../codec/codec.js";
import { parseDuration } from "../config/units.js";
import { durationMs, sizeBytes } from "../config/units-schema.js";

/**
 * The policy language of strata.yaml (`policies:`) and of the policy files it includes. Checks
 * that need nothing but the policy itself live here, so zod reports them with their file, line
 * and key; checks against the rest of the config (locations, backends, other policies) are in
 * validate.ts.
 */

const NAME = /^[A-Za-z][A-Za-z0-9_.-]*$/;
const locationName = z.string().regex(NAME, "location names start with a letter: letters, digits, _ . -");

/** One value or a list of them; held as a list. */
function oneOrMany<T extends z.ZodType>(item: T) {
  return z.union([item.transform((value) => [value]), z.array(item).min(1, "give at least one value")]);
}

const glob = z.string().min(1, "a glob cannot be empty");

/** A 30-day month: what price tables bill by, and what `12mo` means. */
export const MONTH_MS = 30 * 86_400_000;

/** A horizon such as `12mo` (months) or any duration (`90d`, `1y`), held as milliseconds. */
const horizonMs = z.union([
  z.number().positive(),
  z.string().transform((text, ctx) => {
    const months = /^\s*(\d+(?:\.\d+)?)\s*mo\s*$/i.exec(text);
    const ms = months ? Number(months[1]) * MONTH_MS : parseDuration(text);
    if (ms === undefined || ms <= 0) {
      ctx.addIssue({ code: "custom", message: `"${text}" is not a horizon (try 12mo, 6mo, 90d or 1y)` });
      return z.NEVER;
    }
    return ms;
  }),
]);

/** A uid/gid, or a user/group name resolved from /etc/passwd and /etc/group. */
const principal = z.union([z.number().int().nonnegative(), z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*\$?$/)]);

const REPLICA_CONDITION_STATES = ["present", "archived", "restoring", "released", "lost", "missing"] as const;

const replicaCondition = z
  .object({
    at: locationName,
    /** `missing`: no replica at all at that location. */
    state: z.enum(REPLICA_CONDITION_STATES).default("present"),
    class: z.string().optional(),
  })
  .strict();

const sizeRange = z
  .object({ min: sizeBytes.optional(), max: sizeBytes.optional() })
  .strict()
  .refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, "min is larger than max");

/**
 * A selector: one or more conditions (several keys in one mapping must all hold), combined with
 * `all`, `any` and `not`. Every key compiles to a catalog query (selector.ts).
 */
export interface Selector {
  path?: string[];
  exclude?: string[];
  size?: { min?: number; max?: number };
  notAccessedFor?: number;
  accessedWithin?: number;
  notModifiedFor?: number;
  modifiedWithin?: number;
  notChangedFor?: number;
  changedWithin?: number;
  kind?: ("file" | "symlink")[];
  type?: string[];
  owner?: (number | string)[];
  group?: (number | string)[];
  tags?: Record<string, string>;
  replica?: z.infer<typeof replicaCondition>;
  all?: Selector[];
  any?: Selector[];
  not?: Selector;
}

export const selectorSchema: z.ZodType<Selector, unknown> = z.lazy(() =>
  z
    .object({
      path: oneOrMany(glob).optional(),
      exclude: oneOrMany(glob).optional(),
      size: sizeRange.optional(),
      notAccessedFor: durationMs.optional(),
      accessedWithin: durationMs.optional(),
      notModifiedFor: durationMs.optional(),
      modifiedWithin: durationMs.optional(),
      notChangedFor: durationMs.optional(),
      changedWithin: durationMs.optional(),
      kind: oneOrMany(z.enum(["file", "symlink"])).optional(),
      type: oneOrMany(
        z
          .string()
          .regex(/^\.?[A-Za-z0-9_+-]+$/, "a type is an extension such as h5 or nc")
          .transform((t) => t.replace(/^\./, "").toLowerCase()),
      ).optional(),
      owner: oneOrMany(principal).optional(),
      group: oneOrMany(principal).optional(),
      tags: z.record(z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/), z.string()).optional(),
      replica: replicaCondition.optional(),
      all: z.array(selectorSchema).min(1, "all needs at least one condition").optional(),
      any: z.array(selectorSchema).min(1, "any needs at least one condition").optional(),
      not: selectorSchema.optional(),
    })
    .strict(),
);

const TIERINGS = ["seed", "cost"] as const;

/** The largest file a pack takes: each member is read whole into memory before it is packed. */
export const PACK_BELOW_MAX = 64 * 1024 ** 2;

/**
 * `pack.gc` of a placement (and `strata pack gc`'s flags): packs whose live share (bytes still
 * referenced over the pack's bytes) is below `liveBelow` are rewritten, when that saves more over
 * `horizon` than it costs (early deletion, requests, reads), on the policy's schedule.
 */
export const packGcSchema = z
  .object({
    liveBelow: z.number().gt(0, "liveBelow must be above 0").lte(1, "liveBelow must be at most 1").default(0.5),
    horizon: horizonMs.default(12 * MONTH_MS),
  })
  .strict();

export type PackGcSettings = z.infer<typeof packGcSchema>;

/** `pack:` on a placement (and `--pack-below`/`--pack-size`/`--pack-codec` on sync): small files go into tar packs. */
export const packSchema = z
  .object({
    /** Files smaller than this are packed. */
    below: sizeBytes.refine((n) => n > 0 && n <= PACK_BELOW_MAX, `pack.below must be above 0 and at most 64MiB`),
    /** A pack is closed once its members reach this size. */
    size: sizeBytes.default(256 * 1024 ** 2),
    /** Each member one independent frame of this codec; none: plain tar. */
    codec: z
      .enum(["none", "gzip", "zstd", "lz4"])
      .refine(codecAvailable, "this codec is not in this build")
      .default("none"),
    /** Repack this placement's packs as their members go (absent: never on the policy's schedule). */
    gc: packGcSchema.optional(),
  })
  .strict()
  .refine((pack) => pack.size >= pack.below, { path: ["size"], message: "pack.size must be at least pack.below" });

function codecAvailable(name: string): boolean {
  try {
    codecNamed(name);
    return true;
  } catch {
    return false;
  }
}

const placeSchema = z
  .object({
    to: locationName,
    pack: packSchema.optional(),
    /** A fixed class; without class or tiering, the location's own class. */
    class: z
      .string()
      .regex(/^[A-Za-z_]+$/, "storage classes are written like STANDARD, Cool or GLACIER")
      .optional(),
    tiering: z.enum(TIERINGS).optional(),
    maxRestoreLatency: durationMs.optional(),
    horizon: horizonMs.optional(),
    /** Compression at this place, instead of the location's own `codec:`. */
    codec: codecSettingSchema.optional(),
  })
  .strict()
  .superRefine((place, ctx) => {
    if (place.class !== undefined && place.tiering !== undefined) {
      ctx.addIssue({ code: "custom", path: ["tiering"], message: "give a class or a tiering, not both" });
    }
    for (const key of ["maxRestoreLatency", "horizon"] as const) {
      if (place[key] !== undefined && place.tiering !== "cost") {
        ctx.addIssue({ code: "custom", path: [key], message: `${key} applies to tiering: cost only` });
      }
    }
  });

const purgeSchema = z
  .object({
    /** Announced once not accessed for this long. */
    after: durationMs,
    /** Deleted no sooner than this after the announcement, and only if still unread. */
    grace: durationMs,
    /** A directory for one notice file per owner (relative paths: to the file that says so). */
    notices: z.string().min(1).optional(),
    webhook: z.url().optional(),
  })
  .strict();

const THEN = ["keep", "release", "purge"] as const;

export const policySchema = z
  .object({
    name: z.string().regex(NAME, "policy names start with a letter: letters, digits, _ . -"),
    from: oneOrMany(locationName),
    match: selectorSchema.default({}),
    place: z.array(placeSchema).default([]),
    /** Verified copies required, each at a distinct location; default: one per place entry. */
    copies: z.number().int().min(0).max(16).optional(),
    // biome-ignore lint/suspicious/noThenProperty: the policy language's word; a string is never awaited as a thenable
    then: z.enum(THEN).default("keep"),
    purge: purgeSchema.optional(),
    /** Remove replicas at the place locations of files deleted at `from`. */
    prune: z.boolean().default(false),
    /** The share of a place's objects one run may prune; default: defaults.maxDeleteShare. */
    maxDeleteShare: z.number().min(0).max(1).optional(),
    schedule: z
      .string()
      .superRefine((text, ctx) => {
        try {
          new CronPattern(text);
        } catch (err) {
          ctx.addIssue({ code: "custom", message: `not a cron schedule: ${(err as Error).message}` });
        }
      })
      .optional(),
    enabled: z.boolean().default(true),
  })
  .strict()
  .superRefine((policy, ctx) => {
    const seen = new Set<string>();
    policy.place.forEach((place, i) => {
      if (seen.has(place.to)) {
        ctx.addIssue({
          code: "custom",
          path: ["place", i, "to"],
          message: `${place.to} is placed twice; copies count distinct locations`,
        });
      }
      seen.add(place.to);
      if (policy.from.includes(place.to)) {
        ctx.addIssue({ code: "custom", path: ["place", i, "to"], message: `${place.to} is also a from location` });
      }
    });
    const copies = policy.copies ?? policy.place.length;
    if (copies > policy.place.length) {
      ctx.addIssue({
        code: "custom",
        path: ["copies"],
        message: `${copies} copies need as many place entries (distinct locations); there are ${policy.place.length}`,
      });
    }
    if (policy.then !== "keep" && copies === 0) {
      ctx.addIssue({
        code: "custom",
        path: [policy.copies === 0 ? "copies" : "then"],
        message: `then: ${policy.then} frees the source only once verified copies exist: it needs copies ≥ 1 and a place entry`,
      });
    }
    if ((policy.then === "purge") !== (policy.purge !== undefined)) {
      ctx.addIssue({
        code: "custom",
        path: [policy.then === "purge" ? "then" : "purge"],
        message:
          policy.then === "purge"
            ? "then: purge needs a purge: { after, grace } block"
            : "purge applies to then: purge only",
      });
    }
  })
  .transform(({ copies, ...policy }) => ({ ...policy, copies: copies ?? policy.place.length }));

/** A policy file named by `include:` holds policies and nothing else. */
export const policyFileSchema = z.object({ policies: z.array(policySchema).default([]) }).strict();

export type Policy = z.infer<typeof policySchema>;
export type Place = z.infer<typeof placeSchema>;
export type ReplicaCondition = z.infer<typeof replicaCondition>;
