import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { describe, expect, it } from "vitest";
import { CATALOG_KINDS } from "../support/catalogs.js";
import { strata } from "../support/cli.js";
import { makeSeedWorkspace } from "../support/seed-scenario.js";
import { tempDir } from "../support/tmp.js";

/*
 * The seed scenario (examples/seed) with three months of scan history, a measured nightly run
 * and a plan to do: its report has every part, so every chart and the diagram draw.
 * The workspace is plan-facts' (test/support/seed-scenario.ts): this file compiles once that
 * branch is merged.
 */
const EVERY_FIGURE = [
  "data-flow",
  "forecast",
  "forecast-tiers",
  "growth",
  "throughput",
  "tier-bytes",
  "tier-cost",
  "waves",
];

describe.each(CATALOG_KINDS)("the seed scenario's report on %s", (kind) => {
  it("draws every chart and the diagram, offline, and keeps a screenshot", async () => {
    const workspace = await makeSeedWorkspace(tempDir("strata-report-seed-"), kind);
    const out = join(workspace.cwd, "report");
    const result = await strata(["report", "--out", out], { cwd: workspace.cwd });
    expect(`exit ${result.code}\n${result.stderr}`).toBe("exit 0\n");
    const browser = await chromium.launch({ executablePath: "/usr/bin/chromium" });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const left: string[] = [];
      await page.route("**/*", (route) => {
        if (route.request().url().startsWith("file:")) return route.continue();
        left.push(route.request().url());
        return route.abort();
      });
      await page.goto(pathToFileURL(join(out, "report.html")).href);
      const shot = join(workspace.cwd, "seed-report.png");
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`screenshot of the seed scenario's report on ${kind}: ${shot}`);
      const figures = await page.$$eval("figure[data-chart]", (all) =>
        all.map((figure) => {
          const svg = figure.querySelector("svg");
          const box = svg?.getBoundingClientRect();
          return {
            name: figure.getAttribute("data-chart"),
            drawn: (box?.width ?? 0) > 50 && (box?.height ?? 0) > 50,
            marks: svg?.querySelectorAll("g[class*='mark-'] path, g[class*='mark-'] line, g.node, g.edge").length ?? 0,
          };
        }),
      );
      expect(figures.map((f) => f.name).sort()).toEqual([...EVERY_FIGURE].sort());
      for (const figure of figures) expect(figure, figure.name ?? "").toMatchObject({ drawn: true });
      for (const figure of figures) expect(figure.marks, figure.name ?? "").toBeGreaterThan(0);
      expect(left).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 180_000);
});
