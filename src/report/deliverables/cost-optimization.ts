import { formatBytes, formatUsd } from "../../config/units.js";
import type { ReportData } from "../gather.js";
import type { CostNow, PriceSource } from "../model.js";
import { type ForecastPoint, forecastSpec, renderChart, type TierMonth, tierForecastSpec } from "../render/charts.js";
import { type Block, paragraph, type ReportDocument, type Section, table } from "../render/document.js";
import { count, percent, tierName, unknowns } from "./common.js";

/** The cost optimization analysis: cost now, the cheapest placements, the forecast and break-even. */
export async function costOptimization(data: ReportData): Promise<ReportDocument> {
  return {
    name: "cost-optimization",
    title: "Cost optimization analysis",
    intro: `What the data costs now, what it would cost placed elsewhere, and what the policies save over ${data.months} months, from the catalog as of ${data.at}. Money is USD; monthly means a 30-day month.`,
    sections: [costNow(data), comparison(data), await forecast(data), prices(data)],
  };
}

function costTable(cost: CostNow, dimension: "tier" | "owner" | "project"): Block {
  const label = (group: CostNow["lines"][number]["group"]) =>
    dimension === "tier"
      ? tierName(group.location ?? "", group.class)
      : dimension === "owner"
        ? `uid ${group.owner ?? "—"}`
        : group.project || "(no project tag)";
  const rows = cost.lines.map((l) => [
    label(l.group),
    count(l.objects),
    formatBytes(l.logicalBytes),
    formatBytes(l.storedBytes),
    formatBytes(l.billableBytes),
    formatUsd(l.storage),
    formatUsd(l.overheads),
    formatUsd(l.monthly),
    formatUsd(l.minimumDurationExposure),
  ]);
  const t = cost.total;
  rows.push([
    "Total",
    count(t.objects),
    formatBytes(t.logicalBytes),
    formatBytes(t.storedBytes),
    formatBytes(t.billableBytes),
    formatUsd(t.storage),
    formatUsd(t.overheads),
    formatUsd(t.monthly),
    formatUsd(t.minimumDurationExposure),
  ]);
  const heading = dimension === "tier" ? "Tier" : dimension === "owner" ? "Owner" : "Project";
  return table(
    [heading, "Objects", "Logical", "Stored", "Billable", "Storage", "Overheads", "Monthly", "Min.-duration exposure"],
    rows,
    [false, true, true, true, true, true, true, true, true],
  );
}

function costNow(data: ReportData): Section {
  const { byTier, byOwner, byProject } = data.cost;
  return {
    title: "Cost now",
    blocks: [
      paragraph(
        `The data costs ${formatUsd(byTier.total.monthly)} per month as it is stored today: ${formatUsd(byTier.total.storage)} of storage and ` +
          `${formatUsd(byTier.total.overheads)} of per-object overheads (minimum billable sizes, index bytes, monitoring fees). ` +
          `Deleting or moving everything today would be billed ${formatUsd(byTier.total.minimumDurationExposure)} of minimum durations not yet served.`,
      ),
      costTable(byTier, "tier"),
      ...unknowns(byTier.unknown),
    ],
    sections: [
      { title: "By owner", blocks: [costTable(byOwner, "owner")] },
      { title: "By project", blocks: [costTable(byProject, "project")] },
    ],
  };
}

function comparison(data: ReportData): Section {
  const c = data.comparison;
  const blocks: Block[] = [
    paragraph(
      `The same files priced in every provider's classes and on premises, under a recall scenario of ${percent(c.recall.sharePerYear)} of the bytes read back per year ` +
        `(the report's default scenario; strata cost compare --recall prices others), with access rates estimated from each file's last access. ` +
        `Today: ${formatUsd(data.cost.byTier.total.monthly)} per month; the cheapest placement of each group together: ${formatUsd(c.cheapestMix.monthly)} per month.`,
    ),
  ];
  if (c.totals.length > 0) {
    const sorted = [...c.totals].sort((a, b) => a.monthly - b.monthly);
    blocks.push(
      table(
        ["Provider", "Class", "Storage", "Requests", "Retrieval", "Egress", "Monthly", "Upload (once)"],
        sorted.map((p) => [
          p.provider,
          p.class,
          formatUsd(p.storage),
          formatUsd(p.requests),
          formatUsd(p.retrieval),
          formatUsd(p.egress),
          formatUsd(p.monthly),
          formatUsd(p.upload),
        ]),
        [false, false, true, true, true, true, true, true],
      ),
    );
  }
  if (c.groups.length > 0) {
    blocks.push(
      paragraph("The cheapest placement for each group of files alike in size and access:"),
      table(
        ["Group", "Objects", "Bytes", "Accesses per month", "Cheapest", "Its monthly cost"],
        c.groups.map((g) => {
          const best = g.placements.find((p) => `${p.provider}/${p.class}` === g.cheapest);
          return [
            g.name,
            count(g.objects),
            formatBytes(g.bytes),
            g.accessesPerMonth.toLocaleString("en", { maximumFractionDigits: 2 }),
            g.cheapest,
            best ? formatUsd(best.monthly) : "—",
          ];
        }),
        [false, true, true, true, false, true],
      ),
    );
  }
  blocks.push(...unknowns(c.unknown));
  return { title: "Storage cost comparison", blocks };
}

async function forecast(data: ReportData): Promise<Section> {
  const f = data.forecast;
  const blocks: Block[] = [
    paragraph(
      `Monthly cost over ${data.months} months with the growth measured from scan history, as-is against with the enabled policies' current plan applied once now.`,
    ),
  ];
  const ungrown = data.growth.filter((g) => g.bytesPerDay === undefined).map((g) => g.location);
  if (ungrown.length > 0 && f.months.length > 0) {
    blocks.push(
      paragraph(
        `The growth of ${ungrown.join(", ")} cannot be known yet (see below), so the forecast does not grow ${ungrown.length === 1 ? "it" : "them"}: ` +
          "their cost holds today's data until scans a day or more apart measure a rate.",
      ),
    );
  }
  if (f.months.length > 0) {
    const points: ForecastPoint[] = f.months.flatMap((m) => [
      { month: m.month, series: "as-is" as const, usd: m.asIs },
      { month: m.month, series: "with policies" as const, usd: m.withPolicies },
    ]);
    blocks.push({
      kind: "figure",
      name: "forecast",
      caption: `Monthly cost over ${data.months} months, as-is and with the policies${f.migration.breakEvenMonth !== undefined ? `; break-even in month ${f.migration.breakEvenMonth}` : ""}`,
      svg: await renderChart(forecastSpec(points, f.migration.breakEvenMonth)),
    });
  }
  const byTier = tierMonths(data);
  if (byTier.length > 0) {
    blocks.push({
      kind: "figure",
      name: "forecast-tiers",
      caption: `Monthly cost per tier over ${data.months} months, as-is and with the policies`,
      svg: await renderChart(tierForecastSpec(byTier)),
    });
  }
  const { oneTime, monthlySaving, breakEvenMonth } = f.migration;
  blocks.push(
    paragraph(
      `Applying the plan costs ${formatUsd(oneTime)} once (transfer, requests, early deletion, retrieval, egress) and ` +
        (monthlySaving > 0
          ? `saves ${formatUsd(monthlySaving)} per month. `
          : monthlySaving < 0
            ? `costs ${formatUsd(-monthlySaving)} more per month than leaving the data as it is. `
            : "saves nothing per month. ") +
        (f.months.length > 0
          ? breakEvenText(breakEvenMonth, oneTime, monthlySaving, data.months)
          : "Without a forecast the break-even month and the return cannot be worked out yet (see below).") +
        (f.roi !== undefined ? ` Return on the one-time cost over the horizon: ${percent(f.roi)}.` : ""),
    ),
  );
  if (f.totals.length > 0) {
    blocks.push(
      table(
        ["Horizon", "As-is", "With policies", "Difference"],
        f.totals.map((t) => [
          `${t.months} months`,
          formatUsd(t.asIs),
          formatUsd(t.withPolicies),
          formatUsd(t.asIs - t.withPolicies),
        ]),
        [false, true, true, true],
      ),
    );
  }
  const tiers = lastMonthByTier(data);
  if (tiers.length > 0) {
    blocks.push(
      paragraph(`Monthly cost per tier in month ${f.months.at(-1)?.month}:`),
      table(["Tier", "As-is", "With policies"], tiers, [false, true, true]),
    );
  }
  blocks.push(...unknowns(f.unknown));
  return { title: "Forecast, break-even and return", blocks };
}

function breakEvenText(month: number | undefined, oneTime: number, saving: number, horizon: number): string {
  if (oneTime === 0) return "There is nothing to recover: it breaks even at once.";
  if (month !== undefined) return `The saving covers the one-time cost in month ${month}.`;
  if (saving <= 0) return "It never breaks even: there is no monthly saving to recover the one-time cost with.";
  return `It does not break even within ${horizon} months.`;
}

function tierMonths(data: ReportData): TierMonth[] {
  return data.forecast.months.flatMap((m) => [
    ...Object.entries(m.asIsByTier).map(([tier, usd]) => ({ month: m.month, tier, series: "as-is" as const, usd })),
    ...Object.entries(m.withPoliciesByTier).map(([tier, usd]) => ({
      month: m.month,
      tier,
      series: "with policies" as const,
      usd,
    })),
  ]);
}

function lastMonthByTier(data: ReportData): string[][] {
  const last = data.forecast.months.at(-1);
  if (!last) return [];
  const tiers = [...new Set([...Object.keys(last.asIsByTier), ...Object.keys(last.withPoliciesByTier)])].sort();
  return tiers.map((t) => [t, formatUsd(last.asIsByTier[t] ?? 0), formatUsd(last.withPoliciesByTier[t] ?? 0)]);
}

function prices(data: ReportData): Section {
  const all: PriceSource[] = [...data.cost.byTier.prices, ...data.comparison.prices, ...data.forecast.prices];
  const seen = new Map<string, PriceSource>();
  for (const p of all) seen.set(`${p.profile}\u0000${p.region}\u0000${p.source}\u0000${p.asOf}`, p);
  return {
    title: "Price sources",
    blocks: [
      paragraph("Every figure above is priced from these published prices, each with the date it was read."),
      table(
        ["Profile", "Region", "Source", "As of"],
        [...seen.values()].map((p) => [p.profile, p.region, p.source, p.asOf]),
      ),
    ],
  };
}
