import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./ports.js";

/**
 * Debian's Prometheus and Alertmanager, started by a test on free ports with intervals of a
 * second, in a directory of the test's own; `stop()` ends the process and waits for it.
 */

export interface Server {
  url: string;
  /** What the process wrote, for a failing test's message. */
  output(): string;
  stop(): Promise<void>;
}

function started(command: string, args: string[], url: string): Server {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (d: Buffer) => {
    // The last few kB are enough to see why it did not start.
    output = (output + d.toString()).slice(-8000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return { url, output: () => output, stop: () => stopped(child) };
}

function stopped(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("close", () => resolve());
    child.kill("SIGTERM");
  });
}

/** Polls `url` until it answers 200, or fails after `timeoutMs`. */
export async function waitReady(server: Server, path: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`${server.url}${path}`)).ok) return;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`${server.url}${path} not ready:\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Alertmanager routing every alert to `webhookUrl` at once, repeating only after an hour. */
export async function startAlertmanager(dir: string, webhookUrl: string): Promise<Server> {
  const port = await freePort();
  const config = join(dir, "alertmanager.yml");
  writeFileSync(
    config,
    [
      "route:",
      "  receiver: test",
      "  group_by: [alertname]",
      "  group_wait: 1s",
      "  group_interval: 1s",
      "  repeat_interval: 1h",
      "receivers:",
      "  - name: test",
      "    webhook_configs:",
      `      - url: ${webhookUrl}`,
      "        send_resolved: true",
      "",
    ].join("\n"),
  );
  const server = started(
    "prometheus-alertmanager",
    [
      `--config.file=${config}`,
      `--storage.path=${join(dir, "alertmanager-data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // One instance: no gossip port to collide with another test's.
      "--cluster.listen-address=",
    ],
    `http://127.0.0.1:${port}`,
  );
  await waitReady(server, "/-/ready");
  return server;
}

export interface PrometheusSetup {
  rulesFile: string;
  /** host:port of the /metrics endpoint to scrape. */
  target: string;
  /** host:port of Alertmanager. */
  alertmanager: string;
}

/** Prometheus scraping and evaluating every second, sending alerts to the Alertmanager given. */
export async function startPrometheus(dir: string, setup: PrometheusSetup): Promise<Server> {
  const port = await freePort();
  const config = join(dir, "prometheus.yml");
  writeFileSync(
    config,
    [
      "global:",
      "  scrape_interval: 1s",
      "  evaluation_interval: 1s",
      `rule_files: [${JSON.stringify(setup.rulesFile)}]`,
      "alerting:",
      "  alertmanagers:",
      `    - static_configs: [{ targets: [${JSON.stringify(setup.alertmanager)}] }]`,
      "scrape_configs:",
      "  - job_name: strata",
      `    static_configs: [{ targets: [${JSON.stringify(setup.target)}] }]`,
      "",
    ].join("\n"),
  );
  const server = started(
    "prometheus",
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, "prometheus-data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    `http://127.0.0.1:${port}`,
  );
  await waitReady(server, "/-/ready");
  return server;
}

/** The result of an instant query, as [labels, value] pairs. */
export async function promQuery(server: Server, expr: string): Promise<[Record<string, string>, number][]> {
  const response = await fetch(`${server.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await response.json()) as {
    status: string;
    data: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  if (body.status !== "success") throw new Error(`query ${expr}: ${JSON.stringify(body)}`);
  return body.data.result.map((r) => [r.metric, Number(r.value[1])]);
}
