import type { Command } from "commander";
import { descriptorOf } from "../backends/all.js";
import { printablePath } from "../backends/keys.js";
import { allLocations } from "../catalog/locations.js";
import { packLocationIds } from "../catalog/packs.js";
import { UsageError } from "../config/errors.js";
import { formatBytes, formatDuration } from "../config/units.js";
import { profileFor } from "../cost/override.js";
import { gcPacks, type PackGcReport, type PackVerdict } from "../engine/pack-gc.js";
import { MONTH_MS, packGcSchema } from "../policy/schema.js";
import type { Context, ResolvedLocation } from "./context.js";
import { collect } from "./options.js";
import { count } from "./output.js";
import { EXIT, type Runner } from "./runner.js";

interface GcOptions {
  location: string[];
  liveBelow?: string;
  horizon?: string;
  dryRun: boolean;
}

export function registerPack(program: Command, run: Runner): void {
  const pack = program.command("pack").description("look after the tar packs small files were written into");
  pack
    .command("gc")
    .description(
      "rewrite packs whose live share fell below a threshold, when the saving over the horizon beats " +
        "the early-deletion and request costs; delete packs nothing references",
    )
    .option(
      "--location <name>",
      "only packs at this location (repeatable; default: every location with packs)",
      collect,
      [],
    )
    .option(
      "--live-below <share>",
      "packs whose referenced bytes are below this share (0–1) are candidates (default 0.5)",
    )
    .option("--horizon <months>", "the saving is counted over this long (12mo, 90d, 1y; default 12mo)")
    .option("-n, --dry-run", "print each pack's live share, decision, saving and cost; change nothing", false)
    .action(
      run(async (ctx, opts: GcOptions) => {
        const started = Date.now();
        const settings = gcSettings(opts);
        ctx.dryRun = opts.dryRun;
        const targets = await locationsOf(ctx, opts.location);
        if (targets.length === 0) ctx.out.info("No packs in the catalog: nothing to do");
        const verdicts: (PackVerdict & { location: string })[] = [];
        const reports: (PackGcReport & { location: string })[] = [];
        for (const target of targets) {
          const gc = () =>
            gcPacks(ctx.catalog, {
              liveBelow: settings.liveBelow,
              horizonMonths: settings.horizon / MONTH_MS,
              dryRun: opts.dryRun,
              profile: profileFor({ kind: target.parsed.kind, url: target.parsed.url, price: target.settings.price }),
              retry: ctx.retryPolicy,
              target: {
                name: target.name,
                backend: target.backend,
                locationId: target.row.id,
                ...(target.settings.class ? { storageClass: target.settings.class } : {}),
                tags: target.settings.tags,
              },
              heard: (verdict) => {
                verdicts.push({ location: target.name, ...verdict });
                ctx.out.data(verdictLine(target.name, verdict, opts.dryRun));
              },
            });
          await target.backend.check();
          // A dry run only reads; a real one holds the location as every run that writes it does.
          const report = opts.dryRun ? await gc() : await ctx.holding([target.name], `pack gc ${target.name}`, gc);
          reports.push({ location: target.name, ...report });
          ctx.out.info(gcSummary(target.name, report, opts.dryRun));
        }
        ctx.out.info(`Done in ${formatDuration(Date.now() - started)}`);
        ctx.out.json({ dryRun: opts.dryRun, locations: reports, packs: verdicts });
        return reports.some((r) => r.failed > 0) ? EXIT.itemsFailed : EXIT.ok;
      }),
    );
}

/** --live-below and --horizon, checked as a placement's `pack.gc` is. */
function gcSettings(opts: GcOptions) {
  const liveBelow = opts.liveBelow === undefined ? undefined : Number(opts.liveBelow);
  const parsed = packGcSchema.safeParse({
    ...(liveBelow !== undefined ? { liveBelow: Number.isNaN(liveBelow) ? opts.liveBelow : liveBelow } : {}),
    ...(opts.horizon !== undefined ? { horizon: opts.horizon } : {}),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = issue?.path[0] === "horizon" ? "--horizon" : "--live-below";
    throw new UsageError(`${flag}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}

/** The locations named, or every location whose packs the catalog records; trees hold no packs. */
async function locationsOf(ctx: Context, names: readonly string[]): Promise<ResolvedLocation[]> {
  let chosen = [...new Set(names)];
  if (chosen.length === 0) {
    const ids = new Set(await packLocationIds(ctx.catalog));
    chosen = (await allLocations(ctx.catalog)).filter((l) => ids.has(l.id)).map((l) => l.name);
  }
  const targets: ResolvedLocation[] = [];
  for (const name of chosen) {
    const target = await ctx.location(name, "--location");
    if (descriptorOf(target.parsed.kind).fileTree) {
      throw new UsageError(`--location ${name}: a POSIX tree; packs are written to object stores`);
    }
    targets.push(target);
  }
  return targets;
}

const SHOWN: Record<PackVerdict["decision"], [dry: string, done: string]> = {
  repack: ["would repack", "repacked"],
  delete: ["would delete", "deleted"],
  keep: ["keep", "kept"],
  skip: ["skip", "skipped"],
  failed: ["failed", "failed"],
};

/** `decision  location:key  live 42% (n frames, bytes of bytes)  saving/cost or reason`, tab-separated. */
function verdictLine(location: string, v: PackVerdict, dryRun: boolean): string {
  const share = `live ${(v.liveShare * 100).toFixed(1)}% (${count(v.liveFrames)} members, ${formatBytes(v.liveBytes)} of ${formatBytes(v.size)})`;
  const money = v.cost
    ? `saving $${usd(v.cost.keep - v.cost.storage)} against cost $${usd(v.cost.earlyDeletion + v.cost.requests + v.cost.reads + v.cost.egress)}`
    : "";
  const detail = [
    money,
    v.reason ?? "",
    v.newKey ? `now ${printablePath(v.newKey)} (${formatBytes(v.newSize ?? 0)})` : "",
  ]
    .filter((part) => part !== "")
    .join("; ");
  return [SHOWN[v.decision][dryRun ? 0 : 1], `${location}:${printablePath(v.key)}`, share, detail].join("\t");
}

function usd(amount: number): string {
  return amount === 0 ? "0" : amount.toPrecision(3);
}

/** `LOCATION: N packs: repacked …, deleted …, kept …`: one location's gc in a line. */
export function gcSummary(location: string, r: PackGcReport, dryRun: boolean): string {
  const verb = dryRun ? "would repack" : "repacked";
  const freed = dryRun ? "" : `; ${formatBytes(Math.max(0, r.bytesFreed))} freed`;
  return (
    `${location}: ${count(r.packs)} packs: ${verb} ${count(r.repacked)}, ${dryRun ? "would delete" : "deleted"} ` +
    `${count(r.deleted)}, kept ${count(r.kept)}, skipped ${count(r.skipped)}, failed ${count(r.failed)}${freed}`
  );
}
