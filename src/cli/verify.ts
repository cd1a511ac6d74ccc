import type { Command } from "commander";
import { NeedsRestoreError } from "../backends/backend.js";
import { printablePath } from "../backends/keys.js";
import { markVerified, replicasToVerify } from "../catalog/replicas.js";
import { hashObject } from "../transfer/copy.js";
import { runPool } from "../transfer/pool.js";
import { wholeNumber } from "./options.js";
import { count, filesAndBytes, rates } from "./output.js";
import { EXIT, type Runner } from "./runner.js";

export function registerVerify(program: Command, run: Runner): void {
  program
    .command("verify")
    .description("read replicas back and check each against its recorded SHA-256; mismatches are marked lost")
    .argument("[location]", "only replicas at this location (default: all)")
    .option("--transfers <n>", "replicas read at once (default: defaults.transfers)", wholeNumber(1, 1024))
    .action(
      run(async (ctx, locationArg: string | undefined, opts: { transfers?: number }) => {
        const started = Date.now();
        const only = locationArg === undefined ? undefined : await ctx.location(locationArg, "[location]");
        const tally = { ok: 0, bytes: 0, archived: 0, bad: [] as { location: string; key: string; problem: string }[] };
        const progress = ctx.out.progress();
        await runPool(
          replicasToVerify(ctx.catalog, only?.row.id),
          opts.transfers ?? ctx.defaults.transfers,
          async (r) => {
            const { backend } = await ctx.location(r.location_name);
            try {
              const sha256 = await hashObject(backend, r.key);
              progress.addBytes(r.size);
              progress.fileDone();
              if (sha256 === r.hash) {
                tally.ok += 1;
                tally.bytes += r.size;
                progress.detail(`verified ${r.location_name}:${printablePath(r.key)}`);
                await markVerified(ctx.catalog, r.id, { ok: true, at: Date.now() });
                return;
              }
              tally.bad.push({
                location: r.location_name,
                key: r.key,
                problem: `sha256 ${sha256}, expected ${r.hash}`,
              });
            } catch (err) {
              progress.fileDone();
              if (err instanceof NeedsRestoreError) {
                tally.archived += 1;
                return;
              }
              tally.bad.push({ location: r.location_name, key: r.key, problem: (err as Error).message });
            }
            await markVerified(ctx.catalog, r.id, { ok: false });
          },
        ).finally(() => progress.stop());
        const { out } = ctx;
        for (const b of tally.bad) out.warn(`${b.location}:${printablePath(b.key)}: ${b.problem}; marked lost`);
        const archivedNote =
          tally.archived > 0 ? `, ${count(tally.archived)} archived (not readable without a restore)` : "";
        out.info(
          `Verified ${filesAndBytes(tally.ok, tally.bytes)}${archivedNote}, ${count(tally.bad.length)} bad ` +
            rates(tally.ok, tally.bytes, Date.now() - started),
        );
        out.json({ verified: tally.ok, bytes: tally.bytes, archived: tally.archived, bad: tally.bad });
        return tally.bad.length > 0 ? EXIT.itemsFailed : EXIT.ok;
      }),
    );
}
