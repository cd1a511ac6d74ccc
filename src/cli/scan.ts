import type { Command } from "commander";
import { formatBytes, formatDuration, perSecond } from "../config/units.js";
import { type ScanReport, scanLocation } from "../scan/scanner.js";
import type { Context, ResolvedLocation } from "./context.js";
import { wholeNumber } from "./options.js";
import { count } from "./output.js";
import { EXIT, type Runner } from "./runner.js";

export function registerScan(program: Command, run: Runner): void {
  program
    .command("scan")
    .description("walk a POSIX tree (or list an object store) into the catalog: new, changed and deleted files")
    .argument("<location>", "a location name from the config, a path, or a URL")
    .option("--threads <n>", "walker threads (default: defaults.scanThreads)", wholeNumber(1, 64))
    .option(
      "--accept-root",
      "the root is right although empty or on another filesystem than first scanned: mark what is gone deleted",
      false,
    )
    .action(
      run(async (ctx, locationArg: string, opts: { threads?: number; acceptRoot: boolean }) => {
        const location = await ctx.location(locationArg, "<location>");
        await location.backend.check();
        const report = await ctx.holding([location.name], `scan ${location.name}`, () =>
          scanInto(ctx, location, opts.threads, opts.acceptRoot),
        );
        ctx.out.json({ scan: { location: location.name, ...report } });
        return report.problems.length > 0 ? EXIT.itemsFailed : EXIT.ok;
      }),
    );
}

/** Scans and reports; shared by `scan` and `sync`, which refreshes its source first. */
export async function scanInto(
  ctx: Context,
  location: ResolvedLocation,
  threads?: number,
  acceptRoot = false,
): Promise<ScanReport> {
  const { out } = ctx;
  const progress = out.progress(undefined, "entries");
  await ctx.registerConfigured();
  const report = await scanLocation(ctx.catalog, location.row.id, location.backend, {
    threads: threads ?? ctx.defaults.scanThreads,
    threadsAskedFor: threads !== undefined,
    acceptRoot,
    onProgress: (entries, bytes) => {
      progress.fileDone(entries);
      progress.addBytes(bytes);
    },
  }).finally(() => progress.stop());
  out.info(
    `Scanned ${location.name}: ${count(report.files)} entries (${formatBytes(report.bytes)} in files); ` +
      `${count(report.newFiles)} new, ${count(report.changedFiles)} changed, ${count(report.deletedFiles)} deleted; ` +
      `${formatDuration(report.elapsedMs)}, ${count(Math.round(perSecond(report.files, report.elapsedMs)))} entries/s`,
  );
  if (report.missingFiles > 0) {
    out.warn(
      `${location.name}: ${count(report.missingFiles)} released files lost their stubs; their copies are kept ` +
        `(strata restore brings them back)`,
    );
  }
  for (const problem of report.problems) out.warn(`${location.name}: ${problem.path}: ${problem.message}`);
  if (report.problems.length > 0) {
    out.warn(`${count(report.problems.length)} entries could not be read and were skipped`);
  }
  return report;
}
