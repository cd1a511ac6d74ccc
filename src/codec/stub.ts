import * as z from "zod";
import { STUB_HEADER, STUB_MAX_BYTES, STUB_SIZE_MODULUS, STUB_SIZE_RESIDUE, startsLikeStub } from "./stub-shape.js";

export {
  mayBeStub,
  STUB_HEADER,
  STUB_HEADER_BYTES,
  STUB_MAX_BYTES,
  STUB_SIZE_RESIDUE,
  startsLikeStub,
} from "./stub-shape.js";

/**
 * The stub that takes a released file's place on a POSIX tree: a few lines of UTF-8 text that a
 * person can read (what happened, how to bring the data back) and Strata can parse (where every
 * verified copy is). Format v1:
 *
 *   # strata stub v1 — data released by policy <name> on <ISO date>
 *   # bring it back: strata restore <location>:<path>
 *   {"strata":"stub","version":1,"path":…,"size":…,"mtimeUs":…,"sha256":…,"replicas":[…]}<spaces>
 *
 * The JSON line is padded with spaces (which JSON allows) so that the stub's size in bytes is
 * STUB_SIZE_RESIDUE modulo 4096. A scan can then tell a candidate stub from its size alone and
 * reads only those few files (1 in 4096 small files) rather than every small file on the tree,
 * which on Lustre is an open and a read each. Stubs written before padding are still parsed
 * wherever a file is read anyway (a copy's source, a restore's target), and a scan still knows
 * them from the catalog's stub columns.
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

/**
 * A stub's text. `reference` is the `location:path` a person types to bring the data back, made
 * printable by the caller (codec/ knows no key encoding).
 */
export function renderStub(policy: string, reference: string, releasedAt: Date, record: StubRecord): string {
  const text =
    `${STUB_HEADER}— data released by policy ${policy} on ${releasedAt.toISOString()}\n` +
    `# bring it back: strata restore ${reference}\n` +
    JSON.stringify(record);
  const bytes = Buffer.byteLength(text) + 1;
  const padding = (STUB_SIZE_RESIDUE - (bytes % STUB_SIZE_MODULUS) + STUB_SIZE_MODULUS) % STUB_SIZE_MODULUS;
  return `${text}${" ".repeat(padding)}\n`;
}

/** The record of a stub's bytes or text, or undefined when they are not a Strata stub (v1). */
export function parseStub(content: string | Buffer): StubRecord | undefined {
  if (content.length > STUB_MAX_BYTES) return undefined;
  // Every small file a sync copies is asked: decoding a data file's bytes as text just to see
  // it is not a stub cost more CPU than its upload.
  if (Buffer.isBuffer(content) && !startsLikeStub(content)) return undefined;
  const text = typeof content === "string" ? content : content.toString("utf8");
  if (!text.startsWith(STUB_HEADER)) return undefined;
  const line = text.split("\n").find((l) => l.startsWith("{"));
  if (line === undefined) return undefined;
  try {
    const parsed = stubSchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
