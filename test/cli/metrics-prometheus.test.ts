import { execFileSync } from "node:child_process";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import { finished, spawnStrata } from "../support/cli.js";
import { freePort } from "../support/ports.js";
import { promQuery, type Server, startAlertmanager, startPrometheus, waitReady } from "../support/prometheus.js";
import { tempDir } from "../support/tmp.js";
import { copyPolicyWorkspace, expectExit } from "../support/workspace.js";

/**
 * The shipped rules in a real Prometheus scraping a real `strata daemon --metrics-listen`: after
 * a failing run, StrataRunsFailing fires and a real Alertmanager posts it to a webhook here.
 */

const RULES = fileURLToPath(new URL("../../deploy/prometheus/strata.rules.yml", import.meta.url));
const RULE_TESTS = fileURLToPath(new URL("../../deploy/prometheus/strata.rules.test.yml", import.meta.url));

interface AlertmanagerMessage {
  status: "firing" | "resolved";
  alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A webhook receiver keeping every message Alertmanager posts. */
async function webhook(): Promise<{ url: string; messages: AlertmanagerMessage[] }> {
  const messages: AlertmanagerMessage[] = [];
  const server: HttpServer = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      messages.push(JSON.parse(body) as AlertmanagerMessage);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`, messages };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function track(server: Server): Server {
  cleanups.push(() => server.stop());
  return server;
}

it("the shipped rules pass promtool", () => {
  const out = execFileSync("promtool", ["check", "rules", RULES], { encoding: "utf8" });
  expect(out).toContain("SUCCESS: 5 rules found");
});

it("the shipped rules fire as their unit tests expect (promtool test rules: stale policies)", () => {
  // promtool exits 1 and prints what it got on any failed expectation.
  const out = execFileSync("promtool", ["test", "rules", RULE_TESTS], { encoding: "utf8" });
  expect(out).toContain("SUCCESS");
});

it("a failing run fires StrataRunsFailing in Prometheus, delivered by Alertmanager", { timeout: 60_000 }, async () => {
  const ws = copyPolicyWorkspace(join(tempDir("strata-prometheus-db-"), "catalog.db"), "strata-prometheus-");
  expectExit(await ws.run("scan", "scratch"), "scan", 0);
  expectExit(await ws.run("apply", "--policy", "copy"), "apply", 0);

  // The daemon serves /metrics and nothing else.
  const metricsPort = await freePort();
  const daemon = spawnStrata(["--config", ws.config, "daemon", "--metrics-listen", `127.0.0.1:${metricsPort}`], {
    cwd: ws.dir,
  });
  const exited = finished(daemon);
  cleanups.push(async () => {
    daemon.kill("SIGTERM");
    await exited;
  });
  const metrics: Server = { url: `http://127.0.0.1:${metricsPort}`, output: () => "", stop: async () => {} };
  await waitReady(metrics, "/metrics");
  expect((await fetch(`${metrics.url}/`)).status).toBe(404);
  expect((await fetch(`${metrics.url}/metrics`, { method: "POST" })).status).toBe(405);

  const receiver = await webhook();
  const alertmanager = track(await startAlertmanager(ws.dir, receiver.url));
  const prometheus = track(
    await startPrometheus(ws.dir, {
      rulesFile: RULES,
      target: `127.0.0.1:${metricsPort}`,
      alertmanager: alertmanager.url.replace("http://", ""),
    }),
  );
  // Scraped twice with no failure yet: the series the rule watches is at 0.
  await until(
    "two scrapes of the zero",
    async () => {
      const r = await promQuery(prometheus, 'count_over_time(strata_runs_total{command="apply",status="partial"}[1m])');
      return (r[0]?.[1] ?? 0) >= 2 ? true : undefined;
    },
    20_000,
  );
  expect(receiver.messages).toEqual([]);

  // A file in the way of b/ makes the next run's copies fail.
  ws.blockB();
  expectExit(await ws.run("scan", "scratch"), "rescan", 0);
  expectExit(await ws.run("apply", "--policy", "copy"), "failing apply", 1);

  const firing = await until(
    "StrataRunsFailing at the webhook",
    async () =>
      receiver.messages
        .flatMap((m) => m.alerts)
        .find((a) => a.labels.alertname === "StrataRunsFailing" && a.status === "firing"),
    30_000,
  );
  expect(firing.labels).toMatchObject({ command: "apply", status: "partial", severity: "warning", job: "strata" });
  expect(firing.annotations.summary).toBe("Strata apply runs ended partial in the last hour");
  // Nothing else is wrong: no other alert was delivered.
  expect(new Set(receiver.messages.flatMap((m) => m.alerts.map((a) => a.labels.alertname)))).toEqual(
    new Set(["StrataRunsFailing"]),
  );
});
