import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { finishRun, startRun } from "../../src/catalog/journal.js";
import type { AlertRecord } from "../../src/query/alerts.js";
import { startWebhookReceiver } from "../support/alert-receivers.js";
import { finished, spawnStrata, strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";

/*
 * `strata alerts`, `strata alerts check` and the daemon's evaluation, as real processes on a
 * catalog the CLI made. The runs the conditions look at are journaled with the catalog's own
 * functions: a sync that fails on purpose depends on what the test user may not write.
 */

const webhook = await startWebhookReceiver();
afterAll(() => webhook.close());

function workspace(alerts: boolean): string {
  const dir = tempDir();
  mkdirSync(join(dir, "scratch"));
  mkdirSync(join(dir, "archive"));
  writeFileSync(join(dir, "scratch", "a.txt"), "some data\n");
  const lines = [
    "catalog: cat.db",
    "locations:",
    "  scratch: { url: ./scratch }",
    "  archive: { url: ./archive }",
    "policies:",
    "  - name: nightly",
    "    from: scratch",
    "    place: [{ to: archive }]",
    '    schedule: "0 2 * * *"',
  ];
  if (alerts) {
    lines.push(
      "alerts:",
      "  repeat: 1h",
      "  conditions: { failedRuns: {} }",
      "  receivers:",
      "    - name: chat",
      `      webhook: { url: "${webhook.url}" }`,
    );
  }
  writeFileSync(join(dir, "strata.yaml"), `${lines.join("\n")}\n`);
  return dir;
}

async function journalRun(dir: string, command: string, status: "done" | "failed"): Promise<void> {
  const catalog = await openCatalog(join(dir, "cat.db"));
  try {
    await finishRun(catalog, await startRun(catalog, command), status, {});
  } finally {
    await catalog.close();
  }
}

describe("strata alerts", () => {
  it("refuses to check without an alerts: section", async () => {
    const dir = workspace(false);
    const result = await strata(["alerts", "check"], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("no alerts: section in");
  });

  it("checks, lists, and the daemon resolves what a later run mended", async () => {
    const dir = workspace(true);
    expect((await strata(["scan", "scratch"], { cwd: dir })).code).toBe(0);
    await journalRun(dir, "sync scratch archive", "failed");

    const check = await strata(["alerts", "check"], { cwd: dir });
    expect(check.stderr).toBe("");
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/^firing {2}warning {2}run_failed {2}run \d+ \(sync scratch archive\) ended failed$/m);
    expect(check.stdout).toContain("1 firing (1 new), 0 resolved; 1 messages sent, 0 failed");
    expect(webhook.posts).toHaveLength(1);

    const listed = await strata(["--json", "alerts"], { cwd: dir });
    const { alerts } = JSON.parse(listed.stdout) as { alerts: AlertRecord[] };
    expect(alerts.map((a) => [a.rule, a.subject, a.state])).toEqual([["run_failed", "sync scratch archive", "firing"]]);
    expect(alerts[0]?.lastSentAt).toBeDefined();

    // Checked again inside the repeat period: nothing is sent twice.
    expect((await strata(["alerts", "check"], { cwd: dir })).stdout).toContain("0 messages sent");
    expect(webhook.posts).toHaveLength(1);

    await journalRun(dir, "sync scratch archive", "done");
    const daemon = await strata(["daemon", "--once"], { cwd: dir });
    expect(daemon.code).toBe(0);
    expect(daemon.stdout).toContain("@alerts: finished in");
    expect(daemon.stdout).toContain("0 firing (0 new), 1 resolved; 1 sent, 0 failed");
    expect(webhook.posts).toHaveLength(2);
    expect((webhook.posts[1] as { status: string }).status).toBe("resolved");

    const resolved = await strata(["alerts", "--state", "resolved"], { cwd: dir });
    expect(resolved.stdout).toMatch(/^resolved {2}warning {2}run_failed {2}sync scratch archive {2}\S+ to \S+ {2}/m);
    expect((await strata(["alerts", "--state", "firing"], { cwd: dir })).stdout).toBe("no firing alerts\n");
  });

  it("is evaluated by the running daemon every minute", { timeout: 150_000 }, async () => {
    const dir = workspace(true);
    expect((await strata(["scan", "scratch"], { cwd: dir })).code).toBe(0);
    await journalRun(dir, "apply nightly", "failed");
    const before = webhook.posts.length;
    const daemon = spawnStrata(["daemon"], { cwd: dir });
    const done = finished(daemon);
    // The first minute boundary comes within 60 s; a little more for a busy machine.
    const deadline = Date.now() + 75_000;
    while (webhook.posts.length === before && Date.now() < deadline) await sleep(500);
    daemon.kill("SIGTERM");
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('@alerts: scheduled "* * * * *"');
    expect(
      webhook.posts.slice(before).map((p) => (p as { commonLabels: Record<string, string> }).commonLabels),
    ).toEqual([expect.objectContaining({ alertname: "run_failed", subject: "apply nightly" })]);
  });
});
