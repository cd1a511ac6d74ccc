import type { Command } from "commander";
import { descriptorOf } from "../backends/all.js";
import { printablePath } from "../backends/keys.js";
import { codecSettingOf } from "../codec/choose.js";
import { UsageError } from "../config/errors.js";
import { formatDuration } from "../config/units.js";
import type { PackSettings } from "../engine/pack.js";
import { abortStaleUploads, emptyReport, prepareSync, runSync } from "../engine/sync.js";
import { refuseDeleteShare } from "../policy/delete-guard.js";
import type { FileFilter } from "../policy/filter.js";
import { packSchema } from "../policy/schema.js";
import { type PlanSummary, planCopies, planDeletes, type SyncScope, summarizePlan } from "../policy/sync-plan.js";
import { type Context, overlaps, type ResolvedLocation } from "./context.js";
import {
  collect,
  duration,
  preserveRootOwnerOption,
  preserveSpecialBitsOption,
  size,
  type TransferFlags,
  type TrustFlags,
  tag,
  transferOptions,
  transferSettings,
  trustFrom,
} from "./options.js";
import { count, filesAndBytes, rates } from "./output.js";
import { EXIT, type Runner } from "./runner.js";
import { scanInto } from "./scan.js";

interface SyncOptions extends TrustFlags, TransferFlags {
  dryRun: boolean;
  checksum: boolean;
  delete: boolean;
  force: boolean;
  include: string[];
  exclude: string[];
  minSize?: number;
  maxSize?: number;
  minAge?: number;
  maxAge?: number;
  tag: Record<string, string>;
  class?: string;
  packBelow?: number;
  packSize?: number;
  packCodec?: string;
}

export function registerSync(program: Command, run: Runner): void {
  const command = program
    .command("sync")
    .description("make <dst> hold everything under <src>: scan, plan, then apply (copy, verify, record)")
    .argument("<src>", "source location: a name from the config, a path, or a URL")
    .argument("<dst>", "destination location")
    .option("-n, --dry-run", "print the plan and change nothing", false)
    .option("-c, --checksum", "compare content hashes instead of size and mtime", false)
    .option("--delete", "remove from <dst> what Strata copied there of files since deleted at <src>", false)
    .option("--force", "allow --delete past the defaults.maxDeleteShare guard", false);
  transferOptions(command)
    .option("--include <glob>", "only paths matching (repeatable; *.nc matches at any depth)", collect, [])
    .option("--exclude <glob>", "skip paths matching (repeatable)", collect, [])
    .option("--min-size <size>", "only files at least this large (e.g. 1MiB)", size)
    .option("--max-size <size>", "only files at most this large", size)
    .option("--min-age <duration>", "only files modified at least this long ago (e.g. 30d)", duration)
    .option("--max-age <duration>", "only files modified at most this long ago", duration)
    .option("--tag <key=value>", "tag every object written (repeatable)", tag, {})
    .option("--class <storage-class>", "storage class at <dst> (default: the location's class)")
    .option("--pack-below <size>", "write files smaller than this into tar packs at <dst> (an object store)", size)
    .option("--pack-size <size>", "with --pack-below: close a pack at about this size (default 256MiB)", size)
    .option("--pack-codec <codec>", "with --pack-below: compress each member as its own frame (none, gzip, zstd, lz4)")
    .addOption(preserveSpecialBitsOption())
    .addOption(preserveRootOwnerOption())
    .action(
      run(async (ctx, srcArg: string, dstArg: string, opts: SyncOptions) => {
        transferSettings(ctx, opts, trustFrom(opts)); // --tps for the locations opened next; a flag refused now
        ctx.dryRun = opts.dryRun;
        const source = await ctx.location(srcArg, "<src>");
        const target = await ctx.location(dstArg, "<dst>");
        checkPair(source, target, opts);
        const pack = packFrom(target, opts);
        // A wrong bucket, key or endpoint is one clear line now, not a retry storm later.
        await Promise.all([source.backend.check(), target.backend.check()]);
        return ctx.holding([source.name, target.name], `sync ${source.name} ${target.name}`, () =>
          sync(ctx, source, target, { ...opts, pack }),
        );
      }),
    );
}

function checkPair(source: ResolvedLocation, target: ResolvedLocation, opts: SyncOptions): void {
  if (source.parsed.url === target.parsed.url) {
    throw new UsageError(`<src> and <dst> are the same location (${source.parsed.url})`);
  }
  if (overlaps(source, target)) {
    throw new UsageError(
      `<src> ${source.parsed.url} and <dst> ${target.parsed.url} overlap; one would copy into itself`,
    );
  }
  const storageClass = opts.class ?? target.settings.class;
  const classes = target.backend.caps.storageClasses;
  if (storageClass && !classes.includes(storageClass)) {
    throw new UsageError(`--class ${storageClass}: ${target.name} accepts ${classes.join(", ")}`);
  }
}

/** --pack-*: checked as a placement's `pack:` is; packs go to object stores, whose objects cost per request. */
function packFrom(target: ResolvedLocation, opts: SyncOptions): PackSettings | undefined {
  if (opts.packBelow === undefined) {
    if (opts.packSize !== undefined || opts.packCodec !== undefined) {
      throw new UsageError("--pack-size and --pack-codec go with --pack-below");
    }
    return undefined;
  }
  if (descriptorOf(target.parsed.kind).fileTree) {
    throw new UsageError(`--pack-below: ${target.name} is a POSIX tree; packs are written to object stores`);
  }
  const parsed = packSchema.safeParse({
    below: opts.packBelow,
    ...(opts.packSize !== undefined ? { size: opts.packSize } : {}),
    ...(opts.packCodec !== undefined ? { codec: opts.packCodec } : {}),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = { below: "--pack-below", size: "--pack-size", codec: "--pack-codec" }[String(issue?.path[0])];
    throw new UsageError(`${flag ?? "--pack-below"}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}

async function sync(
  ctx: Context,
  source: ResolvedLocation,
  target: ResolvedLocation,
  opts: SyncOptions & { pack: PackSettings | undefined },
) {
  const { out, catalog } = ctx;
  const started = Date.now();
  await prepareSync(catalog, { backend: target.backend, locationId: target.row.id });
  const scan = await scanInto(ctx, source);
  const scope: SyncScope = {
    sourceLocationId: source.row.id,
    targetLocationId: target.row.id,
    filter: filterFrom(opts),
    checksum: opts.checksum,
    compareTouched: descriptorOf(source.parsed.kind).onThisMachine,
  };
  const plan = await summarizePlan(catalog, scope, opts.delete, (path, kind) =>
    out.detail(`skipped ${printablePath(path)} (${kind})`),
  );
  printPlan(ctx, source, target, plan);
  guardDeletes(ctx, target, plan, opts);
  if (opts.dryRun) {
    out.json({ scan, plan, dryRun: true });
    return scan.problems.length > 0 ? EXIT.itemsFailed : EXIT.ok;
  }

  if (plan.copy.files === 0 && plan.delete.files === 0) {
    // Uploads left by earlier runs for files since deleted or copied are aborted even so.
    const abortedUploads = await abortStaleUploads(catalog, { backend: target.backend, locationId: target.row.id });
    // What the catalog records: the destination is not listed (`strata catalog check` does).
    out.info(
      `Nothing to do: all ${count(plan.unchanged.files)} files of ${source.name} are recorded at ${target.name} ` +
        `(${formatDuration(Date.now() - started)})`,
    );
    out.json({
      scan,
      plan,
      result: { ...emptyReport(), abortedUploads, elapsedMs: Date.now() - started },
    });
    return scan.problems.length > 0 ? EXIT.itemsFailed : EXIT.ok;
  }
  const progress = out.progress({ files: plan.copy.files, bytes: plan.copy.bytes });
  const storageClass = opts.class ?? target.settings.class;
  const report = await runSync(
    catalog,
    `sync ${source.name} ${target.name}`,
    planCopies(catalog, scope),
    opts.delete ? planDeletes(catalog, scope) : empty(),
    {
      source: { backend: source.backend, locationId: source.row.id },
      target: {
        backend: target.backend,
        locationId: target.row.id,
        ...(storageClass ? { storageClass } : {}),
        tags: { ...target.settings.tags, ...opts.tag },
        codec: codecSettingOf(target.settings.codec),
        dedup: target.settings.dedup,
      },
      ...transferSettings(ctx, opts, trustFrom(opts)),
      retry: ctx.retryPolicy,
      ...(opts.pack ? { pack: opts.pack } : {}),
      progress: {
        bytes: (n) => progress.addBytes(n),
        fileDone: () => progress.fileDone(),
        acted: (outcome, key) => progress.detail(`${outcome} ${printablePath(key)}`),
      },
    },
  ).finally(() => progress.stop());
  const elapsedMs = Date.now() - started;
  const failed = report.failures.length + scan.problems.length;

  for (const failure of report.failures) out.warn(`failed: ${printablePath(failure.path)}: ${failure.error}`);
  out.info(
    `Synced ${source.name} → ${target.name}: copied ${filesAndBytes(report.copied.files, report.copied.bytes)}, ` +
      (report.deduplicated.files > 0
        ? `deduplicated ${filesAndBytes(report.deduplicated.files, report.deduplicated.bytes)}, `
        : "") +
      `unchanged ${count(plan.unchanged.files + report.confirmed)}, deleted ${count(report.deleted.files)}, ` +
      `skipped ${count(plan.skipped.symlinks + plan.skipped.other)}, ${count(report.stale)} stale, ` +
      `failed ${count(report.failures.length)} ` +
      rates(report.copied.files, report.copied.bytes, elapsedMs),
  );
  // maxRSS is in KiB on Linux: the honest measure of "memory stayed bounded".
  out.json({ scan, plan, result: { ...report, elapsedMs, peakRssBytes: process.resourceUsage().maxRSS * 1024 } });
  return failed > 0 ? EXIT.itemsFailed : EXIT.ok;
}

function printPlan(ctx: Context, source: ResolvedLocation, target: ResolvedLocation, plan: PlanSummary): void {
  const { out } = ctx;
  out.info(`Plan ${source.name} → ${target.name}:`);
  const checkNote = plan.copy.toCheck > 0 ? `, ${count(plan.copy.toCheck)} to compare by content` : "";
  out.info(
    `  copy      ${filesAndBytes(plan.copy.files, plan.copy.bytes)}: ${count(plan.copy.new)} new, ` +
      `${count(plan.copy.changed)} changed${checkNote}`,
  );
  out.info(`  unchanged ${filesAndBytes(plan.unchanged.files, plan.unchanged.bytes)}`);
  if (plan.delete.files > 0) out.info(`  delete    ${filesAndBytes(plan.delete.files, plan.delete.bytes)}`);
  if (plan.skipped.symlinks + plan.skipped.other > 0) {
    out.info(`  skip      ${count(plan.skipped.symlinks)} symlinks, ${count(plan.skipped.other)} special files`);
  }
}

/** --delete may not empty a destination by accident: past the share, it needs --force. */
function guardDeletes(ctx: Context, target: ResolvedLocation, plan: PlanSummary, opts: SyncOptions): void {
  if (!opts.delete || opts.force) return;
  refuseDeleteShare({
    what: "--delete",
    deletes: plan.delete.files,
    bytes: plan.delete.bytes,
    held: plan.targetReplicas,
    at: target.name,
    limit: ctx.defaults.maxDeleteShare,
    limitName: "defaults.maxDeleteShare",
  });
}

function filterFrom(opts: SyncOptions): FileFilter {
  return {
    include: opts.include,
    exclude: opts.exclude,
    ...(opts.minSize !== undefined ? { minSize: opts.minSize } : {}),
    ...(opts.maxSize !== undefined ? { maxSize: opts.maxSize } : {}),
    ...(opts.minAge !== undefined ? { minAgeMs: opts.minAge } : {}),
    ...(opts.maxAge !== undefined ? { maxAgeMs: opts.maxAge } : {}),
  };
}

async function* empty<T>(): AsyncGenerator<T> {}
