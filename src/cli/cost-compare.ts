import { type Command, InvalidArgumentError, Option } from "commander";
import type { RestoreTier } from "../backends/backend.js";
import { formatBytes, formatDuration, formatRate, formatUsd } from "../config/units.js";
import { GIB } from "../cost/profile.js";
import { compareCosts } from "../report/compare.js";
import { type FocusRow, focusCsv, focusService } from "../report/focus.js";
import { estimateMigration } from "../report/migrate.js";
import type { Comparison, MigrationEstimate, PlacementCost, PriceSource, RecallScenario } from "../report/model.js";
import type { Context } from "./context.js";
import { EXIT, type Runner } from "./runner.js";

/** `--recall 5%/year`: the default scenario, a twentieth of the data read back each year. */
export const DEFAULT_RECALL = "5%/year";

/**
 * A recall rate as people write it: a percentage per year or per month (`5%/year`, `1%/month`;
 * `5%` alone is per year). A month is a twelfth of a year, as the cost model bills it.
 */
export function parseRecall(text: string): number {
  const match = /^(\d+(?:\.\d+)?)%(?:\/(year|month))?$/.exec(text.trim());
  if (!match)
    throw new InvalidArgumentError("must be a share read back per year or month, such as 5%/year or 1%/month");
  const percent = Number(match[1]);
  return ((match[2] === "month" ? 12 : 1) * percent) / 100;
}

const RESTORE_TIERS: RestoreTier[] = ["bulk", "standard", "expedited"];

interface CompareOptions {
  recall: number;
  tier?: RestoreTier;
  csv?: boolean;
}

export function registerCostCompare(cost: Command, run: Runner): void {
  cost
    .command("compare")
    .description(
      "the same files priced in every class of AWS, Azure and GCS and on premises (disk, tape): the cheapest per group",
    )
    .option(
      "--recall <rate>",
      `share of the data read back, as N%/year or N%/month (default ${DEFAULT_RECALL})`,
      parseRecall,
      parseRecall(DEFAULT_RECALL),
    )
    .addOption(
      new Option("--tier <tier>", "restore tier for archive classes (default: each class's cheapest)").choices(
        RESTORE_TIERS,
      ),
    )
    .option("--csv", "print FOCUS-style CSV instead of tables")
    .action(
      run(async (ctx, opts: CompareOptions) => {
        // Read-only: a catalog this run found missing is not left behind.
        ctx.dryRun = true;
        const recall: RecallScenario = { sharePerYear: opts.recall, ...(opts.tier ? { tier: opts.tier } : {}) };
        const now = Date.now();
        const comparison = await compareCosts(ctx.catalog, ctx.loaded.config, { recall, now });
        if (csvAsked(cost, opts)) ctx.out.data(focusCsv(comparisonRows(comparison, now)).trimEnd());
        else {
          ctx.out.json(comparison);
          printComparison(ctx, comparison);
        }
        return EXIT.ok;
      }),
    );
}

interface MigrateOptions {
  class?: string;
  csv?: boolean;
}

export function registerCostMigrate(cost: Command, run: Runner): void {
  cost
    .command("migrate")
    .description(
      "moving a location's objects to another: egress, requests, retrieval, early deletion, monthly before and after, and the time at measured rates",
    )
    .argument("<src>", "the location moved from")
    .argument("<dst>", "the location moved to")
    .option("--class <class>", "the storage class at DST (default: DST's configured class)")
    .option("--csv", "print FOCUS-style CSV instead of a table")
    .action(
      run(async (ctx, from: string, to: string, opts: MigrateOptions) => {
        ctx.dryRun = true;
        const now = Date.now();
        const estimate = await estimateMigration(ctx.catalog, ctx.loaded.config, {
          from,
          to,
          ...(opts.class ? { toClass: opts.class } : {}),
          now,
        });
        if (csvAsked(cost, opts)) ctx.out.data(focusCsv(migrationRows(estimate, now)).trimEnd());
        else {
          ctx.out.json(estimate);
          printMigration(ctx, estimate);
        }
        return EXIT.ok;
      }),
    );
}

/**
 * Options after a subcommand's name reach `cost` first when it has the same option (the program
 * parses options anywhere), so `cost compare --csv` may set cost's --csv: either one asks.
 */
function csvAsked(cost: Command, opts: { csv?: boolean }): boolean {
  return opts.csv === true || cost.opts<{ csv?: boolean }>().csv === true;
}

// ---- Tables ---------------------------------------------------------------------------------

const MONEY = 12;

function money(amount: number): string {
  return formatUsd(amount).padStart(MONEY);
}

function printComparison(ctx: Context, comparison: Comparison): void {
  const { recall } = comparison;
  ctx.out.data(
    `Recall: ${(recall.sharePerYear * 100).toFixed(2).replace(/\.?0+$/, "")}% of the data a year` +
      `${recall.tier ? `, ${recall.tier} restores` : ", each archive class's cheapest restore"}; per month unless said.`,
  );
  ctx.out.data("");
  ctx.out.data(
    `${"GROUP".padEnd(34)} ${"FILES".padStart(10)} ${"BYTES".padStart(10)} ${"READS/MO".padStart(10)}  CHEAPEST`,
  );
  for (const group of comparison.groups) {
    const cheapest = group.placements.find((p) => `${p.provider}/${p.class}` === group.cheapest) as PlacementCost;
    ctx.out.data(
      `${group.name.padEnd(34)} ${String(group.objects).padStart(10)} ${formatBytes(group.bytes).padStart(10)} ` +
        `${group.accessesPerMonth.toFixed(2).padStart(10)}  ${group.cheapest} ${formatUsd(cheapest.monthly)}`,
    );
  }
  ctx.out.data("");
  ctx.out.data(
    `${"ALL FILES IN".padEnd(28)}${["STORAGE", "REQUESTS", "RETRIEVAL", "EGRESS", "MONTHLY", "UPLOAD ONCE"].map((h) => h.padStart(MONEY)).join(" ")}`,
  );
  for (const total of [...comparison.totals].sort((a, b) => a.monthly - b.monthly)) {
    ctx.out.data(
      `${`${total.provider}/${total.class}`.padEnd(28)}${[total.storage, total.requests, total.retrieval, total.egress, total.monthly, total.upload].map(money).join(" ")}`,
    );
  }
  ctx.out.data(
    `${"cheapest per group".padEnd(28)}${" ".repeat(4 * (MONEY + 1))}${money(comparison.cheapestMix.monthly)}`,
  );
  printNotes(ctx, comparison.prices, comparison.basis ?? [], comparison.unknown);
}

function printMigration(ctx: Context, estimate: MigrationEstimate): void {
  ctx.out.data(
    `${estimate.from} → ${estimate.to} (${estimate.toClass}): ${estimate.objects} objects, ${formatBytes(estimate.bytes)}`,
  );
  const lines: [string, number][] = [
    ["egress", estimate.egress],
    ["requests", estimate.requests],
    ["retrieval", estimate.retrieval],
    ["early deletion", estimate.earlyDeletion],
    ["one-time total", estimate.oneTime],
    ["monthly before", estimate.monthlyBefore],
    ["monthly after", estimate.monthlyAfter],
  ];
  for (const [name, amount] of lines) ctx.out.data(`  ${name.padEnd(16)}${money(amount)}`);
  if (estimate.seconds !== undefined && estimate.rate) {
    ctx.out.data(
      `  ${"time".padEnd(16)}${formatDuration(estimate.seconds * 1000).padStart(MONEY)}  at ${formatRate(estimate.rate.bytesPerSecond)}`,
    );
  } else ctx.out.data(`  ${"time".padEnd(16)}${"unknown".padStart(MONEY)}`);
  printNotes(ctx, estimate.prices, estimate.basis ?? [], estimate.unknown);
}

function printNotes(
  ctx: Context,
  prices: readonly PriceSource[],
  basis: readonly string[],
  unknown: readonly string[],
): void {
  ctx.out.data("");
  ctx.out.data("Prices:");
  for (const price of prices) ctx.out.data(`  ${price.profile} (${price.region}), read ${price.asOf}: ${price.source}`);
  if (basis.length > 0) ctx.out.data("How:");
  for (const line of basis) ctx.out.data(`  ${line}`);
  if (unknown.length > 0) ctx.out.data("Unknown:");
  for (const line of unknown) ctx.out.data(`  ${line}`);
}

// ---- FOCUS CSV --------------------------------------------------------------------------------

const MONTH_MS = 30 * 86_400_000;

interface ChargeOf {
  profile: string;
  region: string;
  resource: string;
  sku: string;
  source: PriceSource;
  periodStart: Date;
  periodEnd: Date;
}

function charge(
  of: ChargeOf,
  description: string,
  cost: number,
  category: FocusRow["chargeCategory"],
  unit: FocusRow["pricingUnit"],
  quantity: number,
  tags?: Record<string, string>,
): FocusRow {
  return {
    cost,
    chargeCategory: category,
    chargeDescription: description,
    periodStart: of.periodStart,
    periodEnd: of.periodEnd,
    ...focusService(of.profile),
    regionId: of.region,
    resourceName: of.resource,
    skuId: of.sku,
    pricingUnit: unit,
    pricingQuantity: quantity,
    ...(tags ? { tags } : {}),
    priceSource: of.source.source,
    priceAsOf: of.source.asOf,
  };
}

/** One row per group, placement and kind of charge: the month starting now, and the upload once. */
function comparisonRows(comparison: Comparison, now: number): FocusRow[] {
  const rows: FocusRow[] = [];
  const periodStart = new Date(now);
  const periodEnd = new Date(now + MONTH_MS);
  for (const group of comparison.groups) {
    for (const placement of group.placements) {
      const of: ChargeOf = {
        profile: placement.source.profile,
        region: placement.source.region,
        resource: `${placement.provider}/${placement.class}`,
        sku: placement.class,
        source: placement.source,
        periodStart,
        periodEnd,
      };
      const tags = { group: group.name, scenario: "compare" };
      const gbMonths = group.bytes / GIB;
      const readGB = (group.bytesReadPerMonth ?? 0) / GIB;
      rows.push(charge(of, "storage", placement.storage, "Usage", "GB-Month", gbMonths, tags));
      rows.push(charge(of, "requests (GET)", placement.requests, "Usage", "Requests", group.accessesPerMonth, tags));
      rows.push(charge(of, "retrieval", placement.retrieval, "Usage", "GB", readGB, tags));
      rows.push(charge(of, "egress", placement.egress, "Usage", "GB", readGB, tags));
      rows.push(charge(of, "upload (PUT), once", placement.upload, "Purchase", "Requests", group.objects, tags));
    }
  }
  return rows;
}

function migrationRows(estimate: MigrationEstimate, now: number): FocusRow[] {
  const [fromSource, toSource] = [estimate.prices[0], estimate.prices[1] ?? estimate.prices[0]] as [
    PriceSource,
    PriceSource,
  ];
  const once = { periodStart: new Date(now), periodEnd: new Date(now) };
  const month = { periodStart: new Date(now), periodEnd: new Date(now + MONTH_MS) };
  const at = (source: PriceSource, resource: string, sku: string, period: typeof once): ChargeOf => ({
    profile: source.profile,
    region: source.region,
    resource,
    sku,
    source,
    ...period,
  });
  const tags = { scenario: `migrate ${estimate.from} to ${estimate.to}` };
  const gb = estimate.bytes / GIB;
  const source = at(fromSource, estimate.from, "", once);
  const target = at(toSource, `${estimate.to}/${estimate.toClass}`, estimate.toClass, once);
  return [
    charge(source, "egress, once", estimate.egress, "Purchase", "GB", gb, tags),
    charge(
      target,
      "requests (GET at source, PUT at target), once",
      estimate.requests,
      "Purchase",
      "Requests",
      estimate.objects,
      tags,
    ),
    charge(source, "retrieval and restores, once", estimate.retrieval, "Purchase", "GB", gb, tags),
    charge(source, "early deletion, once", estimate.earlyDeletion, "Purchase", "GB", gb, tags),
    charge(
      at(fromSource, estimate.from, "", month),
      "storage before",
      estimate.monthlyBefore,
      "Usage",
      "GB-Month",
      gb,
      tags,
    ),
    charge(
      at(toSource, `${estimate.to}/${estimate.toClass}`, estimate.toClass, month),
      "storage after",
      estimate.monthlyAfter,
      "Usage",
      "GB-Month",
      gb,
      tags,
    ),
  ];
}
