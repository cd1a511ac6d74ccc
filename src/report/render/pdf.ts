import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

/** Debian's package: playwright-core drives it, so no browser is downloaded. */
export const DEFAULT_CHROMIUM = "/usr/bin/chromium";

/**
 * The HTML report printed to PDF by headless Chromium. The page is self-contained; any request
 * that would leave it (there should be none) is refused, so printing never reaches the network.
 */
export async function printPdf(htmlPath: string, pdfPath: string, executablePath: string): Promise<void> {
  const browser = await chromium.launch({ executablePath, headless: true });
  try {
    const page = await browser.newPage();
    await page.route(
      (url) => url.protocol !== "file:",
      (route) => route.abort(),
    );
    await page.goto(pathToFileURL(htmlPath).href, { waitUntil: "load" });
    await page.pdf({
      path: pdfPath,
      format: "A4",
      printBackground: true,
      margin: { top: "15mm", bottom: "15mm", left: "12mm", right: "12mm" },
    });
  } finally {
    await browser.close();
  }
}
