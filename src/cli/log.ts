import { type Command, InvalidArgumentError } from "commander";
import { printablePath } from "../backends/keys.js";
import type { ActionKind } from "../catalog/schema.js";
import { formatBytes, parseDuration } from "../config/units.js";
import { EVENT_KINDS, type HistoryEntry, type HistoryQuery, history } from "../query/history.js";
import { wholeNumber } from "./options.js";
import { EXIT, type Runner } from "./runner.js";

/** Without a file and without --run, the newest this many events everywhere. */
const RECENT = 100;

interface LogOptions {
  run?: number;
  since?: number;
  kind?: ActionKind[];
  limit?: number;
}

export function registerLog(program: Command, run: Runner): void {
  program
    .command("log")
    .description("history from the catalog's events: a file's (or a directory's), a run's, or the latest everywhere")
    .argument("[ref]", "LOCATION:path (a file, or a directory for every file beneath it), or LOCATION")
    .option("--run <n>", "only the events of this run", wholeNumber(1, Number.MAX_SAFE_INTEGER))
    .option(
      "--since <when>",
      "only events since a date (2026-01-01, 2026-01-01T08:00Z) or for a duration (7d, 12h)",
      since,
    )
    .option("--kind <kind>", `only events of this kind (repeatable): ${EVENT_KINDS.join(", ")}`, kind)
    .option("--limit <n>", `only the newest N (default: all for a file or a run, else ${RECENT})`, wholeNumber(1, 1e9))
    .action(
      run(async (ctx, ref: string | undefined, opts: LogOptions) => {
        // Reads only: a location named here for the first time is not left registered, nor a new catalog made.
        ctx.dryRun = true;
        const query: HistoryQuery = {
          ...(opts.run !== undefined ? { runId: opts.run } : {}),
          ...(opts.since !== undefined ? { sinceMs: opts.since } : {}),
          ...(opts.kind ? { kinds: opts.kind } : {}),
        };
        if (ref !== undefined) {
          const { location, path } = await ctx.reference(ref, "[ref]");
          query.files = { locationId: location.row.id, path };
        }
        const limit = opts.limit ?? (ref === undefined && opts.run === undefined ? RECENT : undefined);
        if (limit !== undefined) query.limit = limit;
        const entries: HistoryEntry[] = [];
        let shown = 0;
        for await (const entry of history(ctx.catalog, query)) {
          shown += 1;
          if (ctx.out.options.json) entries.push(entry);
          else ctx.out.data(line(entry));
        }
        if (shown === 0) ctx.out.info("no events match");
        ctx.out.json({ events: entries.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) });
        return EXIT.ok;
      }),
    );
}

/** `2026-12-05T12:00:01.123Z  copy done  scratch → archive  a/b.nc  1.2 MiB  run 7  alice@node7  key=a/b.nc` */
function line(e: HistoryEntry): string {
  const where = e.target ? `${e.location ?? "?"} → ${e.target}` : (e.location ?? "-");
  const file = e.file ? `${e.file.location}:${printablePath(e.file.path)}` : "-";
  const parts = [
    new Date(e.at).toISOString(),
    `${e.kind} ${e.outcome}`,
    where,
    file,
    formatBytes(e.bytes),
    e.runId === null ? "no run" : `run ${e.runId}`,
    ...(e.policy ? [`policy ${e.policy}`] : []),
    `${e.user}@${e.host}`,
    ...Object.entries(e.detail ?? {}).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`),
  ];
  return parts.join("  ");
}

/** A date (ISO 8601, UTC unless it says otherwise), or a duration back from now. */
function since(text: string): number {
  const back = parseDuration(text);
  if (back !== undefined) return Date.now() - back;
  const at = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(at)) throw new InvalidArgumentError("must be a date such as 2026-01-01 or a duration such as 7d");
  return at;
}

function kind(value: string, previous: ActionKind[] = []): ActionKind[] {
  const found = EVENT_KINDS.find((k) => k === value);
  if (!found) throw new InvalidArgumentError(`must be one of ${EVENT_KINDS.join(", ")}`);
  return [...previous, found];
}
