import { formatBytes, formatUsd } from "../../config/units.js";
import type { Procedure, ReportData } from "../gather.js";
import { renderChart, wavesSpec } from "../render/charts.js";
import { type Block, list, paragraph, type ReportDocument, type Section, table, unknown } from "../render/document.js";
import { count, orDash, percent, seconds, span } from "./common.js";

/** The implementation plan: migration waves, synchronization procedures, monitoring and alerting. */
export async function implementationPlan(data: ReportData): Promise<ReportDocument> {
  return {
    name: "implementation-plan",
    title: "Implementation plan",
    intro: `How the data gets where the policies place it, and how that is kept and watched, as configured on ${data.at}.`,
    sections: [await waves(data), procedures(data), monitoring(data)],
  };
}

async function waves(data: ReportData): Promise<Section> {
  const blocks: Block[] = [
    paragraph(
      "The enabled policies' current plan, grouped into waves by age and then size: each wave's files and bytes, " +
        "its duration at the rate Strata's own runs measured between its locations, its one-time cost and the monthly change it brings.",
    ),
  ];
  if (data.waves.length === 0) {
    blocks.push(
      paragraph("The current plan moves nothing: every file is where the policies place it, so there is no wave."),
    );
    return { title: "Migration waves", blocks };
  }
  const total = data.waves.reduce(
    (t, w) => ({
      files: t.files + w.files,
      bytes: t.bytes + w.bytes,
      oneTime: t.oneTime + w.oneTime,
      monthly: t.monthly + w.monthlyDelta,
    }),
    { files: 0, bytes: 0, oneTime: 0, monthly: 0 },
  );
  const timed = data.waves.every((w) => w.seconds !== undefined);
  const totalSeconds = data.waves.reduce((s, w) => s + (w.seconds ?? 0), 0);
  blocks.push(
    table(
      ["Wave", "Files", "Bytes", "Duration", "One-time cost", "Monthly change"],
      [
        ...data.waves.map((w) => [
          w.name,
          count(w.files),
          formatBytes(w.bytes),
          orDash(w.seconds, seconds),
          formatUsd(w.oneTime),
          formatUsd(w.monthlyDelta),
        ]),
        [
          "All waves",
          count(total.files),
          formatBytes(total.bytes),
          timed ? seconds(totalSeconds) : "—",
          formatUsd(total.oneTime),
          formatUsd(total.monthly),
        ],
      ],
      [false, true, true, true, true, true],
    ),
    {
      kind: "figure",
      name: "waves",
      caption: "Bytes moved per migration wave",
      svg: await renderChart(wavesSpec(data.waves.map((w) => ({ wave: w.name, bytes: w.bytes })))),
    },
  );
  const untimed = data.waves.filter((w) => w.seconds === undefined);
  if (untimed.length > 0) {
    blocks.push(
      unknown(
        untimed.map(
          (w) =>
            `Duration of ${w.name}: no finished run has moved data between its locations yet, so no rate is measured.`,
        ),
      ),
    );
  }
  return { title: "Migration waves", blocks };
}

function procedures(data: ReportData): Section {
  const blocks: Block[] = [
    paragraph(
      "Each policy as configured in strata.yaml: what it selects, where it places copies, how many verified copies it requires, " +
        "what happens to the source then, and when it runs (strata daemon runs each enabled policy on its schedule; strata apply runs them by hand).",
    ),
  ];
  if (data.procedures.length === 0) {
    blocks.push(paragraph("No policy is configured: copies are made by hand with strata sync SOURCE TARGET."));
    return { title: "Synchronization procedures", blocks };
  }
  return {
    title: "Synchronization procedures",
    blocks,
    sections: data.procedures.map((p) => ({ title: `Policy ${p.policy}`, blocks: [list(procedureLines(p))] })),
  };
}

function procedureLines(p: Procedure): string[] {
  const lines = [
    p.enabled ? "Enabled." : "Disabled: the daemon skips it; it runs only when named.",
    `From: ${p.from.join(", ")}.`,
    `Selects: ${p.selects.length > 0 ? p.selects.join("; ") : "every file"}.`,
    `Places copies at: ${p.to.length > 0 ? p.to.join(", ") : "nowhere (no place entry)"}.`,
    `Verified copies required: ${p.copies}; each copy is read back and its SHA-256 compared before it counts.`,
    `Then: ${p.then === "keep" ? "the source is kept" : p.then === "release" ? "the source is released to a stub once its copies are verified" : "the source is purged after notice"}.`,
    p.prune
      ? "Prune: copies of files deleted at the source are removed."
      : "Prune: off; copies of deleted files are kept.",
    p.schedule
      ? `Schedule: ${p.schedule} (cron, run by strata daemon).`
      : "Schedule: none; run by hand with strata apply.",
  ];
  if (p.purge) {
    lines.push(
      `Purge: announced after ${span(p.purge.afterMs)} unread, deleted no sooner than ${span(p.purge.graceMs)} later if still unread` +
        `${p.purge.notices ? `; notices written to ${p.purge.notices}` : ""}${p.purge.webhook ? `; announced to ${p.purge.webhook}` : ""}.`,
    );
  }
  return lines;
}

function monitoring(data: ReportData): Section {
  const m = data.monitoring;
  const scheduled = data.procedures.filter((p) => p.enabled && p.schedule);
  const configured = [
    scheduled.length > 0
      ? `Daemon schedules: ${scheduled.map((p) => `${p.policy} at ${p.schedule}`).join("; ")}. Each run is journaled; its outcome is in strata log.`
      : "Daemon schedules: none; no policy runs by itself.",
    `Verification: every copy is read back and checked when written; ${count(m.replicas.verified)} of ${count(m.replicas.total)} copies have a recorded verification` +
      `${m.replicas.total > 0 ? ` (${percent(m.replicas.verified / m.replicas.total)})` : ""}. Periodic re-reads (strata verify) are not scheduled in strata.yaml; run them from cron or a timer.`,
    `Events retention: ${m.eventsRetention === "forever" ? "kept forever" : `${span(m.eventsRetention)}, pruned at the end of each run that changes something`}.`,
    `Purge notices: ${count(m.pendingPurgeNotices)} announced and not yet carried out${data.procedures.some((p) => p.purge?.notices || p.purge?.webhook) ? "" : "; no policy writes notices"}.`,
  ];
  const runs =
    m.recentRuns.length === 0
      ? [paragraph("No run finished in the last 30 days.")]
      : [
          paragraph("Runs finished in the last 30 days:"),
          table(
            ["Command", "Status", "Runs", "Last finished"],
            m.recentRuns.map((r) => [r.command, r.status, count(r.runs), r.lastFinished]),
            [false, false, true, false],
          ),
        ];
  return {
    title: "Monitoring and alerting",
    blocks: [
      paragraph("What is configured:"),
      list(configured),
      ...runs,
      paragraph(
        "Alerting is not configured: strata.yaml has no alerting settings yet, so a failed or late run, a lost copy or a schedule " +
          "that falls behind is seen only in the exit codes, strata log and this report. Wire the daemon's exit code and strata log into the site's alerting.",
      ),
    ],
  };
}
