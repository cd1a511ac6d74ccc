import { once } from "node:events";
import { constants, createReadStream, createWriteStream } from "node:fs";
import { access, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { createInterface } from "node:readline";
import type { Writable } from "node:stream";
import * as z from "zod";
import { UsageError } from "../config/errors.js";
import type { PlanTotal, PolicyAction } from "./actions.js";
import { PlanTotals } from "./planner.js";

/**
 * The plan file: one JSON document (jq reads it whole) laid out one action per line, so a plan
 * of millions of files is written and read as a stream:
 *
 *   {"format":"strata-plan","version":1,"createdAt":"…","policies":["a"],"actions":[
 *   {"kind":"copy",…},
 *   {"kind":"release",…}
 *   ],"totals":[{"policy":"a","kind":"copy","files":1,…}]}
 */

export const PLAN_FORMAT = "strata-plan";
export const PLAN_VERSION = 1;

export interface PlanHeader {
  format: typeof PLAN_FORMAT;
  version: typeof PLAN_VERSION;
  /** ISO 8601: when the plan was made (ages were measured from here). */
  createdAt: string;
  /** The policies planned, by name. */
  policies: string[];
}

const ACTIONS_OPEN = ',"actions":[';
const TOTALS_OPEN = '],"totals":';

/** Streams a plan to `out` and returns its totals; the caller ends `out`. */
export async function writePlan(
  out: Writable,
  header: Pick<PlanHeader, "createdAt" | "policies">,
  actions: AsyncIterable<PolicyAction>,
): Promise<PlanTotal[]> {
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, "drain");
  };
  const head: PlanHeader = { format: PLAN_FORMAT, version: PLAN_VERSION, ...header };
  await write(`${JSON.stringify(head).slice(0, -1)}${ACTIONS_OPEN}\n`);
  const totals = new PlanTotals();
  let first = true;
  for await (const action of actions) {
    totals.add(action);
    await write(`${first ? "" : ",\n"}${JSON.stringify(action)}`);
    first = false;
  }
  const list = totals.list();
  await write(`${first ? "" : "\n"}${TOTALS_OPEN}${JSON.stringify(list)}}\n`);
  return list;
}

/** Writes the plan file whole or not at all: a killed plan leaves no half plan behind. */
export async function writePlanFile(
  path: string,
  header: Pick<PlanHeader, "createdAt" | "policies">,
  actions: AsyncIterable<PolicyAction>,
): Promise<PlanTotal[]> {
  const partial = join(dirname(path), `.${basename(path)}.partial-${process.pid}`);
  const out = createWriteStream(partial);
  try {
    await once(out, "open");
    const totals = await writePlan(out, header, actions);
    out.end();
    await once(out, "finish");
    await rename(partial, path);
    return totals;
  } catch (err) {
    out.destroy();
    await rm(partial, { force: true });
    if ((err as NodeJS.ErrnoException).syscall) throw new UsageError(`--out ${path}: ${(err as Error).message}`);
    throw err;
  }
}

export interface PlanReader {
  header: PlanHeader;
  /** From the end of the file, read first: what a progress display needs up front. */
  totals: PlanTotal[];
  /** Each action in turn, checked; a malformed line is a UsageError naming file and line. */
  actions: AsyncIterable<PolicyAction>;
}

/** Opens a plan file for streaming: header and totals now, actions as they are read. */
export async function readPlanFile(path: string): Promise<PlanReader> {
  await access(path, constants.R_OK).catch((err: Error) => {
    throw new UsageError(`${path}: cannot read: ${err.message}`);
  });
  const input = createReadStream(path);
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  const close = () => {
    lines.close();
    input.destroy();
  };
  const iterator = lines[Symbol.asyncIterator]();
  const bad = (line: number, why: string) => new UsageError(`${path}:${line}: not a Strata plan file: ${why}`);
  let header: PlanHeader;
  let totals: PlanTotal[];
  try {
    const first = await iterator.next();
    header = parseHeader(first.done ? "" : first.value, (why) => bad(1, why));
    totals = await readTotals(path);
  } catch (err) {
    close();
    throw err instanceof UsageError ? err : new UsageError(`${path}: cannot read: ${(err as Error).message}`);
  }
  async function* actions(): AsyncGenerator<PolicyAction> {
    let lineNo = 1;
    try {
      for (;;) {
        const next = await iterator.next();
        lineNo += 1;
        if (next.done) throw bad(lineNo, "it ends before its totals (truncated?)");
        if (next.value.startsWith(TOTALS_OPEN)) return;
        const text = next.value.endsWith(",") ? next.value.slice(0, -1) : next.value;
        const parsed = policyActionSchema.safeParse(parseJson(text));
        if (!parsed.success) throw bad(lineNo, describe(parsed.error));
        yield parsed.data;
      }
    } finally {
      close();
    }
  }
  return { header, totals, actions: actions() };
}

function parseHeader(line: string, bad: (why: string) => UsageError): PlanHeader {
  if (!line.endsWith(ACTIONS_OPEN)) throw bad(`the first line must open the actions list (${ACTIONS_OPEN})`);
  const parsed = headerSchema.safeParse(parseJson(`${line.slice(0, -ACTIONS_OPEN.length)}}`));
  if (!parsed.success) throw bad(describe(parsed.error));
  return parsed.data;
}

/** The totals line is the file's last; read backwards until it is found. */
async function readTotals(path: string): Promise<PlanTotal[]> {
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    for (let span = Math.min(size, 64 * 1024); ; span = Math.min(size, span * 4)) {
      const { buffer, bytesRead } = await handle.read(Buffer.alloc(span), 0, span, size - span);
      const tail = buffer.subarray(0, bytesRead).toString("utf8");
      const at = tail.lastIndexOf(`\n${TOTALS_OPEN}`);
      if (at >= 0) {
        const parsed = z
          .object({ totals: z.array(planTotalSchema) })
          .safeParse(parseJson(`{${tail.slice(at + 3).trim()}`));
        if (!parsed.success) throw new UsageError(`${path}: not a Strata plan file: ${describe(parsed.error)}`);
        return parsed.data.totals;
      }
      if (span === size) throw new UsageError(`${path}: not a Strata plan file: no totals at its end (truncated?)`);
    }
  } finally {
    await handle.close();
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    return { invalidJson: (err as Error).message };
  }
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid";
  return `${issue.path.join(".") || "(line)"}: ${issue.message}`;
}

const headerSchema = z.object({
  format: z.literal(PLAN_FORMAT, { error: `format must be "${PLAN_FORMAT}"` }),
  version: z.literal(PLAN_VERSION, { error: `this Strata reads plan version ${PLAN_VERSION}` }),
  createdAt: z.string(),
  policies: z.array(z.string()),
});

const money = z.number().finite();
const count = z.number().int().nonnegative();

const plannedVersionSchema = z
  .object({
    fileId: count,
    location: z.string(),
    path: z.string(),
    size: count,
    mtimeUs: z.number().int(),
    hash: z.string().nullable(),
  })
  .strict();

const base = {
  policy: z.string(),
  file: plannedVersionSchema,
  bytes: count,
  monthlyCostDelta: money,
  oneTimeCost: money,
};

// Loose: a field added to an action later (additively) passes through to apply unharmed.
export const policyActionSchema: z.ZodType<PolicyAction> = z.discriminatedUnion("kind", [
  z.looseObject({
    ...base,
    kind: z.literal("copy"),
    to: z.string(),
    key: z.string(),
    storageClass: z.string().nullable(),
    pack: z
      .object({ below: count, size: count, codec: z.enum(["none", "gzip", "zstd", "lz4"]) })
      .strict()
      .optional(),
  }),
  z.looseObject({
    ...base,
    kind: z.literal("transition"),
    at: z.string(),
    replicaId: count,
    key: z.string(),
    fromClass: z.string().nullable(),
    toClass: z.string(),
  }),
  z.looseObject({
    ...base,
    kind: z.literal("restore"),
    at: z.string(),
    replicaId: count,
    key: z.string(),
    tier: z.enum(["expedited", "standard", "bulk"]),
    days: z.number().positive(),
  }),
  z.looseObject({
    ...base,
    kind: z.literal("release"),
    requires: z.array(z.object({ at: z.string(), replicaId: count }).strict()),
  }),
  z.looseObject({
    ...base,
    kind: z.literal("notify"),
    uid: count,
    gid: count,
    deleteAfter: count,
    noticeDir: z.string().nullable(),
    webhook: z.string().nullable(),
  }),
  z.looseObject({
    ...base,
    kind: z.literal("purge"),
    noticeId: count,
    deleteAfter: count,
    requires: z.array(z.object({ at: z.string(), replicaId: count }).strict()).optional(),
  }),
  z.looseObject({ ...base, kind: z.literal("delete"), at: z.string(), replicaId: count, key: z.string() }),
]);

const planTotalSchema: z.ZodType<PlanTotal> = z.object({
  policy: z.string(),
  kind: z.enum(["copy", "transition", "restore", "release", "notify", "purge", "delete"]),
  files: count,
  bytes: count,
  monthlyCostDelta: money,
  oneTimeCost: money,
});
