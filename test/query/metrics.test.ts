import { statfsSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { parseStrataConfig } from "../../src/policy/config.js";
import { createMetrics } from "../../src/query/metrics.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { parseExposition, type Sample, sampleValue } from "../support/exposition.js";
import { tempDir } from "../support/tmp.js";
import { copyPolicyWorkspace, expectExit } from "../support/workspace.js";
import { bruteCapacity } from "./capacity-brute.js";
import { catalogRows } from "./du-brute.js";

/** Every label a metric may carry: none names a path or a user. */
const ALLOWED_LABELS = new Set([
  "location",
  "class",
  "state",
  "source",
  "target",
  "backend",
  "kind",
  "command",
  "status",
  "policy",
  "le",
]);

/** Every sample of `name`, keyed by its labels in `keys` order. */
function byLabels(samples: Sample[], name: string, keys: string[]): Map<string, number> {
  return new Map(
    samples.filter((s) => s.name === name).map((s) => [JSON.stringify(keys.map((k) => s.labels[k])), s.value]),
  );
}

function tally(map: Map<string, number>, key: unknown[], add: number): void {
  const k = JSON.stringify(key);
  map.set(k, (map.get(k) ?? 0) + add);
}

describe.each(CATALOG_KINDS)("metrics on %s", (kind) => {
  it("expose the catalog's summaries, equal to its rows summed one by one", async () => {
    const url = await freshCatalogUrl(kind, tempDir("strata-metrics-db-"));
    const ws = copyPolicyWorkspace(url, "strata-metrics-");
    expectExit(await ws.run("scan", "scratch"), "scan", 0);
    expectExit(await ws.run("apply", "--policy", "copy"), "apply", 0);
    // A file where b/ must go makes the next copies fail: a partial run, with transfer errors.
    ws.blockB();
    expectExit(await ws.run("scan", "scratch"), "rescan", 0);
    expectExit(await ws.run("apply", "--policy", "copy"), "failing apply", 1);
    expectExit(await ws.run("sync", "scratch", "archive"), "sync", 0);

    const catalog = await openCatalog(url);
    let pricings = 0;
    try {
      const metrics = createMetrics(catalog, parseStrataConfig(ws.config), {
        monthlyCost: async () => {
          pricings++;
          return new Map([["archive", 1.25]]);
        },
      });
      expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
      const samples = parseExposition(await metrics.render());
      const rows = await catalogRows(url);
      const names = new Map(rows.locations.map((l) => [l.id, l.name]));

      // Capacity: the three measures per location, class and state.
      const capacity = bruteCapacity(rows);
      const keys = ["location", "class", "state"];
      expect(byLabels(samples, "strata_location_files", keys)).toEqual(
        new Map([...capacity].map(([k, t]) => [k, t.files])),
      );
      expect(byLabels(samples, "strata_location_logical_bytes", keys)).toEqual(
        new Map([...capacity].map(([k, t]) => [k, t.logicalBytes])),
      );
      expect(byLabels(samples, "strata_location_stored_bytes", keys)).toEqual(
        new Map([...capacity].map(([k, t]) => [k, t.storedBytes])),
      );
      const replicas = new Map<string, number>();
      for (const r of rows.replicas) tally(replicas, [names.get(r.location_id), r.storage_class ?? "", r.state], 1);
      expect(byLabels(samples, "strata_replicas", keys)).toEqual(replicas);

      // Transfers: every event with a target, by pair and kind.
      const events = await catalog.db
        .selectFrom("events")
        .selectAll()
        .where("target_location_id", "is not", null)
        .execute();
      const transferred = {
        files: new Map<string, number>(),
        bytes: new Map<string, number>(),
        errors: new Map<string, number>(),
      };
      for (const e of events) {
        const target = rows.locations.find((l) => l.id === e.target_location_id);
        const key = [names.get(e.location_id ?? 0) ?? "", target?.name, target?.kind, e.kind];
        const failed = e.outcome === "failed";
        tally(transferred.files, key, failed ? 0 : 1);
        tally(transferred.bytes, key, failed ? 0 : e.bytes);
        tally(transferred.errors, key, failed ? 1 : 0);
      }
      const pair = ["source", "target", "backend", "kind"];
      expect(byLabels(samples, "strata_transfer_files_total", pair)).toEqual(transferred.files);
      expect(byLabels(samples, "strata_transfer_bytes_total", pair)).toEqual(transferred.bytes);
      expect(byLabels(samples, "strata_transfer_errors_total", pair)).toEqual(transferred.errors);
      expect(sampleValue(samples, "strata_transfer_errors_total", { target: "backup" })).toBe(1);

      // Runs: counts and durations by command and status; every status of a command is there.
      const runs = await catalog.db.selectFrom("runs").selectAll().execute();
      const counts = new Map<string, number>();
      for (const word of new Set(runs.map((r) => r.command.split(" ")[0]))) {
        for (const status of ["done", "partial", "failed"]) tally(counts, [word, status], 0);
      }
      for (const r of runs) tally(counts, [r.command.split(" ")[0], r.status], 1);
      expect(byLabels(samples, "strata_runs_total", ["command", "status"])).toEqual(counts);
      const observed = new Map([...counts].filter(([, n]) => n > 0));
      expect(byLabels(samples, "strata_run_duration_seconds_count", ["command", "status"])).toEqual(observed);
      const durationSum = runs.reduce((s, r) => s + (Number(r.finished_at) - r.started_at) / 1000, 0);
      const sums = samples.filter((s) => s.name === "strata_run_duration_seconds_sum");
      expect(sums.reduce((s, x) => s + x.value, 0)).toBeCloseTo(durationSum, 6);

      // The policy: last run (the failing one), last success (the first), its schedule's interval.
      const applies = runs.filter((r) => r.command === "apply copy");
      const finished = (status?: string) =>
        Math.max(...applies.filter((r) => !status || r.status === status).map((r) => Number(r.finished_at))) / 1000;
      expect(sampleValue(samples, "strata_policy_last_run_timestamp_seconds", { policy: "copy" })).toBe(finished());
      expect(sampleValue(samples, "strata_policy_last_success_timestamp_seconds", { policy: "copy" })).toBe(
        finished("done"),
      );
      expect(finished()).toBeGreaterThan(finished("done"));
      const firstApply = Math.min(...applies.map((r) => Number(r.finished_at))) / 1000;
      expect(sampleValue(samples, "strata_policy_first_run_timestamp_seconds", { policy: "copy" })).toBe(firstApply);
      expect(sampleValue(samples, "strata_policy_interval_seconds", { policy: "copy" })).toBe(86_400);

      // Scans, pending actions, the filesystem under each tree, the cost.
      const lastScan = await catalog.db.selectFrom("scans").selectAll().orderBy("id", "desc").executeTakeFirstOrThrow();
      expect(sampleValue(samples, "strata_scan_entries", { location: "scratch" })).toBe(lastScan.files);
      expect(sampleValue(samples, "strata_scan_last_timestamp_seconds", { location: "scratch" })).toBe(
        Number(lastScan.finished_at) / 1000,
      );
      expect(samples.filter((s) => s.name === "strata_actions_pending")).toEqual([]);
      const fs = statfsSync(join(ws.dir, "tree"));
      expect(sampleValue(samples, "strata_filesystem_size_bytes", { location: "scratch" })).toBe(fs.blocks * fs.bsize);
      expect(sampleValue(samples, "strata_filesystem_avail_bytes", { location: "backup" })).toBeGreaterThan(0);
      expect(sampleValue(samples, "strata_monthly_cost_usd", { location: "archive" })).toBe(1.25);

      // No label names a path or a user.
      for (const s of samples) {
        for (const [label, value] of Object.entries(s.labels)) {
          expect(ALLOWED_LABELS, `${s.name} ${label}`).toContain(label);
          expect(value, `${s.name} ${label}`).not.toMatch(/\//);
          expect(value).not.toBe(userInfo().username);
        }
      }

      // A second scrape prices nothing again (the cost is cached) and observes no run twice.
      const again = parseExposition(await metrics.render());
      expect(pricings).toBe(1);
      expect(byLabels(again, "strata_run_duration_seconds_count", ["command", "status"])).toEqual(observed);
    } finally {
      await catalog.close();
    }
  });

  it("serve the last cost while the next is priced: only the very first scrape waits for pricing", async () => {
    const dir = tempDir("strata-metrics-cost-");
    const url = await freshCatalogUrl(kind, dir);
    const config = join(dir, "strata.yaml");
    writeFileSync(config, `catalog: ${url}\nlocations:\n  archive:\n    url: local:store\n`);
    const catalog = await openCatalog(url);
    let release: (() => void) | undefined;
    let pricings = 0;
    try {
      const metrics = createMetrics(catalog, parseStrataConfig(config), {
        costTtlMs: 0,
        monthlyCost: async () => {
          const price = pricings++ === 0 ? 1.25 : 2.5;
          // The second pricing is slow: it ends only when the test says so.
          if (pricings === 2) await new Promise<void>((resolve) => (release = resolve));
          return new Map([["archive", price]]);
        },
      });
      const cost = async () =>
        sampleValue(parseExposition(await metrics.render()), "strata_monthly_cost_usd", { location: "archive" });
      expect(await cost()).toBe(1.25);
      expect(await cost()).toBe(1.25);
      expect(pricings).toBe(2);
      release?.();
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(await cost()).toBe(2.5);
    } finally {
      await catalog.close();
    }
  });
});
