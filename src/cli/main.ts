import { Command, CommanderError } from "commander";
import { BackendError } from "../backends/backend.js";
import { CatalogFullError } from "../catalog/db.js";
import { UsageError } from "../config/errors.js";
import { registerAlerts } from "./alerts.js";
import { registerApply } from "./apply.js";
import { registerCatalog } from "./catalog.js";
import type { GlobalOptions } from "./context.js";
import { registerCost } from "./cost.js";
import { registerDaemon } from "./daemon.js";
import { registerDu } from "./du.js";
import { registerFind } from "./find.js";
import { registerInit } from "./init.js";
import { registerLog } from "./log.js";
import { registerLs } from "./ls.js";
import { duration } from "./options.js";
import { registerPack } from "./pack.js";
import { registerPlan } from "./plan.js";
import { registerReport } from "./report.js";
import { registerRestore } from "./restore.js";
import { commandRunner, EXIT } from "./runner.js";
import { registerScan } from "./scan.js";
import { registerServe } from "./serve.js";
import { registerShow } from "./show.js";
import { registerSync } from "./sync.js";
import { registerTag } from "./tag.js";
import { registerToken } from "./token.js";
import { registerVerify } from "./verify.js";

export async function main(argv: string[]): Promise<number> {
  quietSdkNodeNotice();
  endQuietlyOnClosedPipe();
  let exitCode: number = EXIT.ok;
  const program = new Command("strata")
    .description("Keeps research data in the right place at the right cost: HPC filesystems and object stores")
    .version("0.1.0")
    .option("--config <file>", "config file (default: ./strata.yaml, or $STRATA_CONFIG)")
    .option(
      "--catalog <url>",
      "catalog: a SQLite path or postgres://… (default: .strata/catalog.db, or $STRATA_CATALOG)",
    )
    .option("--json", "print one JSON document instead of text", false)
    .option("-q, --quiet", "print only errors and requested data", false)
    .option("-v, --verbose", "print every item acted on", false)
    .option(
      "--lock-wait <duration>",
      "how long to wait for a location another run is changing, then exit 2 naming it (default: 15m)",
      duration,
    )
    .exitOverride()
    .showHelpAfterError("(run strata --help for usage)");

  const run = commandRunner(
    () => program.opts<GlobalOptions>(),
    (code) => {
      exitCode = code;
    },
  );

  for (const register of [
    registerInit,
    registerScan,
    registerSync,
    registerRestore,
    registerVerify,
    registerLs,
    registerShow,
    registerFind,
    registerPlan,
    registerApply,
    registerDaemon,
    registerTag,
    registerLog,
    registerCatalog,
    registerDu,
    registerCost,
    registerReport,
    registerServe,
    registerToken,
    registerAlerts,
    registerPack,
  ]) {
    register(program, run);
  }

  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    return reportError(err);
  }
}

/**
 * The AWS SDK warns on every run under Node 20 that its releases after January 2027 need
 * Node 22. Strata pins a release that supports Node 20 (see the README), so the notice is noise.
 */
function quietSdkNodeNotice(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
}

/**
 * `strata ls | head`: once the reader is gone there is no one left to tell, so the command ends
 * at once and quietly, as Unix tools do on SIGPIPE. Every catalog write is journaled, so ending
 * here loses nothing already recorded.
 */
function endQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") throw err;
      process.exit(EXIT.ok);
    });
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander has already printed its message; help and version are not errors.
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (err instanceof UsageError) {
    process.stderr.write(`strata: ${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof CatalogFullError) {
    process.stderr.write(`strata: ${err.message}\n`);
    return EXIT.itemsFailed;
  }
  if (err instanceof BackendError) {
    process.stderr.write(`strata: ${err.message}\n`);
    return err.retryable ? EXIT.itemsFailed : EXIT.usage;
  }
  process.stderr.write(`strata: ${(err as Error).stack ?? String(err)}\n`);
  return EXIT.itemsFailed;
}
