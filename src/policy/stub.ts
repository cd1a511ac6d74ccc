import { z } from "zod";
import { printablePath } from "../backends/keys.js";

/**
 * The stub that takes a released file's place on a POSIX tree: a few lines of UTF-8 text that a
 * person can read (what happened, how to bring the data back) and Strata can parse (where every
 * verified copy is). Format v1:
 *
 *   # strata stub v1 — data released by policy <name> on <ISO date>
 *   # bring it back: strata restore <location>:<path>
 *   {"strata":"stub","version":1,"path":…,"size":…,"mtimeUs":…,"sha256":…,"replicas":[…]}
 */

const replicaSchema = z.object({
  location: z.string(),
  url: z.string(),
  key: z.string(),
  class: z.string().nullable(),
});

const stubSchema = z.object({
  strata: z.literal("stub"),
  version: z.literal(1),
  path: z.string(),
  size: z.number().int().nonnegative(),
  mtimeUs: z.number().int(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  replicas: z.array(replicaSchema).min(1),
});

export type StubRecord = z.infer<typeof stubSchema>;
export type StubReplica = z.infer<typeof replicaSchema>;

/** Larger than any stub Strata writes; a file past it is data, not a stub, and is never parsed. */
export const STUB_MAX_BYTES = 64 * 1024;

export function renderStub(policy: string, location: string, releasedAt: Date, record: StubRecord): string {
  return (
    `# strata stub v1 — data released by policy ${policy} on ${releasedAt.toISOString()}\n` +
    `# bring it back: strata restore ${location}:${printablePath(record.path)}\n` +
    `${JSON.stringify(record)}\n`
  );
}

/** The record of a stub's text, or undefined when the text is not a Strata stub (v1). */
export function parseStub(text: string): StubRecord | undefined {
  if (!text.startsWith("# strata stub v1 ")) return undefined;
  const line = text.split("\n").find((l) => l.startsWith("{"));
  if (line === undefined) return undefined;
  try {
    const parsed = stubSchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
