import { formatBytes, formatRate, formatUsd } from "../../config/units.js";
import { AGE_BANDS, type TierProfile } from "../age-profile.js";
import type { ReportData } from "../gather.js";
import type { CostLine } from "../model.js";
import {
  growthSpec,
  renderChart,
  type TierBand,
  type TierCost,
  throughputSpec,
  tierBytesSpec,
  tierCostSpec,
} from "../render/charts.js";
import { flowSvg } from "../render/diagram.js";
import { type Block, list, paragraph, type ReportDocument, type Section, table, unknown } from "../render/document.js";
import { count, orDash, percent, seconds, tierName, times, unknowns } from "./common.js";

/** The hybrid storage architecture: the tier map, the data-flow diagram, the performance requirements. */
export async function architecture(data: ReportData): Promise<ReportDocument> {
  return {
    name: "architecture",
    title: "Hybrid storage architecture",
    intro: `What is stored where, how it flows and what the flows need, from the catalog and the configuration as of ${data.at}.`,
    sections: [await tierMap(data), await dataFlowSection(data), await performance(data)],
  };
}

async function tierMap(data: ReportData): Promise<Section> {
  const blocks: Block[] = [
    paragraph(
      "Each location and storage class: the objects it holds (a location's own files, or copies of files kept elsewhere), " +
        "their bytes, how long since those files were last read (share of bytes per band of 30-day periods), and what the tier costs per month.",
    ),
  ];
  if (data.tiers.length === 0) {
    blocks.push(unknown(["Nothing is catalogued yet: no scan has recorded a file, so there is no tier to map."]));
  } else {
    const costs = data.cost.byTier.lines;
    blocks.push(
      table(
        ["Location", "Class", "Holds", "Objects", "Bytes", "Age profile (share of bytes)", "Monthly cost"],
        data.tiers.map((t) => [
          t.location,
          t.class || "—",
          t.holds,
          count(t.objects),
          formatBytes(t.bytes),
          ageProfile(t),
          orDash(costOf(costs, t, data.tiers), (line) => formatUsd(line.monthly)),
        ]),
        [false, false, false, true, true, false, true],
      ),
    );
    const bands: TierBand[] = data.tiers.flatMap((t) =>
      Object.entries(t.bands).map(([band, sums]) => ({ tier: tierName(t.location, t.class), band, bytes: sums.bytes })),
    );
    blocks.push({
      kind: "figure",
      name: "tier-bytes",
      caption: "Bytes per tier, stacked by time since last access",
      svg: await renderChart(tierBytesSpec(bands, AGE_BANDS)),
    });
  }
  const lines = data.cost.byTier.lines;
  if (lines.length > 0) {
    const parts: TierCost[] = lines.flatMap((l) => {
      const tier = tierName(l.group.location ?? "", l.group.class);
      return [
        { tier, part: "storage" as const, usd: l.storage },
        { tier, part: "overheads" as const, usd: l.overheads },
      ];
    });
    blocks.push({
      kind: "figure",
      name: "tier-cost",
      caption: "Monthly cost per tier: storage and per-object overheads",
      svg: await renderChart(tierCostSpec(parts)),
    });
  }
  blocks.push(...unknowns(data.cost.byTier.unknown));
  return { title: "Storage tier map", blocks };
}

/**
 * The cost line of a tier: the same location and class. Files with no class recorded (a POSIX
 * tree) are priced in their location's default class (`POSIX`, or the price profile's), which
 * the catalog does not know: such a tier takes the one line of its location no other tier claims.
 */
function costOf(lines: CostLine[], tier: TierProfile, tiers: TierProfile[]): CostLine | undefined {
  const here = lines.filter((l) => l.group.location === tier.location);
  const exact = here.find((l) => (l.group.class ?? "") === tier.class);
  if (exact || tier.class !== "") return exact;
  const claimed = new Set(tiers.filter((t) => t.location === tier.location).map((t) => t.class));
  const unclaimed = here.filter((l) => !claimed.has(l.group.class ?? ""));
  return unclaimed.length === 1 ? unclaimed[0] : undefined;
}

function ageProfile(tier: TierProfile): string {
  if (tier.bytes === 0) return "empty files only";
  return AGE_BANDS.filter((band) => tier.bands[band])
    .map((band) => `${band}: ${percent((tier.bands[band]?.bytes ?? 0) / tier.bytes)}`)
    .join(", ");
}

async function dataFlowSection(data: ReportData): Promise<Section> {
  const { flow } = data;
  const blocks: Block[] = [
    paragraph(
      "Drawn from the configuration: each location is a box; each policy's placement is an arrow from its source to its target, " +
        "labelled with its schedule, its placement, what happens to the source once the copies are verified, and what it selects.",
    ),
    { kind: "figure", name: "data-flow", caption: "Data flow between locations", svg: await flowSvg(flow) },
  ];
  if (flow.edges.length === 0) {
    blocks.push(paragraph("No policy is configured: nothing flows between locations except what is synced by hand."));
  } else {
    blocks.push(
      table(
        ["Policy", "From", "To", "Schedule", "Placement", "Then", "Selects"],
        flow.edges.map((e) => [
          e.policy,
          e.from,
          e.to,
          e.schedule ?? "by hand",
          e.placement,
          e.then,
          e.selects.join("; ") || "everything",
        ]),
      ),
    );
  }
  return { title: "Data flow", blocks };
}

async function performance(data: ReportData): Promise<Section> {
  return {
    title: "Performance requirements",
    blocks: [],
    sections: [await growthSection(data), await throughputSection(data), scheduleSection(data)],
  };
}

async function growthSection(data: ReportData): Promise<Section> {
  const blocks: Block[] = [
    paragraph(
      "Daily growth per location: the least-squares slope through the bytes and files each finished scan recorded.",
    ),
  ];
  if (data.growth.length === 0) {
    blocks.push(unknown(["Daily growth: no location has a finished scan yet."]));
    return { title: "Daily growth", blocks };
  }
  blocks.push(
    table(
      ["Location", "Scans", "Now", "Bytes per day", "Files per day"],
      data.growth.map((g) => [
        g.location,
        g.basis,
        orDash(g.points.at(-1)?.bytes, formatBytes),
        orDash(g.bytesPerDay, (v) => `${v < 0 ? "-" : ""}${formatBytes(Math.abs(v))}`),
        orDash(g.filesPerDay, (v) => v.toFixed(1)),
      ]),
      [false, false, true, true, true],
    ),
  );
  // Drawn once a rate exists: scans within one day would draw a flat line of one date.
  if (data.growth.some((g) => g.bytesPerDay !== undefined)) {
    const samples = data.growth.flatMap((g) =>
      g.points.map((p) => ({ location: g.location, at: p.at, bytes: p.bytes })),
    );
    blocks.push({
      kind: "figure",
      name: "growth",
      caption: "Size per location at each scan",
      svg: await renderChart(growthSpec(samples)),
    });
  }
  const noRate = data.growth.filter((g) => g.bytesPerDay === undefined);
  blocks.push(
    ...unknowns(
      noRate.map((g) => `Daily growth of ${g.location}: ${g.basis}. A rate needs finished scans at least a day apart.`),
    ),
  );
  return { title: "Daily growth", blocks };
}

async function throughputSection(data: ReportData): Promise<Section> {
  const blocks: Block[] = [
    paragraph(
      "What Strata's own finished runs achieved between each pair of locations (copies and restores), over the runs' wall time.",
    ),
  ];
  if (data.rates.length === 0) {
    blocks.push(
      unknown([
        "Throughput between locations: no finished run has copied or restored anything yet, so no rate has been measured; durations that depend on it are left out.",
      ]),
    );
    return { title: "Throughput per pair of locations", blocks };
  }
  blocks.push(
    table(
      ["From", "To", "Runs", "Files", "Bytes", "Time", "Rate", "Files/s"],
      data.rates.map((r) => [
        r.from,
        r.to,
        count(r.runs),
        count(r.files),
        formatBytes(r.bytes),
        seconds(r.seconds),
        formatRate(r.bytesPerSecond),
        r.filesPerSecond.toFixed(1),
      ]),
      [false, false, true, true, true, true, true, true],
    ),
    {
      kind: "figure",
      name: "throughput",
      caption: "Measured throughput per pair of locations",
      svg: await renderChart(
        throughputSpec(data.rates.map((r) => ({ pair: `${r.from} → ${r.to}`, bytesPerSecond: r.bytesPerSecond }))),
      ),
    },
  );
  return { title: "Throughput per pair of locations", blocks };
}

function scheduleSection(data: ReportData): Section {
  const blocks: Block[] = [
    paragraph(
      "What each scheduled policy must move between two of its runs (its sources' daily growth over the window), " +
        "the time that takes at the measured rate, and the headroom: the window over the time needed (above 1 the schedule keeps up).",
    ),
  ];
  if (data.schedules.length === 0) {
    blocks.push(paragraph("No policy has a schedule: every policy is run by hand, so no window has to be met."));
    return { title: "Schedules and headroom", blocks };
  }
  blocks.push(
    table(
      ["Policy", "Schedule", "Window", "Bytes per run", "Time needed", "Headroom", "Basis"],
      data.schedules.map((s) => [
        s.policy,
        s.schedule,
        seconds(s.windowSeconds),
        orDash(s.bytesPerRun, formatBytes),
        orDash(s.secondsNeeded, seconds),
        orDash(s.headroom, times),
        s.basis,
      ]),
      [false, false, true, true, true, true, false],
    ),
  );
  const missing = data.schedules.filter((s) => s.headroom === undefined);
  blocks.push(...unknowns(missing.map((s) => `Headroom of ${s.policy}: ${s.basis}`)));
  if (missing.length === 0) blocks.push(list(data.schedules.map(keepsUp)));
  return { title: "Schedules and headroom", blocks };
}

function keepsUp(need: ReportData["schedules"][number]): string {
  const headroom = need.headroom as number;
  return headroom >= 1
    ? `${need.policy} keeps up: its window is ${times(headroom)} the time a run needs.`
    : `${need.policy} does not keep up: a run needs ${times(1 / headroom)} its window.`;
}
