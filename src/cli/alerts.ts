import { hostname } from "node:os";
import { type Command, Option } from "commander";
import { UsageError } from "../config/errors.js";
import { ALERTS_JOB, ALERTS_SCHEDULE, type AlertCheck } from "../engine/alerts/check.js";
import { type Job, withLease } from "../engine/scheduler.js";
import type { AlertsConfig } from "../policy/alerts-config.js";
import { type AlertRecord, type AlertState, listAlerts } from "../query/alerts.js";
import { checkAlertsNow } from "../server/alerts.js";
import type { Context } from "./context.js";
import { count } from "./output.js";
import { EXIT, type Runner } from "./runner.js";

/** An evaluation takes seconds; a check that dies holding the lease blocks the daemons this long at most. */
const CHECK_LEASE_MS = 60_000;

export function registerAlerts(program: Command, run: Runner): void {
  const alerts = program
    .command("alerts")
    .description("the alerts Strata evaluated (alerts: in strata.yaml), newest first; `alerts check` evaluates now")
    .addOption(new Option("--state <state>", "only firing or only resolved alerts").choices(["firing", "resolved"]))
    .action(
      run(async (ctx, opts: { state?: AlertState }) => {
        // Reads only: no catalog is made for a listing.
        ctx.dryRun = true;
        const listed = await listAlerts(ctx.catalog, opts.state ? { state: opts.state } : {});
        for (const alert of listed) ctx.out.data(line(alert));
        if (listed.length === 0) ctx.out.info(opts.state ? `no ${opts.state} alerts` : "no alerts recorded");
        ctx.out.json({ alerts: listed });
        return EXIT.ok;
      }),
    );
  alerts
    .command("check")
    .description("evaluate the alert conditions once, record what fires or resolved, and tell the receivers")
    .action(
      run(async (ctx) => {
        const alerts = configuredAlerts(ctx);
        // Under the daemons' lease: a check beside a daemon's evaluation would send its messages twice.
        const leased = await withLease(
          { catalog: ctx.catalog, holder: `${hostname()}:${process.pid}`, leaseMs: CHECK_LEASE_MS },
          ALERTS_JOB,
          () => checkAlertsNow(ctx.catalog, ctx.loaded, alerts, Date.now()),
          {
            lost: (reason) => ctx.out.warn(`lost the alerts lease: ${reason}`),
            unreleased: (reason) => ctx.out.warn(`the alerts lease was not released (it expires by itself): ${reason}`),
          },
        );
        if (!leased.held) {
          throw new UsageError(`alerts are being evaluated by ${leased.by?.holder ?? "another process"}; try again`);
        }
        const check = leased.value;
        printCheck(ctx, check);
        ctx.out.json({ check: { ...check.changes, delivery: check.delivery, findings: check.findings } });
        return check.delivery.failed > 0 ? EXIT.itemsFailed : EXIT.ok;
      }),
    );
}

/** The config's `alerts:`, refused when there is none: there is nothing to evaluate. */
export function configuredAlerts(ctx: Context): AlertsConfig {
  const { alerts } = ctx.loaded.config;
  if (!alerts) throw new UsageError(`no alerts: section in ${ctx.loaded.file ?? "the config"}`);
  return alerts;
}

function printCheck(ctx: Context, check: AlertCheck): void {
  const { changes, delivery } = check;
  for (const finding of check.findings)
    ctx.out.data(`firing  ${finding.severity}  ${finding.rule}  ${finding.summary}`);
  ctx.out.info(
    `${count(changes.firing)} firing (${count(changes.opened)} new), ${count(changes.resolved)} resolved; ` +
      `${count(delivery.sent)} messages sent, ${count(delivery.failed)} failed`,
  );
  for (const error of delivery.errors) ctx.out.warn(`delivery failed: ${error}`);
}

/** `firing  critical  posix_fill  scratch  since 2026-12-05T12:00:00.000Z  scratch is 93% full (threshold 90%)` */
function line(alert: AlertRecord): string {
  const when = alert.endsAt ? `${alert.startsAt} to ${alert.endsAt}` : `since ${alert.startsAt}`;
  return [alert.state, alert.severity, alert.rule, alert.subject, when, alert.summary].join("  ");
}

/** The daemon's alert evaluation, every minute, when the config has `alerts:`; quiet unless something changed. */
export function alertsJobs(ctx: Context): Job[] {
  const { alerts } = ctx.loaded.config;
  if (!alerts) return [];
  return [
    {
      name: ALERTS_JOB,
      schedule: ALERTS_SCHEDULE,
      run: async () => {
        const { changes, delivery } = await checkAlertsNow(ctx.catalog, ctx.loaded, alerts, Date.now());
        const changed = changes.opened + changes.resolved + delivery.sent + delivery.failed > 0;
        const summary = changed
          ? `${count(changes.firing)} firing (${count(changes.opened)} new), ${count(changes.resolved)} resolved; ` +
            `${count(delivery.sent)} sent, ${count(delivery.failed)} failed${delivery.errors.map((e) => `; ${e}`).join("")}`
          : "";
        return { summary, failed: delivery.failed > 0 };
      },
    },
  ];
}
