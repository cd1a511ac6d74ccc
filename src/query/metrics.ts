import { statfs } from "node:fs/promises";
import { Cron } from "croner";
import { sql } from "kysely";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { descriptorOf, parseLocationUrl } from "../backends/all.js";
import type { CatalogDb } from "../catalog/db.js";
import type { LocationRow } from "../catalog/schema.js";
import { capacityNow } from "../catalog/snapshots.js";
import type { Config } from "../policy/config-schema.js";

/** Prometheus text exposition of Strata's metrics, read from catalog summaries only. */
export interface MetricsSource {
  contentType: string;
  render(): Promise<string>;
}

export interface MetricsOptions {
  /**
   * The monthly cost per location. Pricing lives in report/, which query/ may not import, so
   * the entry point (daemon, server) passes report's costNow here; without it there is no cost metric.
   */
  monthlyCost?: () => Promise<Map<string, number>>;
  /** How long a cost figure is served before it is priced again: costNow reads every billed group. */
  costTtlMs?: number;
}

const DEFAULT_COST_TTL_MS = 10 * 60_000;
/** Run durations: a second to a day. */
const DURATION_BUCKETS = [1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86_400];
const RUN_STATUSES = ["done", "partial", "failed"] as const;

/** The first word of a run's command (apply, sync, restore, verify): bounded, and never a path. */
const commandWord = (command: string) => command.split(" ")[0] ?? command;

interface Instruments {
  files: Gauge;
  logicalBytes: Gauge;
  storedBytes: Gauge;
  replicas: Gauge;
  transferFiles: Counter;
  transferBytes: Counter;
  transferErrors: Counter;
  runs: Counter;
  runDuration: Histogram;
  policyLastRun: Gauge;
  policyLastSuccess: Gauge;
  policyFirstRun: Gauge;
  policyInterval: Gauge;
  actionsPending: Gauge;
  scanEntries: Gauge;
  scanLast: Gauge;
  fsSize: Gauge;
  fsAvail: Gauge;
  monthlyCost: Gauge;
}

function instruments(registry: Registry): Instruments {
  const registers = [registry];
  const gauge = (name: string, help: string, labelNames: string[]) => new Gauge({ name, help, labelNames, registers });
  const counter = (name: string, help: string, labelNames: string[]) =>
    new Counter({ name, help, labelNames, registers });
  const capacity = ["location", "class", "state"];
  const pair = ["source", "target", "backend", "kind"];
  return {
    files: gauge(
      "strata_location_files",
      'Files a location holds: its own (class "") and copies kept there.',
      capacity,
    ),
    logicalBytes: gauge(
      "strata_location_logical_bytes",
      "Bytes of the files a location holds, as the files are.",
      capacity,
    ),
    storedBytes: gauge(
      "strata_location_stored_bytes",
      "Bytes a location stores for them (stubs and released files: 0).",
      capacity,
    ),
    replicas: gauge(
      "strata_replicas",
      "Replicas per location, storage class and replica state, lost ones included.",
      capacity,
    ),
    transferFiles: counter("strata_transfer_files_total", "Files copied or restored, by location pair.", pair),
    transferBytes: counter("strata_transfer_bytes_total", "Bytes copied or restored, by location pair.", pair),
    transferErrors: counter("strata_transfer_errors_total", "Copies and restores that failed, by location pair.", pair),
    runs: counter("strata_runs_total", "Finished runs by command and status.", ["command", "status"]),
    runDuration: new Histogram({
      name: "strata_run_duration_seconds",
      help: "Duration of finished runs.",
      labelNames: ["command", "status"],
      buckets: DURATION_BUCKETS,
      registers,
    }),
    policyLastRun: gauge("strata_policy_last_run_timestamp_seconds", "When a policy's last run finished.", ["policy"]),
    policyLastSuccess: gauge(
      "strata_policy_last_success_timestamp_seconds",
      "When a policy's last run without failure finished.",
      ["policy"],
    ),
    policyFirstRun: gauge(
      "strata_policy_first_run_timestamp_seconds",
      "When a policy's first run finished: staleness counts from it while no run has succeeded.",
      ["policy"],
    ),
    policyInterval: gauge("strata_policy_interval_seconds", "Time between two runs of a policy's schedule.", [
      "policy",
    ]),
    actionsPending: gauge("strata_actions_pending", "Actions planned and not yet settled.", ["kind"]),
    scanEntries: gauge("strata_scan_entries", "Entries the last finished scan of a location saw.", ["location"]),
    scanLast: gauge("strata_scan_last_timestamp_seconds", "When the last scan of a location finished.", ["location"]),
    fsSize: gauge("strata_filesystem_size_bytes", "Size of the filesystem under a file-tree location (statfs).", [
      "location",
    ]),
    fsAvail: gauge(
      "strata_filesystem_avail_bytes",
      "Bytes available to unprivileged users on the filesystem under a file-tree location (statfs).",
      ["location"],
    ),
    monthlyCost: gauge("strata_monthly_cost_usd", "What a location's stored data costs a month (US dollars).", [
      "location",
    ]),
  };
}

/** Metrics of one catalog; each render reads the summaries afresh. */
export function createMetrics(catalog: CatalogDb, config: Config, options: MetricsOptions = {}): MetricsSource {
  const registry = new Registry();
  const m = instruments(registry);
  const durations = new RunDurations(catalog, m.runDuration);
  const cost = options.monthlyCost
    ? new Cached(options.monthlyCost, options.costTtlMs ?? DEFAULT_COST_TTL_MS)
    : undefined;
  // Renders one at a time: each resets and refills the same instruments.
  let queue: Promise<unknown> = Promise.resolve();
  const refresh = async () => {
    const locations = new Map((await catalog.db.selectFrom("locations").selectAll().execute()).map((l) => [l.id, l]));
    const name = (id: number) => locations.get(id)?.name ?? String(id);
    await Promise.all([
      capacity(catalog, m, name),
      transfers(catalog, m, locations),
      runs(catalog, m),
      durations.observeNew(),
      policies(catalog, config, m),
      pendingActions(catalog, m),
      scans(catalog, m, name),
      filesystems([...locations.values()], m),
      cost ? monthlyCost(cost, m) : Promise.resolve(),
    ]);
    return registry.metrics();
  };
  return {
    contentType: registry.contentType,
    render() {
      const rendered = queue.then(refresh);
      queue = rendered.catch(() => undefined);
      return rendered;
    },
  };
}

async function capacity(catalog: CatalogDb, m: Instruments, name: (id: number) => string): Promise<void> {
  const rows = await capacityNow(catalog);
  const replicas = await catalog.db
    .selectFrom("usage_replica_states")
    .select(["location_id", "storage_class", "state", (eb) => eb.fn.sum<number>("copies").as("copies")])
    .groupBy(["location_id", "storage_class", "state"])
    .execute();
  for (const g of [m.files, m.logicalBytes, m.storedBytes, m.replicas]) g.reset();
  for (const r of rows) {
    const labels = { location: name(r.location_id), class: r.storage_class, state: r.state };
    m.files.set(labels, r.files);
    m.logicalBytes.set(labels, r.logical_bytes);
    m.storedBytes.set(labels, r.stored_bytes);
  }
  for (const r of replicas) {
    m.replicas.set({ location: name(r.location_id), class: r.storage_class, state: r.state }, Number(r.copies));
  }
}

async function transfers(catalog: CatalogDb, m: Instruments, locations: Map<number, LocationRow>): Promise<void> {
  const rows = await catalog.db.selectFrom("usage_transfers").selectAll().execute();
  for (const c of [m.transferFiles, m.transferBytes, m.transferErrors]) c.reset();
  for (const r of rows) {
    const target = locations.get(r.target_location_id);
    const labels = {
      source: locations.get(r.source_location_id)?.name ?? "",
      target: target?.name ?? String(r.target_location_id),
      backend: target?.kind ?? "",
      kind: r.kind,
    };
    m.transferFiles.inc(labels, Number(r.files));
    m.transferBytes.inc(labels, Number(r.bytes));
    m.transferErrors.inc(labels, Number(r.errors));
  }
}

/** Finished runs per command and status; every status of a command seen is there, at 0 if none, so `increase` sees the first failure. */
async function runs(catalog: CatalogDb, m: Instruments): Promise<void> {
  const rows = await catalog.db
    .selectFrom("runs")
    .select(["command", "status", (eb) => eb.fn.countAll<number>().as("n")])
    .where("finished_at", "is not", null)
    .groupBy(["command", "status"])
    .execute();
  m.runs.reset();
  for (const word of new Set(rows.map((r) => commandWord(r.command)))) {
    for (const status of RUN_STATUSES) m.runs.inc({ command: word, status }, 0);
  }
  for (const r of rows) m.runs.inc({ command: commandWord(r.command), status: r.status }, Number(r.n));
}

/**
 * prom-client's histograms only accumulate observations, so runs are observed once each, in the
 * order they finished: the first render reads the history, later ones only what finished since.
 */
class RunDurations {
  private after = { finishedAt: -1, id: -1 };

  constructor(
    private readonly catalog: CatalogDb,
    private readonly histogram: Histogram,
  ) {}

  async observeNew(): Promise<void> {
    const { finishedAt, id } = this.after;
    const rows = await this.catalog.db
      .selectFrom("runs")
      .select(["id", "command", "status", "started_at", "finished_at"])
      .where((eb) =>
        eb.or([eb("finished_at", ">", finishedAt), eb.and([eb("finished_at", "=", finishedAt), eb("id", ">", id)])]),
      )
      .where("status", "<>", "running")
      .orderBy("finished_at")
      .orderBy("id")
      .execute();
    for (const r of rows) {
      const finished = Number(r.finished_at);
      this.histogram.observe({ command: commandWord(r.command), status: r.status }, (finished - r.started_at) / 1000);
      this.after = { finishedAt: finished, id: r.id };
    }
  }
}

/** Each configured policy's last run and success, from the runs `strata apply` and the daemon record as "apply NAME…". */
async function policies(catalog: CatalogDb, config: Config, m: Instruments): Promise<void> {
  const rows = await catalog.db
    .selectFrom("runs")
    .select([
      "command",
      "status",
      (eb) => eb.fn.max<number>("finished_at").as("at"),
      (eb) => eb.fn.min<number>("finished_at").as("first"),
    ])
    .where("command", "like", "apply %")
    .where("finished_at", "is not", null)
    .groupBy(["command", "status"])
    .execute();
  const lastRun = new Map<string, number>();
  const lastSuccess = new Map<string, number>();
  const firstRun = new Map<string, number>();
  const later = (map: Map<string, number>, policy: string, at: number) =>
    map.set(policy, Math.max(map.get(policy) ?? 0, at));
  for (const r of rows) {
    for (const policy of r.command.split(" ").slice(1)) {
      later(lastRun, policy, Number(r.at));
      if (r.status === "done") later(lastSuccess, policy, Number(r.at));
      firstRun.set(policy, Math.min(firstRun.get(policy) ?? Number.POSITIVE_INFINITY, Number(r.first)));
    }
  }
  for (const g of [m.policyLastRun, m.policyLastSuccess, m.policyFirstRun, m.policyInterval]) g.reset();
  for (const policy of config.policies) {
    const labels = { policy: policy.name };
    const run = lastRun.get(policy.name);
    const success = lastSuccess.get(policy.name);
    if (run !== undefined) m.policyLastRun.set(labels, run / 1000);
    if (success !== undefined) m.policyLastSuccess.set(labels, success / 1000);
    const first = firstRun.get(policy.name);
    if (first !== undefined) m.policyFirstRun.set(labels, first / 1000);
    if (policy.schedule !== undefined) m.policyInterval.set(labels, scheduleInterval(policy.schedule));
  }
}

/** Seconds between the next two times a cron pattern fires. */
function scheduleInterval(schedule: string): number {
  const [first, second] = new Cron(schedule, { paused: true }).nextRuns(2);
  return first && second ? (second.getTime() - first.getTime()) / 1000 : 0;
}

async function pendingActions(catalog: CatalogDb, m: Instruments): Promise<void> {
  const rows = await catalog.db
    .selectFrom("actions")
    .select(["kind", (eb) => eb.fn.countAll<number>().as("n")])
    .where("state", "=", "pending")
    .groupBy("kind")
    .execute();
  m.actionsPending.reset();
  for (const r of rows) m.actionsPending.set({ kind: r.kind }, Number(r.n));
}

/** The last finished scan per location: one row each, by the scans' ids. */
async function scans(catalog: CatalogDb, m: Instruments, name: (id: number) => string): Promise<void> {
  const { rows } = await sql<{ location_id: number; files: number; finished_at: number }>`
    SELECT s.location_id, s.files, s.finished_at FROM scans s
    WHERE s.id IN (SELECT MAX(id) FROM scans WHERE finished_at IS NOT NULL GROUP BY location_id)`.execute(catalog.db);
  m.scanEntries.reset();
  m.scanLast.reset();
  for (const r of rows) {
    m.scanEntries.set({ location: name(r.location_id) }, Number(r.files));
    m.scanLast.set({ location: name(r.location_id) }, Number(r.finished_at) / 1000);
  }
}

/** statfs of each file-tree location's root; a root not mounted or gone is left out, not an error. */
async function filesystems(locations: LocationRow[], m: Instruments): Promise<void> {
  const roots = locations.flatMap((row) => {
    const parsed = parseLocationUrl(row.url);
    return descriptorOf(parsed.kind).fileTree && "root" in parsed ? [{ name: row.name, root: parsed.root }] : [];
  });
  const stats = await Promise.all(roots.map(({ root }) => statfs(root).catch(() => undefined)));
  m.fsSize.reset();
  m.fsAvail.reset();
  for (const [i, { name }] of roots.entries()) {
    const s = stats[i];
    if (!s) continue;
    m.fsSize.set({ location: name }, s.blocks * s.bsize);
    m.fsAvail.set({ location: name }, s.bavail * s.bsize);
  }
}

async function monthlyCost(cost: Cached<Map<string, number>>, m: Instruments): Promise<void> {
  const byLocation = await cost.get();
  m.monthlyCost.reset();
  for (const [location, value] of byLocation) m.monthlyCost.set({ location }, value);
}

/**
 * A value computed at most once per `ttlMs`. Once there is one, a stale value is served while
 * the next is computed, so no scrape waits for pricing but the very first; a failed pricing
 * keeps the last value and is tried again at the next scrape.
 */
class Cached<T> {
  private settled: { at: number; value: T } | undefined;
  private pending: Promise<T> | undefined;

  constructor(
    private readonly compute: () => Promise<T>,
    private readonly ttlMs: number,
  ) {}

  get(): Promise<T> {
    const fresh = this.settled && Date.now() - this.settled.at < this.ttlMs;
    if (!fresh && !this.pending) {
      const startedAt = Date.now();
      this.pending = this.compute()
        .then((value) => {
          this.settled = { at: startedAt, value };
          return value;
        })
        .finally(() => {
          this.pending = undefined;
        });
      // Heard by the caller when there is no value to serve; otherwise only the next try counts.
      this.pending.catch(() => undefined);
    }
    return this.settled ? Promise.resolve(this.settled.value) : (this.pending as Promise<T>);
  }
}
