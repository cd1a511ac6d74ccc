import { Cron } from "croner";
import type { AlertFinding } from "../../catalog/alerts.js";
import { formatDuration } from "../../config/units.js";
import type { AlertSeverity, AlertsConfig } from "../../policy/alerts-config.js";
import type { AlertFacts, CountFact, FillFact, PolicyRunFact, RunFact } from "./facts.js";

/*
 * The alert conditions, pure: the facts gathered at `now` in, what fires out (one finding per
 * rule and subject). Whatever was firing and is not found again has resolved.
 */

export const ALERT_RULES = [
  "posix_fill",
  "policy_stale",
  "run_failed",
  "replicas_lost",
  "cost_over_budget",
  "thaw_waiting",
] as const;
export type AlertRule = (typeof ALERT_RULES)[number];

export function evaluateAlerts(alerts: AlertsConfig, facts: AlertFacts, now: number): AlertFinding[] {
  const { posixFill, stalePolicy, failedRuns, lostReplicas, costOverBudget, thawWaiting } = alerts.conditions;
  const findings: AlertFinding[] = [];
  if (posixFill) findings.push(...facts.fills.flatMap((fact) => fillFinding(fact, posixFill)));
  if (stalePolicy) findings.push(...facts.policies.flatMap((fact) => staleFinding(fact, now, stalePolicy.severity)));
  if (failedRuns) findings.push(...facts.latestRuns.flatMap((fact) => failedRunFinding(fact, failedRuns.severity)));
  if (lostReplicas) findings.push(...facts.lostReplicas.map((fact) => lostFinding(fact, lostReplicas.severity)));
  if (costOverBudget && facts.monthlyCost !== undefined && facts.monthlyCost > costOverBudget.monthly) {
    findings.push(costFinding(facts.monthlyCost, costOverBudget.monthly, costOverBudget.severity));
  }
  if (thawWaiting) findings.push(...facts.waitingThaws.map((fact) => thawFinding(fact, now, thawWaiting.severity)));
  return findings;
}

function finding(
  rule: AlertRule,
  subject: string,
  severity: AlertSeverity,
  summary: string,
  labels: Record<string, string>,
): AlertFinding {
  return { rule, subject, severity, summary, labels: { alertname: rule, severity, ...labels } };
}

function fillFinding(
  fact: FillFact,
  { threshold, severity }: { threshold: number; severity: AlertSeverity },
): AlertFinding[] {
  const labels = { location: fact.location };
  // A tree that cannot be looked at is as worth telling as a full one: scratch unmounted, say.
  if (fact.usedPercent === undefined) {
    return [finding("posix_fill", fact.location, severity, `${fact.location}: ${fact.error}`, labels)];
  }
  if (fact.usedPercent < threshold) return [];
  const used = Math.ceil(fact.usedPercent);
  return [
    finding(
      "posix_fill",
      fact.location,
      severity,
      `${fact.location} is ${used}% full (threshold ${threshold}%)`,
      labels,
    ),
  ];
}

/**
 * Stale: no success for twice the schedule's interval (the gap between its next two runs after
 * the last success, or after its first run when none succeeded). A policy that never ran is
 * not judged: nothing says it should have by now.
 */
function staleFinding(fact: PolicyRunFact, now: number, severity: AlertSeverity): AlertFinding[] {
  const since = fact.lastSuccess ?? fact.firstRun;
  if (since === undefined) return [];
  const interval = scheduleInterval(fact.schedule, since);
  if (interval === undefined || now - since <= 2 * interval) return [];
  const what = fact.lastSuccess === undefined ? "has never succeeded" : "has not succeeded";
  const summary = `policy ${fact.policy} ${what} for ${formatDuration(now - since)} (schedule "${fact.schedule}")`;
  return [finding("policy_stale", fact.policy, severity, summary, { policy: fact.policy })];
}

function scheduleInterval(schedule: string, after: number): number | undefined {
  const [first, second] = new Cron(schedule, { paused: true }).nextRuns(2, new Date(after));
  return first && second ? second.getTime() - first.getTime() : undefined;
}

/** The latest run of a command failed or left items failed; the next one that ends well resolves it. */
function failedRunFinding(fact: RunFact, severity: AlertSeverity): AlertFinding[] {
  if (fact.status !== "failed" && fact.status !== "partial") return [];
  const summary = `run ${fact.id} (${fact.command}) ended ${fact.status}`;
  return [finding("run_failed", fact.command, severity, summary, { command: fact.command, run: String(fact.id) })];
}

function lostFinding(fact: CountFact, severity: AlertSeverity): AlertFinding {
  const summary = `${fact.count} replica${fact.count === 1 ? "" : "s"} lost at ${fact.location}`;
  return finding("replicas_lost", fact.location, severity, summary, { location: fact.location });
}

function costFinding(monthly: number, budget: number, severity: AlertSeverity): AlertFinding {
  const summary = `monthly cost ${monthly.toFixed(2)} is over the budget of ${budget.toFixed(2)}`;
  return finding("cost_over_budget", "monthly", severity, summary, {});
}

function thawFinding(fact: CountFact, now: number, severity: AlertSeverity): AlertFinding {
  const waited = formatDuration(now - (fact.oldest ?? now));
  const summary = `${fact.count} restore${fact.count === 1 ? "" : "s"} from ${fact.location} waiting, the oldest for ${waited}`;
  return finding("thaw_waiting", fact.location, severity, summary, { location: fact.location });
}
