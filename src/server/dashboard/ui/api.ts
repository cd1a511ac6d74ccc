// zod/mini: the same checks, tree-shaken to what is used (full zod would be most of the bundle).
import * as z from "zod/mini";

/**
 * The API as the dashboard reads it: each answer checked against the shape the page relies on,
 * so a mismatch is an error on screen, not a blank chart. The token lives in sessionStorage
 * (gone with the tab; never in a URL or a cookie) and goes out as a bearer header.
 */

const TOKEN_KEY = "strata.token";

export function savedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The API refused the token: the page goes back to the login. */
export class Unauthorized extends Error {}

/** An answer other than 2xx, with the problem document's title when there is one. */
export class ApiError extends Error {}

const problemSchema = z.object({ title: z.optional(z.string()), detail: z.optional(z.string()) });

async function failure(response: Response): Promise<Error> {
  if (response.status === 401) return new Unauthorized("the token was refused");
  const problem = problemSchema.safeParse(await response.json().catch(() => ({})));
  const words = problem.success ? (problem.data.detail ?? problem.data.title) : undefined;
  return new ApiError(`${response.status} ${response.statusText}${words ? `: ${words}` : ""}`);
}

function headers(): HeadersInit {
  return { Authorization: `Bearer ${savedToken() ?? ""}`, Accept: "application/json" };
}

/** GET path (same origin) and check its JSON against schema. */
export async function get<S extends z.ZodMiniType>(path: string, schema: S): Promise<z.output<S>> {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw await failure(response);
  const parsed = schema.safeParse(await response.json());
  if (!parsed.success) throw new ApiError(`${path}: unexpected answer: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * Server-Sent Events read with fetch: EventSource cannot send an Authorization header, and a
 * token in the URL would land in logs. Calls onEvent per event until the stream ends or signal aborts.
 */
export async function streamEvents(
  path: string,
  onEvent: (event: string, data: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const response = await fetch(path, { headers: { ...headers(), Accept: "text/event-stream" }, signal });
  if (!response.ok || !response.body) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffered += value.replaceAll("\r\n", "\n");
    let end = buffered.indexOf("\n\n");
    while (end >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      dispatch(block, onEvent);
      end = buffered.indexOf("\n\n");
    }
  }
}

/** One SSE block: `event:` and `data:` lines (comments and ids ignored). */
function dispatch(block: string, onEvent: (event: string, data: string) => void): void {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (data.length > 0) onEvent(event, data.join("\n"));
}

// ---- The answers' shapes (only the fields the pages read; the API may send more) -----------

const num = z.number();
const maybeIso = z.nullish(z.string());

export const capacityPointSchema = z.object({
  at: z.string(),
  location: z.string(),
  class: z.string(),
  state: z.string(),
  files: num,
  logicalBytes: num,
  storedBytes: num,
});
export type CapacityPoint = z.infer<typeof capacityPointSchema>;
export const seriesSchema = z.array(capacityPointSchema);

const costLineSchema = z.object({
  group: z.record(z.string(), z.string()),
  objects: num,
  storedBytes: num,
  monthly: num,
});
export const costNowSchema = z.object({
  at: z.string(),
  lines: z.array(costLineSchema),
  total: z.object({ objects: num, storedBytes: num, monthly: num }),
  unknown: z.array(z.string()),
});
export type CostNow = z.infer<typeof costNowSchema>;

export const forecastSchema = z.object({
  at: z.string(),
  months: z.array(z.object({ month: num, asIs: num, withPolicies: num })),
  growth: z.array(
    z.object({ location: z.string(), bytesPerDay: z.optional(num), filesPerDay: z.optional(num), basis: z.string() }),
  ),
  migration: z.object({ oneTime: num, monthlySaving: num, breakEvenMonth: z.optional(num) }),
  unknown: z.array(z.string()),
});
export type Forecast = z.infer<typeof forecastSchema>;

export const duRowSchema = z.object({
  name: z.string(),
  files: z.nullable(num),
  bytes: z.nullable(num),
  copies: num,
  stored_bytes: num,
});
export type DuRow = z.infer<typeof duRowSchema>;
/** As /api/v1/du answers: {rows}. */
export const duSchema = z.pipe(
  z.object({ rows: z.array(duRowSchema) }),
  z.transform((du: { rows: DuRow[] }) => du.rows),
);

const runSchema = z.object({
  id: num,
  command: z.string(),
  status: z.string(),
  startedAt: z.string(),
  finishedAt: maybeIso,
  summary: z.unknown(),
});
export type Run = z.infer<typeof runSchema>;
export const runsSchema = z.array(runSchema);

/** Actions of a run counted by state (pending, running, done, failed, skipped, …). */
export const actionCountsSchema = z.record(z.string(), num);
export const runDetailSchema = z.object({ run: runSchema, actions: actionCountsSchema });

export const policySchema = z.object({
  name: z.string(),
  schedule: z.nullish(z.string()),
  nextRun: maybeIso,
  lastRun: maybeIso,
  lastSuccess: maybeIso,
});
export type Policy = z.infer<typeof policySchema>;
export const policiesSchema = z.array(policySchema);

/** A plan's totals (src/policy/actions.ts PlanTotal): per policy and action kind, files, bytes and cost. */
const planTotalSchema = z.object({
  policy: z.string(),
  kind: z.string(),
  files: num,
  bytes: num,
  monthlyCostDelta: num,
  oneTimeCost: num,
});
export type PlanTotal = z.infer<typeof planTotalSchema>;
/** As `strata plan --json` prints it ({…, totals}) or the totals alone. */
export const planSchema = z.pipe(
  z.union([z.array(planTotalSchema), z.object({ totals: z.array(planTotalSchema) })]),
  z.transform((plan: PlanTotal[] | { totals: PlanTotal[] }) => (Array.isArray(plan) ? plan : plan.totals)),
);

/** Pending restores and alerts are shown as tables of their fields. */
export const rowsSchema = z.array(z.record(z.string(), z.unknown()));

export const alertSchema = z.object({
  id: num,
  rule: z.string(),
  subject: z.string(),
  state: z.string(),
  severity: z.string(),
  summary: z.string(),
  startsAt: z.string(),
  endsAt: z.optional(z.string()),
});
export type Alert = z.infer<typeof alertSchema>;
export const alertsSchema = z.array(alertSchema);
