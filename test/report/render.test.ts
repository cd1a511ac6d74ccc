import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { ReportData } from "../../src/report/gather.js";
import { figuresOf, toMarkdown } from "../../src/report/render/document.js";
import { reportDocuments, reportHtml, writeReport } from "../../src/report/write.js";
import { tempDir } from "../support/tmp.js";
import { CHROMIUM, drawnFigures, type OpenedReport, openOffline } from "./open-report.js";
import { fullReportData, HOSTILE_NAME, HOSTILE_PROJECT, MISSING, missingHistoryData } from "./report-data.js";

/*
 * The report as a reader sees it: the HTML opened in Debian's headless Chromium, offline, with
 * every request that would leave the page refused and counted. Each chart and the diagram must
 * have drawn (an <svg> with a non-empty box and marks inside); a screenshot is kept.
 */

let browser: Browser;

beforeAll(async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
});
afterAll(async () => {
  await browser?.close();
});

/** The report of `data` written as HTML into a temp dir and opened offline. */
async function open(data: ReportData, label: string): Promise<OpenedReport> {
  const dir = tempDir(`strata-report-${label}-`);
  const html = join(dir, "report.html");
  writeFileSync(html, reportHtml(data, await reportDocuments(data)));
  return openOffline(browser, html, dir, label);
}

describe("the report drawn in headless Chromium", () => {
  test("with every part present, every chart and the diagram draw, and nothing leaves the page", async () => {
    const { page, leftThePage } = await open(fullReportData(), "full");
    const figures = await drawnFigures(page);
    expect(figures.map((f) => f.name).sort()).toEqual(
      ["data-flow", "forecast", "forecast-tiers", "growth", "throughput", "tier-bytes", "tier-cost", "waves"].sort(),
    );
    for (const figure of figures) {
      expect(figure.width, figure.name ?? "").toBeGreaterThan(50);
      expect(figure.height, figure.name ?? "").toBeGreaterThan(50);
      expect(figure.marks, figure.name ?? "").toBeGreaterThan(0);
    }
    const diagram = figures.find((f) => f.name === "data-flow");
    expect(diagram).toMatchObject({ nodes: 2, edges: 1 });
    // The tier map prices each tier from its cost line; a POSIX tree records no class, and its line is the location's only one.
    const tierRows = await page
      .locator("#architecture table")
      .first()
      .evaluate((table) =>
        [...table.querySelectorAll("tbody tr")].map((row) => [...row.querySelectorAll("td")].map((c) => c.textContent)),
      );
    expect(tierRows.map((cells) => [cells[0], cells[1], cells.at(-1)])).toEqual([
      ["archive", "GLACIER", "$3.35"],
      ["archive", "STANDARD", "$2.76"],
      ["scratch", "—", "$8.00"],
    ]);
    // The break-even month is marked on the forecast.
    expect(await page.locator("figure[data-chart=forecast] svg").textContent()).toContain("break-even: month 4");
    expect(leftThePage).toEqual([]);
    await page.close();
  });

  test("a catalog with one scan and no runs says what cannot be known yet, and draws no made-up figure", async () => {
    const { page, leftThePage } = await open(missingHistoryData(), "missing-history");
    const figures = (await drawnFigures(page)).map((f) => f.name);
    expect(figures).not.toContain("growth");
    expect(figures).not.toContain("throughput");
    expect(figures).not.toContain("forecast");
    expect(figures).not.toContain("forecast-tiers");
    const text = ((await page.locator("body").textContent()) ?? "").replace(/\s+/g, " ");
    expect(text).toContain("Cannot be known yet");
    expect(text).toContain(MISSING.forecast);
    expect(text).toContain(MISSING.compare);
    expect(text).toContain("Daily growth of scratch: 1 scan within one day: no growth rate yet");
    expect(text).toContain("no finished run has copied or restored anything yet");
    expect(text).toContain(
      "Duration of older than 1 year, large: no finished run has moved data between its locations yet",
    );
    expect(text).toContain("Headroom of scratch-to-s3: no growth rate for scratch yet (1 scan)");
    expect(text).toContain("the break-even month and the return cannot be worked out yet");
    expect(text).not.toContain("does not break even");
    expect(leftThePage).toEqual([]);
    await page.close();
  });

  test("names from the catalog stay text: a file named <script> and a project tag of markup never become elements", async () => {
    const { page } = await open(fullReportData(), "escaping");
    expect(await page.locator("script, img").count()).toBe(0);
    const text = (await page.locator("body").textContent()) ?? "";
    expect(text).toContain(HOSTILE_PROJECT);
    expect(text).toContain(HOSTILE_NAME);
    // The diagram's label is text inside the SVG, not an element.
    expect(await page.locator("figure[data-chart=data-flow] svg").textContent()).toContain(HOSTILE_NAME);
    await page.close();
    const markdown = (await reportDocuments(fullReportData())).map((doc) => toMarkdown(doc, "charts")).join("\n");
    expect(markdown).not.toMatch(/<img|<script/);
  });
});

describe("the report written to a directory", () => {
  test("Markdown links each chart written beside it; the HTML holds them inline and names no URL to fetch", async () => {
    const dir = tempDir("strata-report-files-");
    const data = fullReportData();
    const written = await writeReport(data, dir);
    const docs = await reportDocuments(data);
    for (const doc of docs) {
      const markdown = readFileSync(join(dir, `${doc.name}.md`), "utf8");
      for (const figure of figuresOf(doc)) {
        expect(markdown).toContain(`(charts/${figure.name}.svg)`);
        expect(readFileSync(join(dir, "charts", `${figure.name}.svg`), "utf8")).toMatch(/^(<\?xml[^>]*\?>\s*)?<svg/);
      }
    }
    expect(written).toContain(join(dir, "report.html"));
    const html = readFileSync(join(dir, "report.html"), "utf8");
    expect(html).not.toMatch(/\b(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/<link\b|<script\b|@import/);
  });

  test("--pdf's printer writes a PDF through the same Chromium", async () => {
    const dir = tempDir("strata-report-pdf-");
    await writeReport(fullReportData(), dir, { chromium: CHROMIUM });
    const pdf = readFileSync(join(dir, "report.pdf"));
    expect(pdf.subarray(0, 5).toString()).toBe("%PDF-");
    expect(pdf.length).toBeGreaterThan(20_000);
  });
});
