import { join } from "node:path";
import { chromium } from "playwright-core";
import { describe, expect, it } from "vitest";
import { CATALOG_KINDS } from "../support/catalogs.js";
import { strata } from "../support/cli.js";
import { makeSeedWorkspace } from "../support/seed-scenario.js";
import { tempDir } from "../support/tmp.js";
import { CHROMIUM, drawnFigures, openOffline } from "./open-report.js";

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
    const browser = await chromium.launch({ executablePath: CHROMIUM });
    try {
      const { page, leftThePage } = await openOffline(browser, join(out, "report.html"), workspace.cwd, `seed-${kind}`);
      const figures = await drawnFigures(page);
      expect(figures.map((f) => f.name).sort()).toEqual([...EVERY_FIGURE].sort());
      for (const figure of figures) {
        expect(figure.width, figure.name ?? "").toBeGreaterThan(50);
        expect(figure.height, figure.name ?? "").toBeGreaterThan(50);
        expect(figure.marks, figure.name ?? "").toBeGreaterThan(0);
      }
      expect(leftThePage).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 180_000);
});
