import type { Command } from "commander";
import { printablePath } from "../backends/keys.js";
import { listEntries, locationTotals } from "../catalog/browse.js";
import { formatBytes } from "../config/units.js";
import { EXIT, type Runner } from "./main.js";
import { count } from "./output.js";

export function registerLs(program: Command, run: Runner): void {
  program
    .command("ls")
    .description("list what the catalog knows: locations, or the entries under LOCATION:path")
    .argument("[ref]", "LOCATION, LOCATION:dir, or an absolute path inside a scanned location")
    .option("-r, --recursive", "list the whole subtree", false)
    .option("--deleted", "include entries marked deleted", false)
    .action(
      run(async (ctx, ref: string | undefined, opts: { recursive: boolean; deleted: boolean }) => {
        const { out } = ctx;
        if (ref === undefined) {
          const totals = await locationTotals(ctx.catalog);
          out.json({ locations: totals });
          for (const t of totals) {
            out.data(
              `${t.name.padEnd(16)} ${count(t.files).padStart(10)} files ${formatBytes(t.bytes).padStart(10)}  ` +
                `${count(t.replicas).padStart(10)} replicas ${formatBytes(t.replicaBytes).padStart(10)}  ${t.url}`,
            );
          }
          return EXIT.ok;
        }
        const { location, path } = await ctx.reference(ref, "[ref]");
        const listed = [];
        for await (const entry of listEntries(ctx.catalog, location.row.id, path, opts.recursive)) {
          if (entry.file.state === "deleted" && !opts.deleted) continue;
          const { file } = entry;
          if (ctx.out.options.json) {
            listed.push({ ...file, replicas: entry.replicas });
            continue;
          }
          const kind = file.kind === "dir" ? "d" : file.kind === "symlink" ? "l" : file.kind === "file" ? "-" : "?";
          const state = file.state === "present" ? "" : ` [${file.state}]`;
          out.data(
            `${kind} ${formatBytes(file.size).padStart(10)}  ${new Date(file.mtime_us / 1000).toISOString().slice(0, 19)}  ` +
              `${String(entry.replicas).padStart(2)}×  ${printablePath(file.path)}${file.kind === "dir" ? "/" : ""}${state}`,
          );
        }
        out.json({ location: location.name, path, entries: listed });
        return EXIT.ok;
      }),
    );
}
