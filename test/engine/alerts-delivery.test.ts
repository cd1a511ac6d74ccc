import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { CatalogDb } from "../../src/catalog/db.js";
import { finishRun, startRun } from "../../src/catalog/journal.js";
import { checkAlerts } from "../../src/engine/alerts/check.js";
import { parseStrataConfig } from "../../src/policy/config.js";
import type { Config } from "../../src/policy/config-schema.js";
import { listAlerts } from "../../src/query/alerts.js";
import { addFile, addLocation, addReplica, addScan } from "../report/cost-rows.js";
import { startSmtpReceiver, startWebhookReceiver } from "../support/alert-receivers.js";
import { CATALOG_KINDS, freshCatalog } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";

const LOGIN = { user: "strata", pass: "s3cret-from-env" };

interface WebhookBody {
  version: string;
  status: string;
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  alerts: {
    status: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    startsAt: string;
    endsAt: string;
    fingerprint: string;
  }[];
}

function writeConfig(dir: string, webhookUrl: string, smtpPort: number, caFile: string): Config {
  const file = join(dir, "strata.yaml");
  writeFileSync(
    file,
    [
      "locations:",
      "  archive: { url: s3://bucket/data }",
      "alerts:",
      "  repeat: 2s",
      "  conditions: { failedRuns: {}, lostReplicas: {} }",
      "  receivers:",
      "    - name: chat",
      `      webhook: { url: "${webhookUrl}" }`,
      "    - name: ops",
      "      email:",
      "        host: 127.0.0.1",
      `        port: ${smtpPort}`,
      "        security: starttls",
      `        ca: ${caFile}`,
      "        from: strata@example.org",
      "        to: [ops@example.org]",
      "        userEnv: TEST_SMTP_USER",
      "        passwordEnv: TEST_SMTP_PASSWORD",
      "",
    ].join("\n"),
  );
  return parseStrataConfig(file);
}

describe.each(CATALOG_KINDS)("alert delivery on %s", (kind) => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  /** A webhook receiver, an SMTP server, a fresh catalog and the config that sends to both. */
  async function setUp() {
    const dir = tempDir();
    const webhook = await startWebhookReceiver();
    const smtp = await startSmtpReceiver(dir, LOGIN);
    const catalog: CatalogDb = await freshCatalog(kind, dir);
    closers.push(webhook.close, smtp.close, () => catalog.close());
    const config = writeConfig(dir, webhook.url, smtp.port, smtp.caFile);
    const alerts = config.alerts;
    if (!alerts) throw new Error("the config has alerts");
    return { dir, webhook, smtp, catalog, config, alerts };
  }

  it("sends one message per alert, none again inside the repeat period, a resolved message once", async () => {
    const { dir, webhook, smtp, catalog, config, alerts } = await setUp();
    const sources = {
      catalog,
      config,
      baseDir: dir,
      env: { TEST_SMTP_USER: LOGIN.user, TEST_SMTP_PASSWORD: LOGIN.pass },
      monthlyCost: async () => 0,
    };

    const archive = await addLocation(catalog, "archive", "s3://bucket/data", "s3");
    const scan = await addScan(catalog, archive, 0);
    const file = await addFile(catalog, archive, scan, { path: "f", size: 1 });
    await addReplica(catalog, file, archive, { key: "f", size: 1, storageClass: null, state: "lost", createdAt: 0 });
    await finishRun(catalog, await startRun(catalog, "sync scratch archive"), "failed", {});

    const t = Date.now();
    const first = await checkAlerts(sources, alerts, t);
    expect(first.delivery).toEqual({ sent: 4, failed: 0, errors: [] });
    const posts = () => webhook.posts as WebhookBody[];
    expect(
      posts()
        .map((p) => `${p.status} ${p.commonLabels.alertname}`)
        .sort(),
    ).toEqual(["firing replicas_lost", "firing run_failed"]);
    const lost = posts().find((p) => p.commonLabels.alertname === "replicas_lost") as WebhookBody;
    expect(lost).toMatchObject({
      version: "4",
      status: "firing",
      receiver: "chat",
      groupLabels: { alertname: "replicas_lost" },
      commonLabels: { alertname: "replicas_lost", severity: "critical", location: "archive", subject: "archive" },
    });
    expect(lost.alerts).toEqual([
      {
        status: "firing",
        labels: lost.commonLabels,
        annotations: { summary: "1 replica lost at archive" },
        startsAt: new Date(t).toISOString(),
        endsAt: "0001-01-01T00:00:00Z",
        generatorURL: "",
        fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
      },
    ]);
    expect(smtp.mails.map((m) => m.subject).sort()).toEqual([
      "[FIRING] replicas_lost archive: 1 replica lost at archive",
      expect.stringMatching(
        /^\[FIRING\] run_failed sync scratch archive: run \d+ \(sync scratch archive\) ended failed$/,
      ),
    ]);
    for (const mail of smtp.mails) {
      expect(mail).toMatchObject({
        from: "strata@example.org",
        to: ["ops@example.org"],
        secure: true,
        user: LOGIN.user,
      });
    }

    // Inside the repeat period: nothing again.
    expect((await checkAlerts(sources, alerts, t + 1000)).delivery.sent).toBe(0);
    expect([webhook.posts.length, smtp.mails.length]).toEqual([2, 2]);

    // The run mended: its resolved message goes once; the lost replica repeats after 2s, once.
    await finishRun(catalog, await startRun(catalog, "sync scratch archive"), "done", {});
    const mended = await checkAlerts(sources, alerts, t + 2500);
    expect(mended.delivery.sent).toBe(4);
    const latest = posts().slice(2);
    expect(latest.map((p) => `${p.status} ${p.commonLabels.alertname}`).sort()).toEqual([
      "firing replicas_lost",
      "resolved run_failed",
    ]);
    const resolved = latest.find((p) => p.status === "resolved") as WebhookBody;
    expect(resolved.alerts[0]?.endsAt).toBe(new Date(t + 2500).toISOString());
    const firingRun = posts().find((p) => p.commonLabels.alertname === "run_failed") as WebhookBody;
    expect(resolved.alerts[0]?.fingerprint).toBe(firingRun.alerts[0]?.fingerprint);
    expect(
      smtp.mails
        .slice(2)
        .map((m) => m.subject.split(" ")[0])
        .sort(),
    ).toEqual(["[FIRING]", "[RESOLVED]"]);

    for (const at of [t + 3000, t + 4000]) expect((await checkAlerts(sources, alerts, at)).delivery.sent).toBe(0);
    expect([webhook.posts.length, smtp.mails.length]).toEqual([4, 4]);

    const deliveries = await catalog.db.selectFrom("alert_deliveries").selectAll().orderBy("id").execute();
    expect(deliveries).toHaveLength(8);
    expect(deliveries.every((d) => d.outcome === "sent" && d.error === null)).toBe(true);
    const [lostAlert] = await listAlerts(catalog, { state: "firing" });
    expect(lostAlert?.lastSentAt).toBe(new Date(t + 2500).toISOString());
  });

  it("records a failed delivery, keeps going, and retries it at the next evaluation", async () => {
    const { dir, webhook, smtp, catalog, config, alerts } = await setUp();
    // The login's variables are not set: the mail fails, the webhook is down.
    const sources = { catalog, config, baseDir: dir, env: {}, monthlyCost: async () => 0 };
    webhook.failWith = 503;
    await finishRun(catalog, await startRun(catalog, "apply nightly"), "partial", {});

    const t = Date.now();
    const failed = await checkAlerts(sources, alerts, t);
    expect(failed.delivery.sent).toBe(0);
    expect(failed.delivery.errors.sort()).toEqual([
      "chat: webhook answered HTTP 503",
      "ops: environment variable TEST_SMTP_USER (the SMTP login) is not set",
    ]);
    const rows = await catalog.db.selectFrom("alert_deliveries").selectAll().execute();
    expect(rows.map((r) => [r.receiver, r.kind, r.outcome]).sort()).toEqual([
      ["chat", "firing", "failed"],
      ["ops", "firing", "failed"],
    ]);

    // Mended receivers: the owed message goes at the next evaluation, inside the repeat period or not.
    webhook.failWith = undefined;
    const retried = await checkAlerts(
      { ...sources, env: { TEST_SMTP_USER: LOGIN.user, TEST_SMTP_PASSWORD: LOGIN.pass } },
      alerts,
      t + 500,
    );
    expect(retried.delivery).toEqual({ sent: 2, failed: 0, errors: [] });
    expect([webhook.posts.length, smtp.mails.length]).toEqual([1, 1]);

    // A wrong password: refused by the server, recorded, not thrown.
    const refused = await checkAlerts(
      { ...sources, env: { TEST_SMTP_USER: LOGIN.user, TEST_SMTP_PASSWORD: "wrong" } },
      alerts,
      t + 3000,
    );
    expect(refused.delivery.sent).toBe(1);
    expect(refused.delivery.errors).toEqual([expect.stringMatching(/^ops: .*invalid login/i)]);
  });
});
