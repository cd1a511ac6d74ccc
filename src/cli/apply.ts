import { basename } from "node:path";
import type { Command } from "commander";
import { printablePath } from "../backends/keys.js";
import { UsageError } from "../config/errors.js";
import { formatDuration, formatUsd } from "../config/units.js";
import { type ApplyReport, applyPlan, applyPolicies } from "../engine/apply.js";
import type { TransferSettings } from "../engine/toolkit.js";
import type { PlanTotal, PolicyAction } from "../policy/actions.js";
import { readPlanFile } from "../policy/plan-file.js";
import { ACTION_KINDS, PlanTotals, planPolicies, selectPolicies } from "../policy/planner.js";
import type { Policy } from "../policy/schema.js";
import type { Context } from "./context.js";
import { collect, type TransferFlags, transferOptions, transferSettings } from "./options.js";
import { count, filesAndBytes } from "./output.js";
import { gcSummary } from "./pack.js";
import { EXIT, type Runner } from "./runner.js";

interface ApplyCliOptions extends TransferFlags {
  policy: string[];
  dryRun: boolean;
  force: boolean;
}

export function registerApply(program: Command, run: Runner): void {
  const command = program
    .command("apply")
    .description("carry out a plan: exactly the plan file given, or the policies planned now")
    .argument("[plan]", "a plan file written by `strata plan --out`; without one, the policies are planned first")
    .option("--policy <name>", "only this policy's actions (repeatable)", collect, [])
    .option("-n, --dry-run", "print what would be done and change nothing", false)
    .option("--force", "prune past the maxDeleteShare guard", false);
  transferOptions(command, "actions in flight").action(
    run(async (ctx, planPath: string | undefined, opts: ApplyCliOptions) => {
      ctx.dryRun = opts.dryRun;
      // Before any location is opened: --tps applies to each cloud location as it is opened.
      const settings = transferSettings(ctx, opts);
      return planPath === undefined ? applyPlanned(ctx, opts, settings) : applyFile(ctx, planPath, opts, settings);
    }),
  );
}

async function applyFile(
  ctx: Context,
  planPath: string,
  opts: ApplyCliOptions,
  settings: TransferSettings,
): Promise<number> {
  const plan = await readPlanFile(planPath);
  const unknown = opts.policy.find((name) => !plan.header.policies.includes(name));
  if (unknown !== undefined) {
    throw new UsageError(`--policy ${unknown}: not in ${planPath} (it holds ${plan.header.policies.join(", ")})`);
  }
  const wanted = (policy: string) => opts.policy.length === 0 || opts.policy.includes(policy);
  const totals = plan.totals.filter((t) => wanted(t.policy));
  printPlan(ctx, `Plan ${basename(planPath)} of ${plan.header.createdAt}`, totals);
  if (opts.dryRun || totals.length === 0) return done(ctx, totals);
  const deps = ctx.configuredOnly();
  const policies = plan.header.policies.filter(wanted);
  await ctx.locations.checkPolicyLocations(policies);
  const command = `apply ${basename(planPath)}`;
  return ctx.holding(ctx.locations.policyLocations(policies), command, async (signal) => {
    const progress = ctx.out.progress(sum(totals));
    const report = await applyPlan(deps, only(plan.actions, wanted), {
      ...settings,
      plannedAt: Date.parse(plan.header.createdAt),
      command,
      signal,
      progress: { bytes: (n) => progress.addBytes(n), fileDone: () => progress.fileDone() },
    }).finally(() => progress.stop());
    return finish(ctx, totals, report);
  });
}

async function applyPlanned(ctx: Context, opts: ApplyCliOptions, settings: TransferSettings): Promise<number> {
  const { config } = ctx.loaded;
  const policies = selectPolicies(config, opts.policy);
  const names = policies.map((p) => p.name);
  if (names.length === 0) throw new UsageError("no enabled policies in the config: nothing to apply");
  // Planned under the leases too: a plan made while another run changes the files is stale at once.
  return ctx.holding(ctx.locations.policyLocations(names), `apply ${names.join(" ")}`, (signal) =>
    planAndApply(ctx, opts, settings, policies, signal),
  );
}

async function planAndApply(
  ctx: Context,
  opts: ApplyCliOptions,
  settings: TransferSettings,
  policies: readonly Policy[],
  signal: AbortSignal,
) {
  const { config } = ctx.loaded;
  const names = policies.map((p) => p.name);
  const counted = new PlanTotals();
  const planOptions = { policies: opts.policy, now: Date.now(), force: opts.force };
  for await (const action of planPolicies(ctx.catalog, config, planOptions)) {
    counted.add(action);
  }
  const totals = counted.list();
  printPlan(ctx, `Plan of ${names.join(", ")}`, totals);
  for (const p of policies) {
    if (p.then === "keep" || !totals.some((t) => t.policy === p.name && t.kind === "copy")) continue;
    const next = p.then === "release" ? "releases" : "announces for purge";
    ctx.out.info(`  ${p.name}  then ${next} what these copies make safe, planned again once they are verified`);
  }
  // A placement's `pack.gc` has work to do even when no file has.
  const packGc = policies.some((p) => p.place.some((place) => place.pack?.gc));
  if (opts.dryRun || (totals.length === 0 && !packGc)) return done(ctx, totals);
  await ctx.locations.checkPolicyLocations(names);
  const progress = ctx.out.progress(sum(totals));
  const report = await applyPolicies(ctx.configuredOnly(), {
    policies: opts.policy,
    force: opts.force,
    signal,
    ...settings,
    progress: { bytes: (n) => progress.addBytes(n), fileDone: () => progress.fileDone() },
  }).finally(() => progress.stop());
  return finish(ctx, totals, report);
}

async function* only(actions: AsyncIterable<PolicyAction>, wanted: (policy: string) => boolean) {
  for await (const action of actions) if (wanted(action.policy)) yield action;
}

function sum(totals: readonly PlanTotal[]): { files: number; bytes: number } {
  return totals.reduce((s, t) => ({ files: s.files + t.files, bytes: s.bytes + t.bytes }), { files: 0, bytes: 0 });
}

function printPlan(ctx: Context, title: string, totals: readonly PlanTotal[]): void {
  if (totals.length === 0) {
    ctx.out.info(`${title}: nothing to do`);
    return;
  }
  ctx.out.info(`${title}:`);
  for (const t of totals) {
    ctx.out.info(
      `  ${t.policy}  ${t.kind.padEnd(10)} ${filesAndBytes(t.files, t.bytes)}, ` +
        `${t.monthlyCostDelta > 0 ? "+" : ""}${formatUsd(t.monthlyCostDelta)}/month, ${formatUsd(t.oneTimeCost)} once`,
    );
  }
}

function done(ctx: Context, totals: readonly PlanTotal[]): number {
  ctx.out.json({ plan: totals, dryRun: true });
  return EXIT.ok;
}

function finish(ctx: Context, totals: readonly PlanTotal[], report: ApplyReport): number {
  const { out } = ctx;
  for (const f of report.failures) {
    out.warn(`failed: ${f.kind} ${f.location}:${printablePath(f.path)}: ${f.reason}`);
  }
  for (const s of report.stale) out.detail(`skipped: ${s.kind} ${s.location}:${printablePath(s.path)}: ${s.reason}`);
  out.info(`Applied in ${formatDuration(report.elapsedMs)}:`);
  for (const kind of ACTION_KINDS) {
    const k = report.kinds[kind];
    if (k.files + k.stale + k.failed === 0) continue;
    out.info(
      `  ${kind.padEnd(10)} ${filesAndBytes(k.files, k.bytes)}, ${count(k.stale)} stale, ${count(k.failed)} failed`,
    );
  }
  if (report.stopped) out.info(`  stopped: ${count(report.notStarted)} actions were not begun`);
  for (const gc of report.packGc ?? []) out.info(`  pack gc    ${gcSummary(gc.location, gc, false)}`);
  out.json({ plan: totals, result: report });
  const gcFailed = (report.packGc ?? []).some((gc) => gc.failed > 0);
  return report.failures.length > 0 || gcFailed ? EXIT.itemsFailed : EXIT.ok;
}
