import { hostname } from "node:os";
import { Cron } from "croner";
import type { FastifyInstance } from "fastify";
import type { CatalogDb } from "../catalog/db.js";
import type { LoadedConfig } from "../config/load.js";
import { ALERTS_JOB, ALERTS_SCHEDULE, type AlertCheck, checkAlerts } from "../engine/alerts/check.js";
import { withLease } from "../engine/scheduler.js";
import type { AlertsConfig } from "../policy/alerts-config.js";
import type { Config } from "../policy/config-schema.js";
import { costNow } from "../report/cost-now.js";

/** A minute's evaluation holds the lease at most this long if the server dies holding it. */
const LEASE_MS = 60_000;

/**
 * `strata serve` evaluates the config's `alerts:` every minute, as `strata daemon` does, so a
 * site that runs only the server is still told. Both take the one `@alerts` lease: with a
 * daemon beside the server, each minute's messages go once. Nothing here throws into the
 * server: a failed evaluation is logged and the next minute tries again.
 */
/** One evaluation with this process's catalog, config and environment; the cost is `strata cost`'s total. */
export function checkAlertsNow(
  catalog: CatalogDb,
  loaded: LoadedConfig<Config>,
  alerts: AlertsConfig,
  now: number,
): Promise<AlertCheck> {
  return checkAlerts(
    {
      catalog,
      config: loaded.config,
      baseDir: loaded.baseDir,
      env: process.env,
      monthlyCost: async () => (await costNow(catalog, loaded.config, { by: [], now })).total.monthly,
    },
    alerts,
    now,
  );
}

export function evaluateAlertsEveryMinute(
  app: FastifyInstance,
  catalog: CatalogDb,
  loaded: LoadedConfig<Config>,
): void {
  const { alerts } = loaded.config;
  if (!alerts) return;
  const holder = `${hostname()}:${process.pid}:serve`;
  const job = new Cron(ALERTS_SCHEDULE, { protect: true }, async () => {
    try {
      const now = Date.now();
      const leased = await withLease(
        { catalog, holder, leaseMs: LEASE_MS },
        ALERTS_JOB,
        () => checkAlertsNow(catalog, loaded, alerts, now),
        {
          lost: (reason) => app.log.warn({ reason }, "lost the alerts lease"),
          unreleased: (reason) => app.log.warn({ reason }, "the alerts lease was not released"),
        },
      );
      if (leased.held) {
        const { changes, delivery } = leased.value;
        if (changes.opened + changes.resolved + delivery.sent + delivery.failed > 0) {
          app.log.info({ changes, delivery: { sent: delivery.sent, failed: delivery.failed } }, "alerts evaluated");
        }
      }
    } catch (err) {
      app.log.error({ err }, "alert evaluation failed");
    }
  });
  app.addHook("onClose", async () => job.stop());
}
