import "uplot/dist/uPlot.min.css";
import "./style.css";
import { forgetToken, savedToken, saveToken } from "./api.js";
import { el } from "./dom.js";
import { alertsPage } from "./pages/alerts.js";
import { overviewPage } from "./pages/overview.js";
import { policiesPage } from "./pages/policies.js";
import { restoresPage } from "./pages/restores.js";
import { runsPage } from "./pages/runs.js";
import { topPage } from "./pages/top.js";
import { whenUnauthorized } from "./panel.js";

/** The dashboard's shell: a login, then one page at a time chosen by the URL's hash. */

export type Page = (main: HTMLElement, signal: AbortSignal) => void;

const PAGES: readonly { hash: string; title: string; render: Page }[] = [
  { hash: "overview", title: "Overview", render: overviewPage },
  { hash: "runs", title: "Runs", render: runsPage },
  { hash: "policies", title: "Policies", render: policiesPage },
  { hash: "restores", title: "Restores", render: restoresPage },
  { hash: "top", title: "Top users and directories", render: topPage },
  { hash: "alerts", title: "Alerts", render: alertsPage },
];

const root = document.getElementById("app") as HTMLElement;
/** Ends what the page before started (a live run's event stream). */
let leaving = new AbortController();

function showLogin(message?: string): void {
  leaving.abort();
  forgetToken();
  const input = el("input", {
    type: "password",
    name: "token",
    autocomplete: "off",
    required: "",
    placeholder: "strata token create --role read",
    "aria-label": "API token",
  });
  const form = el(
    "form",
    { class: "login" },
    el("h1", {}, "Strata"),
    el("label", {}, "API token", input),
    el("button", { type: "submit" }, "Sign in"),
    message ? el("p", { class: "error", role: "alert" }, message) : null,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saveToken(input.value.trim());
    if (location.hash === "" || location.hash === "#/login") location.hash = "#/overview";
    else showPage();
  });
  root.replaceChildren(form);
  input.focus();
}

function showPage(): void {
  if (!savedToken()) {
    showLogin();
    return;
  }
  leaving.abort();
  leaving = new AbortController();
  const wanted = location.hash.replace(/^#\/?/, "");
  const page = PAGES.find((p) => p.hash === wanted) ?? (PAGES[0] as (typeof PAGES)[number]);
  const logout = el("button", { type: "button", class: "logout" }, "Sign out");
  logout.addEventListener("click", () => showLogin());
  const nav = el(
    "nav",
    {},
    el("span", { class: "brand" }, "Strata"),
    ...PAGES.map((p) => el("a", { href: `#/${p.hash}`, ...(p === page ? { "aria-current": "page" } : {}) }, p.title)),
    logout,
  );
  const main = el("main", { "data-page": page.hash }, el("h1", {}, page.title));
  root.replaceChildren(nav, main);
  document.title = `${page.title} · Strata`;
  page.render(main, leaving.signal);
}

whenUnauthorized((message) => showLogin(`Signed out: ${message}.`));
window.addEventListener("hashchange", showPage);
showPage();
