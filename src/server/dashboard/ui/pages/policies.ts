import { get, type Policy, planSchema, policiesSchema } from "../api.js";
import { el, table } from "../dom.js";
import { bytes, count, usd, when } from "../format.js";
import { panel } from "../panel.js";

/** Each policy: when it runs next, when it last succeeded, and what its next plan would do. */

export function policiesPage(main: HTMLElement): void {
  const policies = get("/api/v1/policies", policiesSchema);
  main.append(
    panel("Schedule", async (body) => schedule(body, await policies)),
    panel("What the next plans would do", async (body) => plans(body, await policies)),
  );
}

function schedule(body: HTMLElement, policies: Policy[]): void {
  body.append(
    table(
      ["Policy", "Schedule", "Next run", "Last run", "Last success"],
      policies.map((p) => [p.name, p.schedule ?? "on demand", when(p.nextRun), when(p.lastRun), when(p.lastSuccess)]),
    ),
  );
}

async function plans(body: HTMLElement, policies: Policy[]): Promise<void> {
  if (policies.length === 0) {
    body.append(el("p", { class: "empty" }, "No policies are configured."));
    return;
  }
  for (const policy of policies) {
    const totals = await get(`/api/v1/plan?policy=${encodeURIComponent(policy.name)}`, planSchema);
    body.append(
      el("h3", {}, policy.name),
      totals.length === 0
        ? el("p", { class: "empty" }, "Nothing to do.")
        : table(
            ["Action", "Files", "Bytes", "Cost per month", "One-time cost"],
            totals.map((t) => [t.kind, count(t.files), bytes(t.bytes), usd(t.monthlyCostDelta), usd(t.oneTimeCost)]),
          ),
    );
  }
}
