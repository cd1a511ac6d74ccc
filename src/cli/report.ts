import { accessSync, constants, existsSync, statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import type { Command } from "commander";
import { UsageError } from "../config/errors.js";
import type { Context } from "./context.js";
import { wholeNumber } from "./options.js";
import { EXIT, type Runner } from "./runner.js";

interface ReportOptions {
  out: string;
  pdf: boolean;
  months: number;
}

const DEFAULT_MONTHS = 36;

export function registerReport(program: Command, run: Runner): void {
  program
    .command("report")
    .description(
      "write the architecture, implementation plan and cost optimization analysis as Markdown and one self-contained HTML file (charts and the data-flow diagram as SVG)",
    )
    .option("--out <dir>", "where to write the report (created if missing)", "./strata-report")
    .option(
      "--pdf",
      "also print report.pdf with headless Chromium ($STRATA_CHROMIUM, default /usr/bin/chromium)",
      false,
    )
    .option("--months <n>", "forecast horizon in months (1 to 120)", wholeNumber(1, 120), DEFAULT_MONTHS)
    .action(run(async (ctx, opts: ReportOptions) => report(ctx, opts)));
}

async function report(ctx: Context, opts: ReportOptions): Promise<number> {
  // Read-only: a configured location seen here for the first time is not left registered.
  ctx.dryRun = true;
  const out = resolve(opts.out);
  refuseUnwritable(out, opts.out);
  const chromium = opts.pdf ? chromiumPath() : undefined;
  // Loaded only here: the chart and diagram libraries are large and no other command needs them.
  const { gatherReport } = await import("../report/gather.js");
  const { writeReport } = await import("../report/write.js");
  const data = await gatherReport(ctx.catalog, ctx.loaded.config, {
    now: Date.now(),
    months: opts.months,
    baseDir: ctx.loaded.baseDir,
  });
  await mkdir(out, { recursive: true });
  const files = await writeReport(data, out, chromium === undefined ? {} : { chromium });
  ctx.out.json({ out, files, data });
  for (const file of files) ctx.out.detail(`wrote ${file}`);
  const charts = files.filter((f) => f.endsWith(".svg")).length;
  const documents = files.filter((f) => !f.endsWith(".svg")).map((f) => basename(f));
  ctx.out.info(`Report written to ${out}: ${documents.join(", ")} and ${charts} charts under charts/`);
  ctx.out.data(`Open ${resolve(out, "report.html")}`);
  return EXIT.ok;
}

/** --out must be a directory Strata may write in, or a path that can be made one; checked before anything is read. */
function refuseUnwritable(out: string, given: string): void {
  let existing = out;
  while (!existsSync(existing)) {
    const parent = dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  if (!statSync(existing).isDirectory()) {
    throw new UsageError(
      `--out ${given}: ${existing === out ? "is a file, not a directory" : `${existing} is a file, not a directory`}`,
    );
  }
  try {
    accessSync(existing, constants.W_OK);
  } catch {
    throw new UsageError(`--out ${given}: cannot write in ${existing}`);
  }
}

function chromiumPath(): string {
  const path = process.env.STRATA_CHROMIUM || "/usr/bin/chromium";
  if (!existsSync(path)) {
    throw new UsageError(
      `--pdf needs Chromium: ${path} is not there (apt-get install chromium, or set STRATA_CHROMIUM)`,
    );
  }
  return path;
}
