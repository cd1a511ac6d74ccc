import type { ReportData } from "../../src/report/gather.js";
import type { CostNow } from "../../src/report/model.js";

/*
 * ReportData built by hand for the render tests: the figures are made up here on purpose, since
 * these tests check drawing and wording, not arithmetic (the figures' own tests do that).
 */

const AT = "2026-12-01T00:00:00.000Z";
const GiB = 1024 ** 3;
const AWS = { profile: "aws", region: "us-east-1", source: "https://aws.amazon.com/s3/pricing/", asOf: "2026-11-20" };

/** A project tag and a selector that try to become markup: they must stay text. */
export const HOSTILE_PROJECT = '"><img src=x>';
export const HOSTILE_NAME = "<script>alert(1)</script>.txt";

function cost(lines: CostNow["lines"], unknown: string[] = []): CostNow {
  const total = lines.reduce(
    (t, l) => ({
      objects: t.objects + l.objects,
      logicalBytes: t.logicalBytes + l.logicalBytes,
      storedBytes: t.storedBytes + l.storedBytes,
      deduplicatedBytes: t.deduplicatedBytes + l.deduplicatedBytes,
      billableBytes: t.billableBytes + l.billableBytes,
      storage: t.storage + l.storage,
      overheads: t.overheads + l.overheads,
      monthly: t.monthly + l.monthly,
      minimumDurationExposure: t.minimumDurationExposure + l.minimumDurationExposure,
    }),
    {
      objects: 0,
      logicalBytes: 0,
      storedBytes: 0,
      deduplicatedBytes: 0,
      billableBytes: 0,
      storage: 0,
      overheads: 0,
      monthly: 0,
      minimumDurationExposure: 0,
    },
  );
  return { at: AT, by: ["location", "class"], lines, total, prices: [AWS], unknown };
}

function line(
  group: CostNow["lines"][number]["group"],
  objects: number,
  bytes: number,
  storage: number,
  overheads: number,
) {
  return {
    group,
    objects,
    logicalBytes: bytes,
    storedBytes: bytes,
    deduplicatedBytes: 0,
    billableBytes: bytes,
    storage,
    overheads,
    monthly: storage + overheads,
    minimumDurationExposure: 0,
  };
}

/** Every part present: three scans a fortnight apart, measured runs, a plan with waves, a forecast with a break-even. */
export function fullReportData(): ReportData {
  const tiers = [
    line({ location: "scratch", class: "POSIX" }, 1200, 800 * GiB, 8, 0),
    line({ location: "archive", class: "STANDARD" }, 300, 120 * GiB, 2.76, 0),
    line({ location: "archive", class: "GLACIER" }, 900, 680 * GiB, 2.448, 0.9),
  ];
  const months = Array.from({ length: 36 }, (_, i) => ({
    month: i + 1,
    asIs: 13.2 + i * 0.4,
    withPolicies: 6.1 + i * 0.15,
    asIsByTier: { scratch: 8 + i * 0.3, "archive/STANDARD": 5.2 + i * 0.1 },
    withPoliciesByTier: { scratch: 2 + i * 0.05, "archive/GLACIER": 4.1 + i * 0.1 },
  }));
  return {
    at: AT,
    months: 36,
    recall: { sharePerYear: 0.05 },
    locations: [
      { name: "scratch", url: "/lustre/scratch/projectX" },
      { name: "archive", url: "s3://lab-archive/projectX", class: "STANDARD" },
    ],
    tiers: [
      {
        location: "archive",
        class: "GLACIER",
        holds: "copies",
        objects: 900,
        bytes: 680 * GiB,
        bands: { "6-12 months": { objects: 400, bytes: 300 * GiB }, "1-2 years": { objects: 500, bytes: 380 * GiB } },
      },
      {
        location: "archive",
        class: "STANDARD",
        holds: "copies",
        objects: 300,
        bytes: 120 * GiB,
        bands: { "< 1 month": { objects: 300, bytes: 120 * GiB } },
      },
      {
        location: "scratch",
        class: "",
        holds: "files",
        objects: 1200,
        bytes: 800 * GiB,
        bands: {
          "< 1 month": { objects: 300, bytes: 120 * GiB },
          "6-12 months": { objects: 400, bytes: 300 * GiB },
          "1-2 years": { objects: 500, bytes: 380 * GiB },
        },
      },
    ],
    cost: {
      byTier: cost(tiers),
      byOwner: { ...cost([line({ owner: "1001" }, 2400, 1600 * GiB, 13.208, 0.9)]), by: ["owner"] },
      byProject: { ...cost([line({ project: HOSTILE_PROJECT }, 2400, 1600 * GiB, 13.208, 0.9)]), by: ["project"] },
    },
    comparison: {
      at: AT,
      recall: { sharePerYear: 0.05 },
      currentMonthly: 14.108,
      groups: [
        {
          name: "large, cold",
          objects: 900,
          bytes: 680 * GiB,
          accessesPerMonth: 0.2,
          placements: [
            {
              provider: "aws",
              class: "DEEP_ARCHIVE",
              storage: 0.67,
              requests: 0,
              retrieval: 0.08,
              egress: 0.3,
              monthly: 1.05,
              upload: 0.045,
              source: AWS,
            },
          ],
          cheapest: "aws/DEEP_ARCHIVE",
        },
      ],
      totals: [
        {
          provider: "aws",
          class: "DEEP_ARCHIVE",
          storage: 1.58,
          requests: 0,
          retrieval: 0.2,
          egress: 0.7,
          monthly: 2.48,
          upload: 0.12,
          source: AWS,
        },
        {
          provider: "aws",
          class: "STANDARD",
          storage: 36.8,
          requests: 0.01,
          retrieval: 0,
          egress: 0.7,
          monthly: 37.51,
          upload: 0.012,
          source: AWS,
        },
      ],
      cheapestMix: { monthly: 2.48, byGroup: { "large, cold": "aws/DEEP_ARCHIVE" } },
      prices: [AWS],
      unknown: [],
    },
    forecast: {
      at: AT,
      months,
      growth: [],
      migration: { oneTime: 21.5, monthlySaving: 7.1, breakEvenMonth: 4 },
      totals: [
        { months: 36, asIs: 727.2, withPolicies: 313.8 },
        { months: 60, asIs: 1500, withPolicies: 600 },
      ],
      roi: 18.2,
      prices: [AWS],
      unknown: [],
    },
    growth: [
      {
        location: "scratch",
        points: [
          { at: "2026-11-03T02:00:00.000Z", files: 1000, bytes: 700 * GiB },
          { at: "2026-11-17T02:00:00.000Z", files: 1100, bytes: 750 * GiB },
          { at: "2026-12-01T02:00:00.000Z", files: 1200, bytes: 800 * GiB },
        ],
        bytesPerDay: (100 * GiB) / 28,
        filesPerDay: 200 / 28,
        basis: "3 scans over 28 days",
      },
    ],
    rates: [
      {
        from: "scratch",
        to: "archive",
        runs: 3,
        files: 2400,
        bytes: 1600 * GiB,
        seconds: 16_000,
        bytesPerSecond: (1600 * GiB) / 16_000,
        filesPerSecond: 0.15,
      },
    ],
    flow: {
      nodes: [
        { location: "scratch", kind: "posix", url: "/lustre/scratch/projectX" },
        { location: "archive", kind: "s3", url: "s3://lab-archive/projectX", defaultClass: "STANDARD" },
      ],
      edges: [
        {
          policy: "scratch-to-s3",
          from: "scratch",
          to: "archive",
          schedule: "0 2 * * *",
          placement: "seed tiering",
          // biome-ignore lint/suspicious/noThenProperty: the policy language's word; this object is never awaited
          then: "keep",
          selects: [`${HOSTILE_NAME} excluded`],
        },
      ],
    },
    waves: [
      {
        name: "older than 1 year, large",
        files: 500,
        bytes: 380 * GiB,
        oneTime: 12.5,
        monthlyDelta: -4.2,
        seconds: 3800,
      },
      { name: "6-12 months, large", files: 400, bytes: 300 * GiB, oneTime: 9, monthlyDelta: -2.9, seconds: 3000 },
    ],
    schedules: [
      {
        policy: "scratch-to-s3",
        schedule: "0 2 * * *",
        windowSeconds: 86_400,
        bytesPerRun: (100 * GiB) / 28,
        secondsNeeded: 36,
        headroom: 2400,
        basis: "growth of scratch over 3 scans; rate of 3 runs scratch → archive",
      },
    ],
    procedures: [
      {
        policy: "scratch-to-s3",
        enabled: true,
        from: ["scratch"],
        to: ["archive (seed tiering)"],
        schedule: "0 2 * * *",
        copies: 1,
        // biome-ignore lint/suspicious/noThenProperty: the policy language's word; this object is never awaited
        then: "keep",
        prune: false,
        selects: [`${HOSTILE_NAME} excluded`],
      },
    ],
    monitoring: {
      eventsRetention: 400 * 86_400_000,
      recentRuns: [{ command: "daemon", status: "done", runs: 3, lastFinished: "2026-12-01T02:40:00.000Z" }],
      replicas: { total: 1200, verified: 1200 },
      pendingPurgeNotices: 0,
    },
  };
}

/** The unknowns the missing-history fixture reports, as the figures' own code would word them. */
export const MISSING = {
  forecast: "Growth: scratch has 1 scan within one day: no growth rate yet, so the forecast holds today's data flat.",
  compare: "Access rates: no file has a recorded access time older than the first scan.",
};

/** One scan, no runs: growth, throughput, durations and headroom cannot be known yet. */
export function missingHistoryData(): ReportData {
  const full = fullReportData();
  return {
    ...full,
    growth: [
      {
        location: "scratch",
        points: [{ at: "2026-12-01T02:00:00.000Z", files: 1200, bytes: 800 * GiB }],
        basis: "1 scan within one day: no growth rate yet",
      },
    ],
    rates: [],
    waves: full.waves.map(({ seconds: _unmeasured, ...wave }) => wave),
    schedules: [
      {
        policy: "scratch-to-s3",
        schedule: "0 2 * * *",
        windowSeconds: 86_400,
        basis: "no growth rate for scratch yet (1 scan)",
      },
    ],
    forecast: {
      ...full.forecast,
      months: [],
      totals: [],
      migration: { oneTime: 21.5, monthlySaving: 7.1 },
      unknown: [MISSING.forecast],
    },
    comparison: { ...full.comparison, unknown: [MISSING.compare] },
    monitoring: { ...full.monitoring, recentRuns: [], replicas: { total: 0, verified: 0 } },
  };
}
