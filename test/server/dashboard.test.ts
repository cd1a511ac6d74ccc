import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { finishRun, journalActions, settleActions, startRun } from "../../src/catalog/journal.js";
import { createToken } from "../../src/catalog/tokens.js";
import { DASHBOARD_CSP } from "../../src/server/dashboard.js";
import { CHROMIUM } from "../report/open-report.js";
import { CATALOG_KINDS } from "../support/catalogs.js";
import { strata } from "../support/cli.js";
import { makeSeedWorkspace, type SeedWorkspace } from "../support/seed-scenario.js";
import { tempDir } from "../support/tmp.js";
import { serveInProcess } from "./workspace.js";

/*
 * The dashboard in headless Chromium (Debian's chromium, driven by playwright-core), against
 * the built assets (npm run build: dist/dashboard/), served by the real app of `strata serve`
 * (buildApp) listening on 127.0.0.1 with a real read token.
 *
 * The catalog: the seed scenario (scan, apply, scan again, all by the real CLI), then two more
 * files arriving with a scan after each (each scan takes its capacity snapshot, so the series
 * has points and growth), a failed run that `strata alerts check` raises an alert for, and a
 * live run the test journals and settles action by action while the runs page watches it
 * through the real event stream (TEST SETUP: a real `strata apply` here would copy the seed's
 * 4.5 GB of sparse files; the failed run is journaled by hand for the same reason).
 */

const LIVE_ACTIONS = 20;
/** Evaluated in the page: the token the dashboard keeps. */
const SAVED_TOKEN = `sessionStorage.getItem("strata.token")`;
const PAGES = ["overview", "runs", "policies", "restores", "top", "alerts"] as const;
/** The charts each page must draw, by data-chart name. */
const CHARTS: Record<(typeof PAGES)[number], string[]> = {
  overview: ["capacity", "forecast", "age-files", "age-bytes"],
  runs: ["throughput"],
  policies: [],
  restores: [],
  top: ["top-owners", "top-directories"],
  alerts: [],
};
const FAILED_RUN = "sync scratch archive (dashboard test: journaled failed)";

describe.each(CATALOG_KINDS)("the dashboard on strata serve (%s catalog)", (kind) => {
  let workspace: SeedWorkspace;
  let served: Awaited<ReturnType<typeof serveInProcess>>;
  let base: string;
  let token: string;
  let browser: Browser;
  let liveRun: number;
  let liveActions: number[];

  async function cli(args: string[]): Promise<string> {
    const result = await strata(args, { cwd: workspace.cwd });
    expect(`exit ${result.code}\n${result.stderr}`).toBe("exit 0\n");
    return result.stdout;
  }

  /** A file arrives on scratch and a scan sees it (and takes its snapshot). */
  async function arrive(path: string, size: number): Promise<void> {
    // Snapshots a second apart at least: each is its own point in time.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const full = join(workspace.scratch, path);
    mkdirSync(join(full, ".."), { recursive: true });
    writeFileSync(full, Buffer.alloc(size, 7));
    await cli(["scan", "scratch"]);
  }

  beforeAll(async () => {
    workspace = await makeSeedWorkspace(tempDir("strata-dashboard-"), kind);
    appendFileSync(workspace.configPath, "alerts:\n  conditions: { failedRuns: {} }\n");
    await arrive("projectY/raw/sample-1.dat", 6_000_000);
    await arrive("projectY/raw/sample-2.dat", 9_000_000);

    served = await serveInProcess({
      dir: workspace.cwd,
      configPath: workspace.configPath,
      catalogUrl: workspace.catalogUrl,
    });
    const { catalog } = served;
    const failed = await startRun(catalog, FAILED_RUN);
    await finishRun(catalog, failed, "failed", { copied: { files: 0, bytes: 0 }, failures: ["dashboard test"] });
    expect(await cli(["alerts", "check"])).toContain("1 firing");

    liveRun = await startRun(catalog, "apply scratch-to-s3 (dashboard test: journaled by the test)");
    liveActions = await journalActions(
      catalog,
      liveRun,
      Array.from({ length: LIVE_ACTIONS }, (_, i) => ({
        kind: "copy" as const,
        fileId: null,
        sourceLocationId: null,
        targetLocationId: null,
        key: `live/${i}`,
        bytes: 1000,
      })),
    );

    token = (await createToken(catalog, { role: "read", name: "dashboard" })).token;
    base = await served.app.listen({ host: "127.0.0.1", port: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  interface Watched {
    page: Page;
    /** Requests to anywhere but the server under test (refused). */
    leftTheServer: string[];
    /** Console errors and CSP violations. */
    errors: string[];
    /** Every /api request's path, so the test can tell which endpoints the pages asked. */
    asked: string[];
  }

  async function openDashboard(): Promise<Watched> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const leftTheServer: string[] = [];
    const errors: string[] = [];
    const asked: string[] = [];
    page.on("request", (request) => {
      const path = new URL(request.url()).pathname;
      if (path.startsWith("/api/")) asked.push(path);
    });
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(`${base}/`)) return route.continue();
      leftTheServer.push(url);
      return route.abort();
    });
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${base}/`);
    return { page, leftTheServer, errors, asked };
  }

  async function logIn(page: Page, token: string): Promise<void> {
    await page.fill("input[name=token]", token);
    await page.click("button[type=submit]");
  }

  /** Every panel of the page settled (ready or failed): their data-state is set. */
  async function settled(page: Page): Promise<{ panel: string; state: string; text: string }[]> {
    // The page's panels are made together; then none is left without a state. (Not
    // waitForFunction: the page's CSP forbids the eval it uses, as it should.)
    await page.waitForSelector("[data-panel]");
    await page.locator("[data-panel]:not([data-state])").first().waitFor({ state: "detached" });
    return page.$$eval("[data-panel]", (panels) =>
      panels.map((panel) => ({
        panel: panel.getAttribute("data-panel") ?? "",
        state: panel.getAttribute("data-state") ?? "",
        text: panel.textContent ?? "",
      })),
    );
  }

  /**
   * Per chart: its canvas's size and how many of its pixels are coloured, read back from the
   * canvas. Axes, grid and labels are grey or black; the series' colours are saturated, so these
   * are the data uPlot drew.
   */
  function chartInk(page: Page): Promise<{ name: string; width: number; height: number; seriesPixels: number }[]> {
    return page.$$eval("figure[data-chart]", (figures) =>
      figures.map((figure) => {
        const canvas = figure.querySelector("canvas");
        const context = canvas?.getContext("2d");
        let seriesPixels = 0;
        if (canvas && context) {
          const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
          for (let i = 0; i < data.length; i += 4) {
            const rgb = [data[i] ?? 0, data[i + 1] ?? 0, data[i + 2] ?? 0];
            if (Math.max(...rgb) - Math.min(...rgb) > 60 && (data[i + 3] ?? 0) > 200) seriesPixels += 1;
          }
        }
        return {
          name: figure.getAttribute("data-chart") ?? "",
          width: canvas?.width ?? 0,
          height: canvas?.height ?? 0,
          seriesPixels,
        };
      }),
    );
  }

  it("serves its page and assets with their types, a same-origin CSP and revalidation", async () => {
    for (const [path, type] of [
      ["/", "text/html"],
      ["/assets/app.js", "text/javascript"],
      ["/assets/app.css", "text/css"],
    ] as const) {
      const response = await fetch(`${base}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain(type);
      expect(response.headers.get("content-security-policy")).toBe(DASHBOARD_CSP);
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(response.headers.get("cache-control")).toBe("no-cache");
      const etag = response.headers.get("etag") as string;
      const again = await fetch(`${base}${path}`, { headers: { "If-None-Match": etag } });
      expect(again.status).toBe(304);
    }
    // Only the fixed files: a path from the request never reaches the filesystem.
    for (const path of [
      "/assets/../../package.json",
      "/assets/index.html",
      "/index.html",
      "/assets/%2e%2e/strata.yaml",
    ]) {
      // Without a token the server says no more than 401; with one, that there is no such file.
      expect((await fetch(`${base}${path}`)).status).toBe(401);
      expect((await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
    }
    expect(DASHBOARD_CSP).not.toMatch(/https?:|\*/);
  });

  it("refuses a wrong token: the pages go back to the login", async () => {
    const { page, leftTheServer } = await openDashboard();
    try {
      await logIn(page, "not-the-token");
      await page.waitForSelector("form.login .error");
      expect(await page.textContent("form.login .error")).toContain("Signed out");
      expect(await page.evaluate(SAVED_TOKEN)).toBeNull();
      expect(leftTheServer).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("logs in with a token and draws every page from the catalog, offline; a live run's progress moves", async () => {
    const { page, leftTheServer, errors, asked } = await openDashboard();
    // In the test's temp dir (removed with it) unless STRATA_TEST_ARTIFACTS names a place to keep them.
    const shots = join(process.env.STRATA_TEST_ARTIFACTS ?? workspace.cwd, "dashboard-screenshots", kind);
    mkdirSync(shots, { recursive: true });
    try {
      await logIn(page, token);
      expect(await page.evaluate(SAVED_TOKEN)).toBe(token);
      for (const name of PAGES) {
        await page.goto(`${base}/#/${name}`);
        await page.waitForSelector(`main[data-page="${name}"]`);
        const panels = await settled(page);
        expect(panels.filter((p) => p.state !== "ready")).toEqual([]);
        const screenshot = join(shots, `${name}.png`);
        await page.screenshot({ path: screenshot, fullPage: true });
        console.log(`screenshot of the dashboard's ${name} page: ${screenshot}`);
        const ink = await chartInk(page);
        expect(ink.map((chart) => chart.name).sort()).toEqual([...CHARTS[name]].sort());
        for (const chart of ink) {
          expect(chart.width, chart.name).toBeGreaterThan(200);
          expect(chart.seriesPixels, `${chart.name} drew its data`).toBeGreaterThan(50);
        }
        const text = panels.map((p) => p.text).join("\n");
        if (name === "overview") {
          expect(text).toContain("scratch");
          expect(text).toContain("$");
        }
        if (name === "policies") expect(text).toContain("scratch-to-s3");
        if (name === "top") expect(text).toContain("scratch:projectX");
        if (name === "alerts") expect(text).toContain("run_failed");
      }

      await page.goto(`${base}/#/runs`);
      const live = `[data-run="${liveRun}"]`;
      await page.waitForSelector(`${live}[data-settled="0"]`);
      const done = (ids: number[]) => ids.map((id) => ({ id, state: "done" as const, attempts: 1, error: null }));
      await settleActions(served.catalog, done(liveActions.slice(0, 7)));
      await page.waitForSelector(`${live}[data-settled="7"]`);
      await settleActions(served.catalog, done(liveActions.slice(7)));
      await finishRun(served.catalog, liveRun, "done", {
        copied: { files: LIVE_ACTIONS, bytes: 20_000 },
        failures: [],
      });
      await page.waitForSelector(`${live}[data-settled="${LIVE_ACTIONS}"]`);
      expect(await page.textContent(live)).toContain("done");

      expect(leftTheServer).toEqual([]);
      expect(errors).toEqual([]);
      expect(new Set(asked)).toEqual(
        new Set([
          "/api/v1/series",
          "/api/v1/cost",
          "/api/v1/cost/forecast",
          "/api/v1/du",
          "/api/v1/runs",
          `/api/v1/runs/${liveRun}`,
          `/api/v1/runs/${liveRun}/events`,
          "/api/v1/policies",
          "/api/v1/plan",
          "/api/v1/restores",
          "/api/v1/alerts",
        ]),
      );
    } finally {
      await page.close();
    }
  }, 120_000);
});
