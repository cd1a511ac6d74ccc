import type { Command } from "commander";
import { printablePath } from "../backends/keys.js";
import { allLocations } from "../catalog/locations.js";
import { UsageError } from "../config/errors.js";
import { formatBytes, formatDuration } from "../config/units.js";
import { type CheckTally, checkCatalog, type Problem, type ProblemKind } from "../engine/check.js";
import { type RebuildReport, rebuildCatalog } from "../engine/rebuild.js";
import { filesInFlight } from "../transfer/flight.js";
import type { Context, ResolvedLocation } from "./context.js";
import { duration, wholeNumber } from "./options.js";
import { count } from "./output.js";
import { EXIT, type Runner } from "./runner.js";

const DEFAULT_UPLOAD_GRACE_MS = 24 * 3_600_000;

export function registerCatalog(program: Command, run: Runner): void {
  const catalog = program
    .command("catalog")
    .description("rebuild the catalog from the stores, or check it against them");
  catalog
    .command("rebuild")
    .description(
      "rebuild files and replicas from the stores alone: scan trees (stubs included), tie each object to its file",
    )
    .argument("<location...>", "locations to read: trees are scanned, object stores listed")
    .option("--threads <n>", "walker threads (default: defaults.scanThreads)", wholeNumber(1, 64))
    .option("--heads <n>", "objects whose metadata is read at once (default: defaults.transfers)", wholeNumber(1, 256))
    .option(
      "--transfers <n>",
      "files of the trees read at once to learn their hashes (default: defaults.transfers)",
      wholeNumber(1, 1024),
    )
    .action(
      run(async (ctx, names: string[], opts: { threads?: number; heads?: number; transfers?: number }) => {
        const started = Date.now();
        // The configured locations first: an object's origin and a stub's replicas name them by URL.
        await ctx.registerConfigured();
        const targets = await resolve(ctx, names, "<location>");
        for (const target of targets) await target.backend.check();
        const everyLocation = (await allLocations(ctx.catalog)).map((l) => l.name);
        const report = await ctx.holding(everyLocation, `catalog rebuild ${names.join(" ")}`, () =>
          rebuildCatalog(ctx.catalog, targets, {
            scanThreads: opts.threads ?? ctx.defaults.scanThreads,
            heads: opts.heads ?? filesInFlight(ctx.defaults.transfers, "store"),
            readers: opts.transfers ?? filesInFlight(ctx.defaults.transfers, "tree"),
            unlinked: (location, key, reason) =>
              ctx.out.warn(`${location}:${printablePath(key)}: not linked: ${reason}`),
          }),
        );
        printRebuild(ctx, report, Date.now() - started);
        ctx.out.json({ rebuild: report });
        return report.scans.some((s) => s.problems.length > 0) ? EXIT.itemsFailed : EXIT.ok;
      }),
    );

  catalog
    .command("check")
    .description(
      "compare the catalog with the stores: missing replicas, orphans, unfinished uploads, hash mismatches, pack problems",
    )
    .argument("[location...]", "locations to check (default: every location in the catalog)")
    .option(
      "--repair",
      "make the safe repairs (mark missing lost, adopt orphans, abort old uploads); never deletes data",
      false,
    )
    .option(
      "--older-than <duration>",
      "uploads begun more recently are taken to be in progress (default: 24h)",
      duration,
    )
    .action(
      run(async (ctx, names: string[], opts: { repair: boolean; olderThan?: number }) => {
        // Without --repair nothing is written, not even a location the arguments would register.
        ctx.dryRun = !opts.repair;
        const known = (await allLocations(ctx.catalog)).map((l) => l.name);
        // Only what the catalog records can disagree with it: anything else is a typo.
        const unknown = names.find((name) => !known.includes(name));
        if (unknown !== undefined) {
          throw new UsageError(
            `[location] ${JSON.stringify(unknown)}: no location of this catalog (locations: ${known.join(", ") || "none yet"})`,
          );
        }
        const targets = await resolve(ctx, names.length > 0 ? names : known, "[location]");
        for (const target of targets) await target.backend.check();
        const problems: Problem[] = [];
        const check = () =>
          checkCatalog(
            ctx.catalog,
            targets,
            {
              repair: opts.repair,
              olderThanMs: opts.olderThan ?? DEFAULT_UPLOAD_GRACE_MS,
            },
            (problem) => {
              problems.push(problem);
              ctx.out.data(problemLine(problem));
            },
          );
        // A repair changes rows of the checked locations and of the files their copies belong to.
        const leases = [...known, ...targets.map((t) => t.name)];
        const tally = opts.repair ? await ctx.holding(leases, "catalog check --repair", check) : await check();
        ctx.out.info(summaryLine(tally, opts.repair));
        const { problems: counts, ...rest } = tally;
        ctx.out.json({ check: { ...rest, counts, problems } });
        return problems.some((p) => p.repaired === undefined) ? EXIT.itemsFailed : EXIT.ok;
      }),
    );
}

async function resolve(ctx: Context, names: readonly string[], flag: string): Promise<ResolvedLocation[]> {
  const targets: ResolvedLocation[] = [];
  for (const name of new Set(names)) targets.push(await ctx.location(name, flag));
  return targets;
}

/** `kind  location:key  detail`, tab-separated, with what a repair did. */
function problemLine(p: Problem): string {
  return `${p.kind}\t${p.location}:${printablePath(p.key)}\t${p.detail}${p.repaired ? `; repaired: ${p.repaired}` : ""}`;
}

const KIND_NAMES: Record<ProblemKind, string> = {
  missing: "missing",
  size: "size mismatch",
  orphan: "orphan",
  upload: "unfinished upload",
  hash: "hash mismatch",
  pack: "pack problem",
};

function summaryLine(tally: CheckTally, repair: boolean): string {
  const found = (Object.entries(tally.problems) as [ProblemKind, number][])
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${count(n)} ${KIND_NAMES[kind]}`);
  const checked =
    `Checked ${count(tally.locations)} location${tally.locations === 1 ? "" : "s"}: ${count(tally.replicas)} replicas, ${count(tally.objects)} objects` +
    (tally.recentUploads > 0 ? `, ${count(tally.recentUploads)} recent uploads taken to be in progress` : "");
  if (found.length === 0) return `${checked}; catalog and stores agree`;
  return `${checked}; ${found.join(", ")}${repair ? `; ${count(tally.repaired)} repaired` : ""}`;
}

function printRebuild(ctx: Context, report: RebuildReport, elapsedMs: number): void {
  const { out } = ctx;
  for (const scan of report.scans) {
    out.info(`Scanned ${scan.location}: ${count(scan.files)} entries (${formatBytes(scan.bytes)} in files)`);
    for (const problem of scan.problems) out.warn(`${scan.location}: ${problem.path}: ${problem.message}`);
  }
  for (const store of report.stores) {
    const newFiles = store.newFiles > 0 ? ` (${count(store.newFiles)} of files the trees lack, recorded missing)` : "";
    out.info(
      `Listed ${store.location}: ${count(store.objects)} objects (${formatBytes(store.bytes)}); ` +
        `${count(store.linked)} replicas recorded${newFiles}, ${count(store.known)} already known, ` +
        `${count(store.unlinked.length)} not linked (left in place); ${count(store.hashed)} files read for their hash` +
        (store.unhashed > 0 ? ` (${count(store.unhashed)} changed or unreadable: the next sync compares them)` : ""),
    );
  }
  out.info(`Rebuilt in ${formatDuration(elapsedMs)}`);
}
