import * as z from "zod/mini";
import { actionCountsSchema, get, type Run, runDetailSchema, runsSchema, streamEvents } from "../api.js";
import { barChart } from "../charts.js";
import { el, errorNote, figure, stats, table } from "../dom.js";
import { bytes, count, duration, when } from "../format.js";
import { panel, settle } from "../panel.js";

/** Run history, what the runs moved and how fast, their failures, and any run going on now. */

const HISTORY = 200;

// What a run's journal summary says it moved: sync writes its report, apply its totals per kind.
const syncSummary = z.object({ copied: z.object({ bytes: z.number() }), failures: z.array(z.unknown()) });
const applySummary = z.object({
  kinds: z.record(z.string(), z.object({ bytes: z.number(), failed: z.number() })),
  failures: z.number(),
});

/** Bytes moved and failures from a run's summary; undefined for runs that move nothing (verify, scan). */
function runFigures(summary: unknown): { bytes: number; failures: number } | undefined {
  const sync = syncSummary.safeParse(summary);
  if (sync.success) return { bytes: sync.data.copied.bytes, failures: sync.data.failures.length };
  const apply = applySummary.safeParse(summary);
  if (apply.success) {
    const moved = Object.values(apply.data.kinds).reduce((sum, kind) => sum + kind.bytes, 0);
    return { bytes: moved, failures: apply.data.failures };
  }
  return undefined;
}

export function runsPage(main: HTMLElement, signal: AbortSignal): void {
  let runs: Promise<Run[]> | undefined;
  const theRuns = () => {
    runs ??= get(`/api/v1/runs?limit=${HISTORY}`, runsSchema);
    return runs;
  };
  main.append(
    el(
      "div",
      { class: "grid" },
      panel("Running now", async (body) => live(body, await theRuns(), signal)),
      panel("Throughput", async (body) => throughput(body, await theRuns())),
      panel("Failures", async (body) => failures(body, await theRuns())),
      panel("History", async (body) => history(body, await theRuns())),
    ),
  );
}

function history(body: HTMLElement, runs: Run[]): void {
  body.append(
    table(
      ["Run", "Command", "Status", "Started", "Took", "Moved", "Failures"],
      runs.map((run) => {
        const figures = runFigures(run.summary);
        return [
          run.id,
          run.command,
          run.status,
          when(run.startedAt),
          duration(run.startedAt, run.finishedAt),
          figures ? bytes(figures.bytes) : "–",
          figures ? count(figures.failures) : "–",
        ];
      }),
    ),
  );
}

function throughput(body: HTMLElement, runs: Run[]): void {
  const moving = runs
    .map((run) => ({ run, figures: runFigures(run.summary) }))
    .filter(({ run, figures }) => run.finishedAt && figures && figures.bytes > 0)
    .sort((a, b) => a.run.startedAt.localeCompare(b.run.startedAt));
  if (moving.length === 0) {
    body.append(el("p", { class: "empty" }, "No run has moved data yet."));
    return;
  }
  const rate = moving.map(({ run, figures }) => {
    const seconds = Math.max(0.001, (Date.parse(run.finishedAt as string) - Date.parse(run.startedAt)) / 1000);
    return (figures?.bytes ?? 0) / seconds;
  });
  // One bar per run (oldest first): runs are events, not a continuous signal to draw a line through.
  const chart = figure("throughput", "Bytes per second of each run that moved data");
  body.append(chart.figure);
  barChart(
    chart.plot,
    moving.map(({ run }) => `#${run.id}`),
    { label: "throughput", values: rate },
    (v) => `${bytes(v)}/s`,
    "run",
  );
  const moved = moving.reduce((sum, { figures }) => sum + (figures?.bytes ?? 0), 0);
  body.append(
    stats([
      ["Runs that moved data", count(moving.length)],
      ["Moved in all", bytes(moved)],
    ]),
  );
}

function failures(body: HTMLElement, runs: Run[]): void {
  const failing = runs.filter((run) => run.status === "failed" || run.status === "partial");
  body.append(
    stats([
      ["Runs shown", count(runs.length)],
      ["Failed or partial", count(failing.length)],
    ]),
    table(
      ["Run", "Command", "Status", "Started", "Failures"],
      failing.map((run) => [
        run.id,
        run.command,
        run.status,
        when(run.startedAt),
        count(runFigures(run.summary)?.failures),
      ]),
    ),
  );
}

/**
 * The live stream's events (src/server/routes/events.ts): `progress` carries the actions
 * counted by state, `end` the run's status once it has finished; `event` (each journal entry) is
 * not shown here.
 */
const progressSchema = actionCountsSchema;
const endSchema = z.object({ status: z.string() });

/** Settled actions over all actions: pending ones are still to do. */
function settledShare(counts: Record<string, number>): { settled: number; total: number } {
  const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
  return { settled: total - (counts.pending ?? 0), total };
}

/** An event's data, or undefined when it is not JSON (a keep-alive, a plain message). */
function parseJson(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

async function live(body: HTMLElement, runs: Run[], signal: AbortSignal): Promise<void> {
  const running = runs.filter((run) => run.status === "running");
  if (running.length === 0) {
    body.append(el("p", { class: "empty" }, "No run is going on."));
    return;
  }
  for (const run of running) body.append(await progress(run, signal));
}

async function progress(run: Run, signal: AbortSignal): Promise<HTMLElement> {
  const bar = el("progress", { max: "1", value: "0" });
  const words = el("span", { class: "progress-words" }, "");
  const box = el(
    "div",
    { class: "live", "data-run": String(run.id) },
    el("strong", {}, `#${run.id} ${run.command}`),
    ` started ${when(run.startedAt)} `,
    bar,
    words,
  );
  let counts: Record<string, number> = {};
  let status: string | undefined;
  const show = () => {
    const { settled, total } = settledShare(counts);
    bar.max = Math.max(1, total);
    bar.value = settled;
    box.dataset.settled = String(settled);
    words.textContent = ` ${count(settled)} of ${count(total)} actions settled${status ? ` · ${status}` : ""}`;
  };
  counts = (await get(`/api/v1/runs/${run.id}`, runDetailSchema)).actions;
  show();
  streamEvents(
    `/api/v1/runs/${run.id}/events`,
    (event, data) => {
      if (event === "progress") {
        const parsed = progressSchema.safeParse(parseJson(data));
        if (parsed.success) counts = parsed.data;
      } else if (event === "end") {
        const parsed = endSchema.safeParse(parseJson(data));
        if (parsed.success) status = parsed.data.status;
      } else return;
      show();
    },
    signal,
  ).catch((error: unknown) => {
    if (!signal.aborted) settle(error, (other) => box.append(errorNote(other)));
  });
  return box;
}
