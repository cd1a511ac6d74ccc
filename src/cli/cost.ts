import { type Command, InvalidArgumentError, Option } from "commander";
import { UsageError } from "../config/errors.js";
import { formatBytes, formatUsd } from "../config/units.js";
import { GIB } from "../cost/profile.js";
import { costNow, type PricedPlace, pricedPlaces } from "../report/cost-now.js";
import { type FocusRow, focusCsv, focusService } from "../report/focus.js";
import { forecastCosts } from "../report/forecast.js";
import { COST_DIMENSIONS, type CostDimension, type CostLine, type CostNow, type Forecast } from "../report/model.js";
import type { Context } from "./context.js";
import { registerCostCompare, registerCostMigrate } from "./cost-compare.js";
import { wholeNumber } from "./options.js";
import { count } from "./output.js";
import { EXIT, type Runner } from "./runner.js";

const DEFAULT_BY: CostDimension[] = ["location", "class"];
const MONTH_MS = 30 * 86_400_000;

interface CostOptions {
  by: CostDimension[];
  csv: boolean;
}

interface ForecastOptions {
  months: number;
  csv: boolean;
}

function dimensions(text: string): CostDimension[] {
  const words = text.split(",").map((word) => word.trim());
  for (const word of words) {
    if (!(COST_DIMENSIONS as readonly string[]).includes(word)) {
      throw new InvalidArgumentError(`"${word}" is not one of ${COST_DIMENSIONS.join(", ")} (comma-separated)`);
    }
  }
  return [...new Set(words as CostDimension[])];
}

export function registerCost(program: Command, run: Runner): void {
  const cost = program
    .command("cost")
    .description("what the data costs now, per month, from the catalog and each location's prices")
    .addOption(
      new Option("--by <dimensions>", `group by ${COST_DIMENSIONS.join(", ")} (comma-separated)`)
        .argParser(dimensions)
        .default(DEFAULT_BY, DEFAULT_BY.join(",")),
    )
    .option("--csv", "print FOCUS-style CSV (BilledCost, ChargeCategory, ChargePeriodStart, ServiceName…)", false)
    .action(run(async (ctx, opts: CostOptions) => showCostNow(ctx, opts)));
  cost
    .command("forecast")
    .description("monthly cost ahead from the scan history's growth, as-is and with the enabled policies' plan applied")
    .option("--months <n>", "months ahead (1 to 120)", wholeNumber(1, 120), 36)
    .option("--csv", "print FOCUS-style CSV: one row per tier, scenario and month, and the one-time migration", false)
    // Options after a subcommand's name reach `cost` first (the program parses options anywhere),
    // so `cost forecast --csv` sets cost's --csv: either one asks for CSV.
    .action(run(async (ctx, opts: ForecastOptions) => showForecast(ctx, { ...opts, csv: opts.csv || csvAsked(cost) })));
  registerCostCompare(cost, run);
  registerCostMigrate(cost, run);
}

function csvAsked(cost: Command): boolean {
  return cost.opts<CostOptions>().csv;
}

/** Cost commands only read: anything opening the context registered is forgotten again. */
function readOnly(ctx: Context, csv: boolean): void {
  ctx.dryRun = true;
  if (csv && ctx.out.options.json) throw new UsageError("cost: --json and --csv each print the figures; give one");
}

async function showCostNow(ctx: Context, opts: CostOptions): Promise<number> {
  readOnly(ctx, opts.csv);
  const { config } = ctx.loaded;
  const now = Date.now();
  if (opts.csv) {
    // One profile per row: the CSV always splits by location and class, then the dimensions asked.
    const by = [...new Set<CostDimension>([...DEFAULT_BY, ...opts.by])];
    const figures = await costNow(ctx.catalog, config, { by, now });
    process.stdout.write(focusCsv(costRows(figures, await pricedPlaces(ctx.catalog, config), now)));
    return EXIT.ok;
  }
  const figures = await costNow(ctx.catalog, config, { by: opts.by, now });
  ctx.out.json(figures);
  printCostNow(ctx, figures);
  return EXIT.ok;
}

async function showForecast(ctx: Context, opts: ForecastOptions): Promise<number> {
  readOnly(ctx, opts.csv);
  const { config } = ctx.loaded;
  const now = Date.now();
  const forecast = await forecastCosts(ctx.catalog, config, { months: opts.months, now });
  if (opts.csv) {
    process.stdout.write(focusCsv(forecastRows(forecast, await pricedPlaces(ctx.catalog, config), now)));
    return EXIT.ok;
  }
  ctx.out.json(forecast);
  printForecast(ctx, forecast);
  return EXIT.ok;
}

// ---- Terminal -------------------------------------------------------------------------------

/** Columns padded to their widest cell; text columns left-aligned, figures right-aligned. */
function printTable(ctx: Context, header: string[], rows: string[][], textColumns: number): void {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i < textColumns ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  ctx.out.data(line(header));
  for (const row of rows) ctx.out.data(line(row));
}

function printCostNow(ctx: Context, figures: CostNow): void {
  const groupName = (line: Pick<CostLine, "group">) =>
    figures.by.map((dimension) => shownValue(dimension, line.group[dimension] ?? ""));
  const measures = (line: Omit<CostLine, "group">) => [
    count(line.objects),
    formatBytes(line.logicalBytes),
    formatBytes(line.storedBytes),
    formatBytes(line.billableBytes),
    formatUsd(line.storage),
    formatUsd(line.overheads),
    formatUsd(line.monthly),
    formatUsd(line.minimumDurationExposure),
    formatBytes(line.deduplicatedBytes),
  ];
  const rows = figures.lines.map((line) => [...groupName(line), ...measures(line)]);
  rows.push([...figures.by.map((_, i) => (i === 0 ? "total" : "")), ...measures(figures.total)]);
  printTable(
    ctx,
    [
      ...figures.by.map((d) => d.toUpperCase()),
      "OBJECTS",
      "LOGICAL",
      "STORED",
      "BILLABLE",
      "STORAGE",
      "OVERHEADS",
      "MONTHLY",
      "MIN-DURATION EXPOSURE",
      // Last, so the columns before keep their places for scripts that read them.
      "DEDUPLICATED",
    ],
    rows,
    figures.by.length,
  );
  ctx.out.info("");
  ctx.out.info(`Total: ${formatUsd(figures.total.monthly)}/month`);
  printSources(ctx, figures);
}

function shownValue(dimension: CostDimension, value: string): string {
  if (value !== "") return value;
  return dimension === "project" ? "(no project tag)" : "-";
}

function printSources(ctx: Context, figures: Pick<CostNow, "prices" | "unknown">): void {
  for (const price of figures.prices) {
    ctx.out.info(`Prices: ${price.profile} (${price.region}), ${price.source}, as of ${price.asOf}`);
  }
  for (const reason of figures.unknown) ctx.out.info(`Not known: ${reason}`);
}

function printForecast(ctx: Context, forecast: Forecast): void {
  let saved = 0;
  const rows = forecast.months.map((month) => {
    saved += month.asIs - month.withPolicies;
    return [
      String(month.month),
      formatUsd(month.asIs),
      formatUsd(month.withPolicies),
      formatUsd(month.asIs - month.withPolicies),
      formatUsd(saved),
    ];
  });
  printTable(ctx, ["MONTH", "AS-IS", "WITH POLICIES", "SAVING", "SAVED SO FAR"], rows, 0);
  const { migration } = forecast;
  const horizon = forecast.months.length;
  ctx.out.info("");
  ctx.out.info(
    `Migration (the enabled policies' plan, applied in month 1): once ${formatUsd(migration.oneTime)}, ` +
      `saves ${formatUsd(migration.monthlySaving)}/month; ` +
      (migration.breakEvenMonth === undefined
        ? `does not break even within ${horizon} months`
        : `breaks even in month ${migration.breakEvenMonth}`),
  );
  for (const total of forecast.totals) {
    ctx.out.info(
      `${total.months / 12}-year total: as-is ${formatUsd(total.asIs)}, ` +
        `with policies ${formatUsd(total.withPolicies)} (one-time included)`,
    );
  }
  if (forecast.roi !== undefined) {
    ctx.out.info(`ROI over ${horizon} months: ${(forecast.roi * 100).toFixed(1)}%`);
  }
  for (const growth of forecast.growth) {
    const rate = growth.bytesPerDay === undefined ? "no rate" : `${formatBytes(growth.bytesPerDay)}/day`;
    ctx.out.info(`Growth of ${growth.location}: ${rate} (${growth.basis})`);
  }
  printSources(ctx, forecast);
}

// ---- CSV ------------------------------------------------------------------------------------

function period(now: number, month: number): { periodStart: Date; periodEnd: Date } {
  return { periodStart: new Date(now + (month - 1) * MONTH_MS), periodEnd: new Date(now + month * MONTH_MS) };
}

function placeRow(
  place: PricedPlace | undefined,
): Pick<FocusRow, "serviceName" | "providerName" | "regionId" | "priceSource" | "priceAsOf"> {
  const profile = place?.profile;
  return {
    ...focusService(profile?.name ?? "onprem"),
    regionId: profile?.region ?? "",
    priceSource: profile?.source ?? "",
    priceAsOf: profile?.asOf ?? "",
  };
}

function costRows(figures: CostNow, places: Map<string, PricedPlace>, now: number): FocusRow[] {
  return figures.lines.map((line) => {
    const { location = "", class: storageClass = "", owner, project } = line.group;
    const tags: Record<string, string> = {
      ...(owner === undefined ? {} : { owner }),
      ...(project === undefined ? {} : { project }),
    };
    return {
      cost: line.monthly,
      chargeCategory: "Usage",
      chargeDescription: `storage of ${line.objects} objects, per-object overheads included`,
      ...period(now, 1),
      ...placeRow(places.get(location)),
      resourceName: `${location}/${storageClass}`,
      skuId: storageClass,
      pricingUnit: "GB-Month",
      pricingQuantity: line.billableBytes / GIB,
      ...(Object.keys(tags).length > 0 ? { tags } : {}),
    };
  });
}

function forecastRows(forecast: Forecast, places: Map<string, PricedPlace>, now: number): FocusRow[] {
  const rows: FocusRow[] = [];
  if (forecast.migration.oneTime > 0) {
    rows.push({
      cost: forecast.migration.oneTime,
      chargeCategory: "Purchase",
      chargeDescription: "one-time cost of applying the enabled policies' plan",
      ...period(now, 1),
      // Spans the plan's places: the sources of every price it used.
      serviceName: "Storage migration",
      providerName: [...new Set(forecast.prices.map((p) => focusService(p.profile).providerName))].join("; "),
      regionId: "",
      priceSource: forecast.prices.map((p) => p.source).join("; "),
      priceAsOf: forecast.prices.map((p) => p.asOf).join("; "),
      resourceName: "migration",
      skuId: "",
      pricingUnit: "Requests",
      tags: { scenario: "with policies" },
    });
  }
  for (const month of forecast.months) {
    for (const [scenario, byTier] of [
      ["as-is", month.asIsByTier],
      ["with policies", month.withPoliciesByTier],
    ] as const) {
      for (const [tier, cost] of Object.entries(byTier)) {
        const slash = tier.indexOf("/");
        rows.push({
          cost,
          chargeCategory: "Usage",
          chargeDescription: `forecast storage, month ${month.month}`,
          ...period(now, month.month),
          ...placeRow(places.get(tier.slice(0, slash))),
          resourceName: tier,
          skuId: tier.slice(slash + 1),
          pricingUnit: "GB-Month",
          tags: { scenario },
        });
      }
    }
  }
  return rows;
}
