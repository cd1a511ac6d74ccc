import type { Command } from "commander";
import { printablePath } from "../backends/keys.js";
import { verifyReplicas } from "../engine/verify.js";
import type { TransferSetting } from "../transfer/flight.js";
import { transfers } from "./options.js";
import { count, filesAndBytes, rates } from "./output.js";
import { EXIT, type Runner } from "./runner.js";

export function registerVerify(program: Command, run: Runner): void {
  program
    .command("verify")
    .description("read replicas back and check each against its recorded SHA-256; mismatches are marked lost")
    .argument("[location]", "only replicas at this location (default: all)")
    .option("--transfers <n>", 'replicas read at once, 1-1024 or "auto" (default: defaults.transfers)', transfers)
    .action(
      run(async (ctx, locationArg: string | undefined, opts: { transfers?: TransferSetting }) => {
        const started = Date.now();
        const only = locationArg === undefined ? undefined : await ctx.location(locationArg, "[location]");
        const tally = { ok: 0, bytes: 0, archived: 0, bad: [] as { location: string; key: string; problem: string }[] };
        const progress = ctx.out.progress();
        const options = {
          ...(only ? { locationId: only.row.id } : {}),
          transfers: opts.transfers ?? ctx.defaults.transfers,
          maxBuffer: ctx.defaults.maxBuffer,
        };
        await verifyReplicas(ctx, options, (r, verdict) => {
          progress.fileDone();
          if (verdict.kind === "archived") {
            tally.archived += 1;
          } else if (verdict.kind === "passed") {
            progress.addBytes(r.size);
            tally.ok += 1;
            tally.bytes += r.size;
            progress.detail(`verified ${r.location_name}:${printablePath(r.key)}`);
          } else {
            progress.addBytes(r.size);
            tally.bad.push({ location: r.location_name, key: r.key, problem: verdict.problem });
          }
        }).finally(() => progress.stop());
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
