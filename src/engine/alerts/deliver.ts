import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import {
  type AlertDeliveryKind,
  type AlertRow,
  alertsToTell,
  deliveryKey,
  lastSent,
  recordDelivery,
} from "../../catalog/alerts.js";
import type { CatalogDb } from "../../catalog/db.js";
import type { AlertReceiver, AlertsConfig, EmailReceiver } from "../../policy/alerts-config.js";

/*
 * Tells each receiver of each alert: a firing message when it starts and again every `repeat`
 * while it fires, a resolved message once when it ends (only to a receiver that was told it
 * fired). Every attempt is recorded; one that failed is owed still, so the next evaluation
 * tries again. A receiver that is down never stops the others, nor the daemon.
 */

/** How long a resolved message is retried before it is given up on. */
const RESOLVED_RETRY_MS = 24 * 3_600_000;
const WEBHOOK_TIMEOUT_MS = 10_000;
/** Alertmanager's "not ended yet" time. */
const OPEN_END = "0001-01-01T00:00:00Z";

export interface DeliverySettings {
  /** Where a receiver's relative paths (an email `ca:`) are taken from. */
  baseDir: string;
  /** Where the SMTP login's variables are read. */
  env: NodeJS.ProcessEnv;
}

export interface DeliveryTally {
  sent: number;
  failed: number;
  /** Each failure, `receiver: error`, for the log. */
  errors: string[];
}

export async function deliverAlerts(
  catalog: CatalogDb,
  alerts: AlertsConfig,
  settings: DeliverySettings,
  now: number,
): Promise<DeliveryTally> {
  const tally: DeliveryTally = { sent: 0, failed: 0, errors: [] };
  if (alerts.receivers.length === 0) return tally;
  const rows = await alertsToTell(catalog, now - RESOLVED_RETRY_MS);
  const sent = await lastSent(
    catalog,
    rows.map((row) => row.id),
  );
  for (const receiver of alerts.receivers) {
    for (const row of rows) {
      const kind = owed(row, receiver.name, sent, alerts.repeat, now);
      if (kind === undefined) continue;
      const error = await send(receiver, row, kind, settings).then(
        () => undefined,
        (err: Error) => err.message,
      );
      await recordDelivery(catalog, {
        alertId: row.id,
        receiver: receiver.name,
        kind,
        at: now,
        ...(error ? { error } : {}),
      });
      if (error === undefined) tally.sent += 1;
      else {
        tally.failed += 1;
        tally.errors.push(`${receiver.name}: ${error}`);
      }
    }
  }
  return tally;
}

/** The message a receiver is owed of an alert now, if any. */
function owed(
  row: AlertRow,
  receiver: string,
  sent: ReadonlyMap<string, number>,
  repeatMs: number,
  now: number,
): AlertDeliveryKind | undefined {
  const firingSent = sent.get(deliveryKey(row.id, receiver, "firing"));
  if (row.state === "firing") return firingSent === undefined || now - firingSent >= repeatMs ? "firing" : undefined;
  const told = firingSent !== undefined && !sent.has(deliveryKey(row.id, receiver, "resolved"));
  return told ? "resolved" : undefined;
}

function send(receiver: AlertReceiver, row: AlertRow, kind: AlertDeliveryKind, settings: DeliverySettings) {
  if (receiver.webhook) return postWebhook(receiver.webhook.url, receiver.name, row, kind);
  if (receiver.email) return sendEmail(receiver.email, row, kind, settings);
  throw new Error(`receiver ${receiver.name} has neither webhook nor email`);
}

/** The JSON Alertmanager's webhook receiver posts (version 4), for one alert. */
export function webhookPayload(receiver: string, row: AlertRow, kind: AlertDeliveryKind) {
  const labels = labelsOf(row);
  const annotations = { summary: row.summary };
  const alertname = labels.alertname ?? row.rule;
  return {
    version: "4",
    groupKey: `{}:{alertname="${alertname}"}`,
    truncatedAlerts: 0,
    status: kind,
    receiver,
    groupLabels: { alertname },
    commonLabels: labels,
    commonAnnotations: annotations,
    externalURL: "",
    alerts: [
      {
        status: kind,
        labels,
        annotations,
        startsAt: new Date(row.starts_at).toISOString(),
        endsAt: row.ends_at === null ? OPEN_END : new Date(row.ends_at).toISOString(),
        generatorURL: "",
        fingerprint: fingerprint(labels),
      },
    ],
  };
}

function labelsOf(row: AlertRow): Record<string, string> {
  return { ...(JSON.parse(row.labels) as Record<string, string>), subject: row.subject };
}

/** Like Alertmanager's: the same labels give the same 16 hex digits, so receivers can match firing to resolved. */
function fingerprint(labels: Record<string, string>): string {
  const text = Object.keys(labels)
    .sort()
    .map((key) => `${key}\u00ff${labels[key]}`)
    .join("\u00ff");
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

async function postWebhook(url: string, receiver: string, row: AlertRow, kind: AlertDeliveryKind): Promise<void> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(webhookPayload(receiver, row, kind)),
    signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
  });
  // The body is not needed; reading it frees the connection.
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`webhook answered HTTP ${response.status}`);
}

async function sendEmail(
  email: EmailReceiver,
  row: AlertRow,
  kind: AlertDeliveryKind,
  settings: DeliverySettings,
): Promise<void> {
  // Loaded only to send: every command of the CLI would otherwise pay its start-up.
  const { default: nodemailer } = await import("nodemailer");
  const transport = nodemailer.createTransport({
    host: email.host,
    port: email.port,
    secure: email.security === "tls",
    requireTLS: email.security === "starttls",
    ignoreTLS: email.security === "none",
    ...(email.ca ? { tls: { ca: await readFile(resolve(settings.baseDir, email.ca)) } } : {}),
    ...smtpAuth(email, settings.env),
  });
  try {
    const status = kind === "firing" ? "FIRING" : "RESOLVED";
    await transport.sendMail({
      from: email.from,
      to: email.to,
      subject: `[${status}] ${row.rule} ${row.subject}: ${row.summary}`,
      text: emailText(row, kind),
    });
  } finally {
    transport.close();
  }
}

/** The login, from the variables the config names; a name with no value is an error, not a silent anonymous send. */
function smtpAuth(email: EmailReceiver, env: NodeJS.ProcessEnv): { auth?: { user: string; pass: string } } {
  if (email.userEnv === undefined || email.passwordEnv === undefined) return {};
  return { auth: { user: fromEnv(env, email.userEnv), pass: fromEnv(env, email.passwordEnv) } };
}

function fromEnv(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`environment variable ${name} (the SMTP login) is not set`);
  return value;
}

function emailText(row: AlertRow, kind: AlertDeliveryKind): string {
  const lines = [
    `${row.summary}`,
    "",
    `status:   ${kind}`,
    `rule:     ${row.rule}`,
    `subject:  ${row.subject}`,
    `severity: ${row.severity}`,
    `since:    ${new Date(row.starts_at).toISOString()}`,
  ];
  if (row.ends_at !== null) lines.push(`ended:    ${new Date(row.ends_at).toISOString()}`);
  return `${lines.join("\n")}\n`;
}
