import { appendFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sql } from "kysely";
import { chromium } from "playwright-core";
import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { type CliResult, strata } from "../support/cli.js";
import { snapshot } from "../support/snapshot.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";
import { CHROMIUM, drawnFigures, openOffline } from "./open-report.js";

/*
 * `strata report` end to end, as a site runs it: init, scan a tree, tag, sync to the embedded
 * store, then the report. It reads the figures of every branch of issue 13 (cost now, compare,
 * forecast, flow, waves, schedules), so it passes only once they are all merged.
 */

const HOSTILE_NAME = "<script>alert(1)</script>.txt";
const HOSTILE_PROJECT = '"><img src=x>';

function expectOk(result: CliResult, what: string): void {
  expect(`${what}: exit ${result.code}\n${result.stderr}`).toBe(`${what}: exit 0\n`);
}

async function workspace(kind: (typeof CATALOG_KINDS)[number]) {
  const dir = tempDir("strata-report-cli-");
  const catalog = await freshCatalogUrl(kind, dir);
  const run = (...args: string[]) => strata(["--catalog", catalog, ...args], { cwd: dir });
  expectOk(await run("init"), "init");
  appendFileSync(
    join(dir, "strata.yaml"),
    [
      "policies:",
      "  - name: nightly",
      "    from: scratch",
      '    match: { exclude: ["**/*.tmp"] }',
      "    place: [{ to: archive, tiering: seed }]",
      '    schedule: "0 2 * * *"',
      "",
    ].join("\n"),
  );
  writeTree(join(dir, "data"), {
    "climate/run-1/output.nc": Buffer.alloc(300_000, 1),
    "climate/run-1/log.txt": Buffer.from("done\n"),
    "genomics/reads.fq": Buffer.alloc(120_000, 2),
    [`genomics/${HOSTILE_NAME}`]: Buffer.from("hostile"),
  });
  expectOk(await run("scan", "scratch"), "scan");
  expectOk(await run("tag", "set", "scratch:genomics", "--tag", `project=${HOSTILE_PROJECT}`), "tag");
  expectOk(await run("sync", "scratch", "archive"), "sync");
  return { dir, run, catalog };
}

/** Rows per table of the catalog: on PostgreSQL the catalog is not under the workspace's files. */
async function rowCounts(url: string): Promise<Record<string, number>> {
  const catalog = await openCatalog(url);
  try {
    const counts: Record<string, number> = {};
    for (const table of [
      "locations",
      "scans",
      "files",
      "replicas",
      "runs",
      "actions",
      "events",
      "usage_buckets",
    ] as const) {
      const row = await catalog.db.selectFrom(table).select(sql<number>`COUNT(*)`.as("n")).executeTakeFirstOrThrow();
      counts[table] = Number(row.n);
    }
    return counts;
  } finally {
    await catalog.close();
  }
}

describe.each(CATALOG_KINDS)("strata report on %s", (kind) => {
  it("writes the three deliverables, their charts and one self-contained HTML, and changes nothing", async () => {
    const { dir, run, catalog } = await workspace(kind);
    const rowsBefore = await rowCounts(catalog);
    const before = snapshot(join(dir, ".strata"));
    const out = join(dir, "out");
    const result = await run("report", "--out", out);
    expectOk(result, "report");
    expect(result.stdout).toContain(join(out, "report.html"));
    for (const name of ["architecture.md", "implementation-plan.md", "cost-optimization.md", "report.html"]) {
      expect(statSync(join(out, name)).size, name).toBeGreaterThan(500);
    }
    expect(readdirSync(join(out, "charts")).sort()).toEqual(
      expect.arrayContaining(["data-flow.svg", "tier-bytes.svg"]),
    );
    expect(snapshot(join(dir, ".strata"))).toEqual(before);
    expect(await rowCounts(catalog)).toEqual(rowsBefore);
    const json = await run("--json", "report", "--out", out);
    expectOk(json, "report --json");
    const printed = JSON.parse(json.stdout) as { out: string; files: string[]; data: { tiers: unknown[]; at: string } };
    expect(printed.out).toBe(out);
    expect(printed.files).toContain(join(out, "report.html"));
    expect(printed.data.tiers.length).toBeGreaterThan(0);

    // One scan and one run: growth cannot be known yet, and the report says so.
    const architecture = readFileSync(join(out, "architecture.md"), "utf8");
    expect(architecture).toContain("Cannot be known yet");
    expect(architecture).toContain("no growth rate yet");

    const browser = await chromium.launch({ executablePath: CHROMIUM });
    try {
      const { page, leftThePage } = await openOffline(browser, join(out, "report.html"), dir, kind);
      const figures = await drawnFigures(page);
      expect(figures.length).toBeGreaterThanOrEqual(3);
      for (const figure of figures) expect(figure.width * figure.height, figure.name ?? "").toBeGreaterThan(0);
      expect(await page.locator("script, img").count()).toBe(0);
      expect(await page.locator("body").textContent()).toContain(HOSTILE_PROJECT);
      expect(leftThePage).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it("--pdf prints report.pdf with headless Chromium", async () => {
    const { dir, run } = await workspace(kind);
    const out = join(dir, "with-pdf");
    expectOk(await run("report", "--out", out, "--pdf"), "report --pdf");
    expect(readFileSync(join(out, "report.pdf")).subarray(0, 5).toString()).toBe("%PDF-");
  });
});

describe("strata report refuses bad input, naming it, and writes nothing", () => {
  it("--out naming a file, a path below a file, or --months out of range exits 2", async () => {
    const dir = tempDir("strata-report-bad-");
    const run = (...args: string[]) => strata(args, { cwd: dir });
    expectOk(await run("init"), "init");
    writeFileSync(join(dir, "taken"), "a file");
    const file = await run("report", "--out", "taken");
    expect(file.code).toBe(2);
    expect(file.stderr).toContain("--out taken");
    const below = await run("report", "--out", "taken/report");
    expect(below.code).toBe(2);
    expect(below.stderr).toContain("--out taken/report");
    const months = await run("report", "--months", "0");
    expect(months.code).toBe(2);
    expect(months.stderr).toContain("--months");
    expect(readFileSync(join(dir, "taken"), "utf8")).toBe("a file");
    expect(existsSync(join(dir, "strata-report"))).toBe(false);
  });
});
