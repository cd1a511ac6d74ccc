import { z } from "zod";
import { parseDuration, parseSize } from "./units.js";

/** A duration written for people (`10s`, `30d`), held as milliseconds. */
export const durationMs = z.union([
  z.number().nonnegative(),
  z.string().transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", message: `"${text}" is not a duration (try 10s, 5m, 2h, 30d)` });
      return z.NEVER;
    }
    return ms;
  }),
]);

/** A size written for people (`1GiB`, `100MB`), held as bytes. */
export const sizeBytes = z.union([
  z.number().int().nonnegative(),
  z.string().transform((text, ctx) => {
    const bytes = parseSize(text);
    if (bytes === undefined) {
      ctx.addIssue({ code: "custom", message: `"${text}" is not a size (try 512KiB, 100MB, 1GiB)` });
      return z.NEVER;
    }
    return bytes;
  }),
]);

const tagMap = z.record(
  z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, "tag names are letters, digits and _ . : -"),
  z.string().max(256),
);

export const locationSchema = z
  .object({
    url: z.string().min(1, "a location needs a url"),
    class: z
      .string()
      .regex(/^[A-Z_]+$/, "storage classes are written like STANDARD or GLACIER")
      .optional(),
    tags: tagMap.default({}),
    restoreDelay: durationMs.default(0),
  })
  .strict();

export const defaultsSchema = z
  .object({
    transfers: z.number().int().min(1).max(1024).default(8),
    scanThreads: z.number().int().min(1).max(64).default(2),
    retries: z.number().int().min(0).max(20).default(4),
    maxDeleteShare: z.number().min(0).max(1).default(0.25),
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
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type LocationConfig = z.infer<typeof locationSchema>;
export type Defaults = z.infer<typeof defaultsSchema>;
