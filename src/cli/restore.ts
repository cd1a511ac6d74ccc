import type { Command } from "commander";
import picomatch from "picomatch";
import { type Backend, NeedsRestoreError } from "../backends/backend.js";
import { PosixBackend } from "../backends/posix.js";
import { parseLocationUrl } from "../backends/registry.js";
import { filesWithReplicas } from "../catalog/replicas.js";
import type { FileRow } from "../catalog/schema.js";
import { UsageError } from "../config/errors.js";
import { copyVerified } from "../transfer/copy.js";
import { runPool } from "../transfer/pool.js";
import { attemptsOf, withRetry } from "../transfer/retry.js";
import type { Context, ResolvedLocation } from "./context.js";
import { EXIT, type Runner } from "./main.js";
import { wholeNumber } from "./options.js";
import { filesAndBytes, rates } from "./output.js";
import { printablePath } from "./paths.js";

interface RestoreOptions {
  to?: string;
  from?: string;
  transfers?: number;
  dryRun: boolean;
}

export function registerRestore(program: Command, run: Runner): void {
  program
    .command("restore")
    .description("bring files back from a replica, with mtime and mode, to where they were or into --to DIR")
    .argument("<ref>", "LOCATION:path-or-glob (a directory restores its subtree), or an absolute path")
    .option("--to <dir>", "restore under this directory instead of the original place")
    .option("--from <location>", "read from this replica location (default: the first readable)")
    .option("--transfers <n>", "files in flight", wholeNumber(1, 1024))
    .option("-n, --dry-run", "list what would be restored, change nothing", false)
    .action(
      run(async (ctx, ref: string, opts: RestoreOptions) => {
        const { location, path } = await ctx.reference(ref, "<ref>");
        const from = opts.from === undefined ? undefined : await ctx.location(opts.from, "--from");
        if (opts.to === undefined && location.parsed.kind !== "posix") {
          throw new UsageError(`<ref> ${location.name} is not a POSIX location; restore with --to DIR`);
        }
        const target = opts.to === undefined ? location.backend : posixTarget(opts.to);
        return restore(ctx, location, path, from, target, opts);
      }),
    );
}

async function restore(
  ctx: Context,
  location: ResolvedLocation,
  pattern: string,
  from: ResolvedLocation | undefined,
  target: Backend,
  opts: RestoreOptions,
): Promise<number> {
  const started = Date.now();
  const { out } = ctx;
  const { prefix, matches } = selector(pattern);
  const done = { files: 0, bytes: 0 };
  const failures: { path: string; error: string }[] = [];
  let matched = 0;
  await runPool(
    filesWithReplicas(ctx.catalog, location.row.id, prefix),
    opts.transfers ?? ctx.defaults.transfers,
    async ({ file, replicas }) => {
      if (!matches(file.path)) return;
      matched += 1;
      const candidates = replicas.filter((r) => (from ? r.location_id === from.row.id : true));
      if (candidates.length === 0) {
        failures.push({ path: file.path, error: from ? `no present replica at ${from.name}` : "no present replica" });
        return;
      }
      if (opts.dryRun) {
        out.info(`would restore ${printablePath(file.path)} from ${candidates[0]?.location_name}`);
        return;
      }
      const error = await restoreOne(ctx, file, candidates, target);
      if (error) failures.push({ path: file.path, error });
      else {
        done.files += 1;
        done.bytes += file.size;
        out.detail(`restored ${printablePath(file.path)}`);
      }
    },
  );
  if (matched === 0) throw new UsageError(`<ref> ${pattern || "(root)"}: no file in ${location.name} matches`);
  for (const f of failures) out.warn(`not restored: ${printablePath(f.path)}: ${f.error}`);
  out.info(
    `Restored ${filesAndBytes(done.files, done.bytes)}, ${failures.length} failed ${rates(done.files, done.bytes, Date.now() - started)}`,
  );
  out.json({ restored: done, failures, dryRun: opts.dryRun });
  return failures.length > 0 ? EXIT.itemsFailed : EXIT.ok;
}

function posixTarget(dir: string): PosixBackend {
  const parsed = parseLocationUrl(dir);
  if (parsed.kind !== "posix") throw new UsageError(`--to ${dir}: restore writes to a directory`);
  return new PosixBackend(parsed.root, parsed.url);
}

/** Tries each replica in turn; returns the last error, or undefined once one copy passed. */
async function restoreOne(
  ctx: Context,
  file: FileRow,
  replicas: { location_name: string; key: string; hash: string }[],
  target: Backend,
): Promise<string | undefined> {
  let lastError = "";
  for (const replica of replicas) {
    const source = await ctx.location(replica.location_name);
    try {
      await withRetry(ctx.retryPolicy, () =>
        copyVerified({
          source: source.backend,
          sourceKey: replica.key,
          target,
          targetKey: file.path,
          size: file.size,
          attributes: { mtimeUs: file.mtime_us, mode: file.mode & 0o7777 },
          expectedHash: replica.hash,
        }),
      );
      return undefined;
    } catch (err) {
      const archived = err instanceof NeedsRestoreError ? " (archived: thaw it first)" : "";
      lastError = `${source.name}: ${(err as Error).message}${archived} after ${attemptsOf(err)} attempt(s)`;
    }
  }
  return lastError;
}

/** A path restores itself and its subtree; a glob matches paths; both narrow the catalog query. */
function selector(pattern: string): { prefix: string; matches: (path: string) => boolean } {
  const scan = picomatch.scan(pattern);
  if (!scan.isGlob) {
    return { prefix: pattern, matches: (p) => pattern === "" || p === pattern || p.startsWith(`${pattern}/`) };
  }
  const isMatch = picomatch(pattern, { dot: true });
  return { prefix: scan.base === "" ? "" : `${scan.base}/`, matches: (p) => isMatch(p) };
}
