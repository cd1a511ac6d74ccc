import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Browser, Page } from "playwright-core";

/** Debian's Chromium, driven by playwright-core: no browser is downloaded. */
export const CHROMIUM = "/usr/bin/chromium";

export interface OpenedReport {
  page: Page;
  /** Every request that tried to leave the page (refused): a self-contained report makes none. */
  leftThePage: string[];
  screenshot: string;
}

/**
 * Opens a report's HTML as a reader would, offline: file:// only, any other request refused and
 * recorded; a full-page screenshot is saved beside it in `shotDir` and its path logged.
 */
export async function openOffline(
  browser: Browser,
  html: string,
  shotDir: string,
  label: string,
): Promise<OpenedReport> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const leftThePage: string[] = [];
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("file:")) return route.continue();
    leftThePage.push(url);
    return route.abort();
  });
  await page.goto(pathToFileURL(html).href, { waitUntil: "load" });
  const screenshot = join(shotDir, `${label}.png`);
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot of the ${label} report: ${screenshot}`);
  return { page, leftThePage, screenshot };
}

export interface DrawnFigure {
  name: string | null;
  width: number;
  height: number;
  /** Vega's marks (paths, lines) and Graphviz's nodes and edges inside the figure's SVG. */
  marks: number;
  nodes: number;
  edges: number;
}

/** Each figure of the page: its SVG's drawn box and what was drawn in it. */
export function drawnFigures(page: Page): Promise<DrawnFigure[]> {
  return page.$$eval("figure[data-chart]", (figures) =>
    figures.map((figure) => {
      const svg = figure.querySelector("svg");
      const box = svg?.getBoundingClientRect();
      return {
        name: figure.getAttribute("data-chart"),
        width: box?.width ?? 0,
        height: box?.height ?? 0,
        marks: svg?.querySelectorAll("g[class*='mark-'] path, g[class*='mark-'] line, g.node, g.edge").length ?? 0,
        nodes: svg?.querySelectorAll("g.node").length ?? 0,
        edges: svg?.querySelectorAll("g.edge").length ?? 0,
      };
    }),
  );
}
