import type { Command } from "commander";
import { allLocations } from "../catalog/locations.js";
import { formatBytes, formatUsd } from "../config/units.js";
import type { PlanTotal } from "../policy/actions.js";
import { type PlanHeader, writePlan, writePlanFile } from "../policy/plan-file.js";
import { ACTION_KINDS, PlanTotals, planPolicies, selectPolicies } from "../policy/planner.js";
import type { Context } from "./context.js";
import { collect } from "./options.js";
import { count } from "./output.js";
import { EXIT, type Runner } from "./runner.js";

interface PlanOptions {
  policy: string[];
  out?: string;
  force: boolean;
}

export function registerPlan(program: Command, run: Runner): void {
  program
    .command("plan")
    .description(
      "show what the policies would do, from the catalog alone: per policy and action, files, bytes and cost",
    )
    .option("--policy <name>", "plan this policy only (repeatable; default: every enabled policy)", collect, [])
    .option("--out <file>", "write the plan to a file that strata apply carries out")
    .option("--force", "plan prunes past the maxDeleteShare guard", false)
    .action(run(async (ctx, opts: PlanOptions) => plan(ctx, opts)));
}

async function plan(ctx: Context, opts: PlanOptions): Promise<number> {
  const { config } = ctx.loaded;
  const policies = selectPolicies(config, opts.policy);
  await warnUnscanned(ctx, [...new Set(policies.flatMap((p) => p.from))]);
  const now = Date.now();
  const header: Pick<PlanHeader, "createdAt" | "policies"> = {
    createdAt: new Date(now).toISOString(),
    policies: policies.map((p) => p.name),
  };
  const actions = planPolicies(ctx.catalog, config, { policies: header.policies, now, force: opts.force });
  if (ctx.out.options.json && opts.out === undefined) {
    // The plan itself is the JSON document: streamed, as the plan file is, whatever its size.
    await writePlan(process.stdout, header, actions);
    return EXIT.ok;
  }
  let totals: PlanTotal[];
  if (opts.out !== undefined) {
    totals = await writePlanFile(opts.out, header, actions);
  } else {
    const tally = new PlanTotals();
    for await (const action of actions) tally.add(action);
    totals = tally.list();
  }
  printTotals(ctx, header.policies, totals);
  if (opts.out !== undefined) ctx.out.info(`Plan written to ${opts.out}; carry it out with: strata apply ${opts.out}`);
  ctx.out.json({ ...header, out: opts.out, totals });
  return EXIT.ok;
}

/** A policy over a location never scanned plans nothing; say why rather than "nothing to do". */
async function warnUnscanned(ctx: Context, from: string[]): Promise<void> {
  const known = new Set((await allLocations(ctx.catalog)).map((row) => row.name));
  for (const name of from) {
    if (!known.has(name))
      ctx.out.warn(`${name} has not been scanned yet, so nothing of it is planned (strata scan ${name})`);
  }
}

function printTotals(ctx: Context, policies: string[], totals: PlanTotal[]): void {
  const { out } = ctx;
  if (policies.length === 0) out.info("No policies to plan: none is enabled in the config");
  for (const policy of policies) {
    const rows = totals
      .filter((t) => t.policy === policy)
      .sort((a, b) => ACTION_KINDS.indexOf(a.kind) - ACTION_KINDS.indexOf(b.kind));
    if (rows.length === 0) {
      out.info(`${policy}: nothing to do`);
      continue;
    }
    out.info(`${policy}:`);
    for (const row of rows) out.info(`  ${line(row.kind, row)}`);
  }
  const sum = totals.reduce(
    (acc, t) => ({
      files: acc.files + t.files,
      bytes: acc.bytes + t.bytes,
      monthlyCostDelta: acc.monthlyCostDelta + t.monthlyCostDelta,
      oneTimeCost: acc.oneTimeCost + t.oneTimeCost,
    }),
    { files: 0, bytes: 0, monthlyCostDelta: 0, oneTimeCost: 0 },
  );
  if (totals.length > 1) out.info(line("total", sum));
}

function line(label: string, t: Pick<PlanTotal, "files" | "bytes" | "monthlyCostDelta" | "oneTimeCost">): string {
  const files = `${count(t.files)} ${t.files === 1 ? "file" : "files"}`;
  return (
    `${label.padEnd(10)} ${files.padStart(14)} ${formatBytes(t.bytes).padStart(11)}` +
    `   ${signedUsd(t.monthlyCostDelta)}/month   once ${formatUsd(t.oneTimeCost)}`
  );
}

function signedUsd(amount: number): string {
  return amount > 0 ? `+${formatUsd(amount)}` : formatUsd(amount);
}
