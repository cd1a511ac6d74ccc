import { type Alert, alertsSchema, get } from "../api.js";
import { el, table } from "../dom.js";
import { when } from "../format.js";
import { panel } from "../panel.js";

/** Alerts Strata evaluated: firing first, then the recently resolved. */

export function alertsPage(main: HTMLElement): void {
  const alerts = get("/api/v1/alerts", alertsSchema);
  main.append(
    panel("Firing", async (body) =>
      list(
        body,
        (await alerts).filter((a) => a.state === "firing"),
      ),
    ),
    panel("Resolved", async (body) =>
      list(
        body,
        (await alerts).filter((a) => a.state !== "firing"),
      ),
    ),
  );
}

function list(body: HTMLElement, alerts: Alert[]): void {
  if (alerts.length === 0) {
    body.append(el("p", { class: "empty" }, "None."));
    return;
  }
  body.append(
    table(
      ["Severity", "Rule", "Subject", "Summary", "Since", "Until"],
      alerts.map((a) => [a.severity, a.rule, a.subject, a.summary, when(a.startsAt), when(a.endsAt)]),
    ),
  );
}
