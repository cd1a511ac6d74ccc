import { mkdirSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { CatalogDb } from "../../src/catalog/db.js";
import { finishRun, startRun } from "../../src/catalog/journal.js";
import { checkAlerts } from "../../src/engine/alerts/check.js";
import { evaluateAlerts } from "../../src/engine/alerts/evaluate.js";
import { type AlertFacts, gatherFacts } from "../../src/engine/alerts/facts.js";
import { alertsSchema } from "../../src/policy/alerts-config.js";
import { parseStrataConfig } from "../../src/policy/config.js";
import type { Config } from "../../src/policy/config-schema.js";
import { listAlerts } from "../../src/query/alerts.js";
import { costNow } from "../../src/report/cost-now.js";
import { addFile, addLocation, addReplica, addScan } from "../report/cost-rows.js";
import { CATALOG_KINDS, freshCatalog } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const TIB = 1024 ** 4;

/** strata.yaml with every condition on and no receivers (delivery has its own test). */
function writeConfig(dir: string, alerts: string[]): Config {
  const file = join(dir, "strata.yaml");
  writeFileSync(
    file,
    [
      "locations:",
      "  scratch: { url: ./scratch }",
      "  gone: { url: ./no-such-dir }",
      "  archive: { url: s3://bucket/data }",
      "policies:",
      "  - name: nightly",
      "    from: scratch",
      "    place: [{ to: archive }]",
      '    schedule: "0 2 * * *"',
      "alerts:",
      ...alerts.map((line) => `  ${line}`),
      "",
    ].join("\n"),
  );
  return parseStrataConfig(file);
}

describe("alerts: the config", () => {
  it("reads every condition and receiver, with defaults", () => {
    const config = writeConfig(tempDir(), [
      "conditions:",
      "  posixFill: { threshold: 85 }",
      "  stalePolicy: {}",
      "  failedRuns: {}",
      "  lostReplicas: {}",
      "  costOverBudget: { monthly: 500 }",
      "  thawWaiting: { after: 3d }",
      "receivers:",
      "  - name: chat",
      "    webhook: { url: http://127.0.0.1:9/hook }",
      "  - name: ops",
      "    email: { host: smtp.example.org, from: strata@example.org, to: [ops@example.org], userEnv: SMTP_USER, passwordEnv: SMTP_PASS }",
    ]);
    const alerts = config.alerts;
    expect(alerts?.repeat).toBe(4 * HOUR);
    expect(alerts?.conditions.posixFill).toEqual({ threshold: 85, severity: "critical" });
    expect(alerts?.conditions.thawWaiting).toEqual({ after: 3 * DAY, severity: "warning" });
    expect(alerts?.receivers[1]?.email).toMatchObject({ port: 587, security: "starttls", passwordEnv: "SMTP_PASS" });
  });

  it("names the file, line and key of a mistake", () => {
    const dir = tempDir();
    expect(() =>
      writeConfig(dir, ["receivers:", "  - name: ops", "    email: { host: h, from: a@b, to: [c@d], port: 0 }"]),
    ).toThrow(`${join(dir, "strata.yaml")}:13:47: alerts.receivers.0.email.port:`);
    expect(() => writeConfig(dir, ["repeat: often"])).toThrow(/strata\.yaml:11:3: alerts\.repeat: /);
    expect(() =>
      writeConfig(dir, ["receivers:", "  - name: x", "    email: { host: h, from: a@b, to: [c@d], userEnv: U }"]),
    ).toThrow(/alerts\.receivers\.0\.email\.passwordEnv: userEnv and passwordEnv go together/);
  });
});

describe("alerts: the conditions, pure", () => {
  const none: AlertFacts = { fills: [], policies: [], latestRuns: [], lostReplicas: [], waitingThaws: [] };
  const alerts = alertsSchema.parse({
    conditions: { posixFill: { threshold: 90 }, stalePolicy: {}, costOverBudget: { monthly: 100 } },
  });

  it("fires a fill at the threshold, not below it", () => {
    const fills = [
      { location: "a", usedPercent: 90 },
      { location: "b", usedPercent: 89.9 },
    ];
    const found = evaluateAlerts(alerts, { ...none, fills }, 0);
    expect(found.map((f) => [f.rule, f.subject, f.summary])).toEqual([
      ["posix_fill", "a", "a is 90% full (threshold 90%)"],
    ]);
  });

  it("calls a daily policy stale after two days without success, not before", () => {
    const lastSuccess = Date.UTC(2026, 0, 1, 2);
    const policies = [{ policy: "nightly", schedule: "0 2 * * *", lastSuccess }];
    expect(evaluateAlerts(alerts, { ...none, policies }, lastSuccess + 2 * DAY - 1)).toEqual([]);
    const late = evaluateAlerts(alerts, { ...none, policies }, lastSuccess + 2 * DAY + 1);
    expect(late.map((f) => [f.rule, f.subject, f.labels.policy])).toEqual([["policy_stale", "nightly", "nightly"]]);
  });

  it("fires the budget only above it", () => {
    expect(evaluateAlerts(alerts, { ...none, monthlyCost: 100 }, 0)).toEqual([]);
    expect(evaluateAlerts(alerts, { ...none, monthlyCost: 100.5 }, 0)[0]?.rule).toBe("cost_over_budget");
  });
});

describe.each(CATALOG_KINDS)("alerts on %s", (kind) => {
  let catalog: CatalogDb | undefined;
  afterEach(async () => {
    await catalog?.close();
    catalog = undefined;
  });

  it("finds each condition in the catalog, records one row per episode and resolves what ended", async () => {
    const dir = tempDir();
    const config = writeConfig(dir, [
      "conditions:",
      "  posixFill: { threshold: 1, locations: [gone] }",
      "  stalePolicy: {}",
      "  failedRuns: {}",
      "  lostReplicas: {}",
      "  costOverBudget: { monthly: 1 }",
      "  thawWaiting: { after: 1d }",
    ]);
    const alerts = config.alerts ?? alertsSchema.parse({});
    const db = await freshCatalog(kind, dir);
    catalog = db;
    const t0 = Date.now();
    const scratch = await addLocation(db, "scratch", `posix://${dir}/scratch`, "posix");
    const archive = await addLocation(db, "archive", "s3://bucket/data", "s3");
    const scan = await addScan(db, scratch, t0);
    const big = await addFile(db, scratch, scan, { path: "big", size: TIB });
    const small = await addFile(db, scratch, scan, { path: "small", size: 10 });
    await addReplica(db, big, archive, { key: "big", size: TIB, storageClass: "STANDARD", createdAt: t0 });
    await addReplica(db, small, archive, {
      key: "small",
      size: 10,
      storageClass: "GLACIER",
      state: "lost",
      createdAt: t0,
    });
    const thaw = await db.db
      .insertInto("restore_requests")
      .values({
        replica_id: (await db.db.selectFrom("replicas").select("id").where("key", "=", "big").executeTakeFirstOrThrow())
          .id,
        file_id: big,
        tier: "bulk",
        days: 1,
        requested_at: t0 - 2 * DAY,
        expected_at: null,
        target_dir: null,
        replica_state: "archived",
        state: "pending",
        finished_at: null,
        error: null,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    await finishRun(db, await startRun(db, "apply nightly"), "done", {});
    await finishRun(db, await startRun(db, "sync scratch archive"), "partial", {});

    const sources = {
      catalog: db,
      config,
      baseDir: dir,
      env: {},
      monthlyCost: async () => (await costNow(db, config, { by: [], now: t0 })).total.monthly,
    };
    // Three days on: the daily policy last succeeded more than two intervals ago.
    const first = await checkAlerts(sources, alerts, t0 + 3 * DAY);
    expect(first.findings.map((f) => `${f.rule} ${f.subject}`).sort()).toEqual([
      "cost_over_budget monthly",
      "policy_stale nightly",
      "posix_fill gone",
      "replicas_lost archive",
      "run_failed sync scratch archive",
      "thaw_waiting archive",
    ]);
    expect(first.changes).toEqual({ opened: 6, resolved: 0, firing: 6 });
    const again = await checkAlerts(sources, alerts, t0 + 3 * DAY + 60_000);
    expect(again.changes).toEqual({ opened: 0, resolved: 0, firing: 6 });
    expect(await listAlerts(db, { state: "firing" })).toHaveLength(6);

    // Everything but the fill and the cost mended: those four resolve, nothing new opens.
    await db.db.updateTable("replicas").set({ state: "present" }).where("key", "=", "small").execute();
    await db.db.updateTable("restore_requests").set({ state: "done" }).where("id", "=", thaw.id).execute();
    await finishRun(db, await startRun(db, "sync scratch archive"), "done", {});
    await finishRun(db, await startRun(db, "apply nightly"), "done", {});
    const mended = await checkAlerts(sources, alerts, Date.now() + 60_000);
    expect(mended.changes).toEqual({ opened: 0, resolved: 4, firing: 2 });
    const listed = await listAlerts(db, {});
    expect(
      listed
        .filter((a) => a.state === "resolved")
        .map((a) => a.rule)
        .sort(),
    ).toEqual(["policy_stale", "replicas_lost", "run_failed", "thaw_waiting"]);
    for (const a of listed.filter((a) => a.state === "resolved")) expect(a.endsAt).toBeDefined();

    // A failure after the mend is a new episode: a second row, the first stays resolved.
    await finishRun(db, await startRun(db, "sync scratch archive"), "failed", {});
    await checkAlerts(sources, alerts, Date.now() + 120_000);
    const runAlerts = (await listAlerts(db, {})).filter((a) => a.rule === "run_failed");
    expect(runAlerts.map((a) => a.state)).toEqual(["firing", "resolved"]);
  });

  it("measures a POSIX location's fill as df does", async () => {
    const dir = tempDir();
    const config = writeConfig(dir, ["conditions: { posixFill: { locations: [scratch, gone, archive] } }"]);
    const db = await freshCatalog(kind, dir);
    catalog = db;
    mkdirSync(join(dir, "scratch"));
    const fs = statfsSync(join(dir, "scratch"));
    const used = fs.blocks - fs.bfree;
    const facts = await gatherFacts(
      { catalog: db, config, baseDir: dir, monthlyCost: async () => 0 },
      config.alerts ?? alertsSchema.parse({}),
      Date.now(),
    );
    // The filesystem is shared with whatever else runs: allow it to move a little between the two reads.
    expect(facts.fills[0]?.location).toBe("scratch");
    expect(Math.abs((facts.fills[0]?.usedPercent ?? -1) - (used / (used + fs.bavail)) * 100)).toBeLessThan(0.5);
    expect(facts.fills[1]?.location).toBe("gone");
    expect(facts.fills[1]?.error).toMatch(/ENOENT/);
    expect(facts.fills[2]).toEqual({ location: "archive", error: "not a POSIX location of the config" });
  });
});
