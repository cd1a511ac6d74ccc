import * as z from "zod";
import { parseDuration, parseSize } from "./units.js";

// A leaf module: the policy schema (src/policy/schema.ts) uses these, and config/schema.ts uses it.

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
