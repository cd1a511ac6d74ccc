import type { Command } from "commander";
import { printablePath } from "../backends/keys.js";
import { fileByPath } from "../catalog/files.js";
import { replicasOfFile } from "../catalog/replicas.js";
import { UsageError } from "../config/errors.js";
import { formatBytes } from "../config/units.js";
import { EXIT, type Runner } from "./runner.js";

export function registerShow(program: Command, run: Runner): void {
  program
    .command("show")
    .description("print everything the catalog knows of one file: attributes, hash, replicas and their states")
    .argument("<ref>", "LOCATION:path, or an absolute path inside a scanned location")
    .action(
      run(async (ctx, ref: string) => {
        const { location, path } = await ctx.reference(ref, "<ref>");
        const file = await fileByPath(ctx.catalog, location.row.id, path);
        if (!file)
          throw new UsageError(`<ref> ${ref}: the catalog has no entry ${JSON.stringify(path)} in ${location.name}`);
        const replicas = await replicasOfFile(ctx.catalog, file.id);
        const { out } = ctx;
        out.json({ location: location.name, file, replicas });
        const time = (us: number) => new Date(us / 1000).toISOString();
        out.data(`${location.name}:${printablePath(file.path)}`);
        out.data(`  kind   ${file.kind}    state ${file.state}`);
        out.data(`  size   ${formatBytes(file.size)} (${file.size} bytes)`);
        out.data(`  mtime  ${time(file.mtime_us)}    atime ${time(file.atime_us)}`);
        out.data(`  mode   ${(file.mode & 0o7777).toString(8).padStart(4, "0")}    uid ${file.uid}    gid ${file.gid}`);
        out.data(`  sha256 ${file.hash ?? "(not read yet)"}`);
        if (replicas.length === 0) out.data("  no replicas");
        for (const r of replicas) {
          const verified = r.verified_at ? `verified ${new Date(r.verified_at).toISOString()}` : "not verified";
          out.data(`  replica ${r.location_name}: ${r.state}, ${r.storage_class ?? "-"}, ${verified}`);
          out.data(`          key ${printablePath(r.key)}  sha256 ${r.hash}`);
          if (r.codec && r.codec !== "none") {
            const stored = r.stored_size ?? r.size;
            out.data(`          ${r.codec}, ${formatBytes(stored)} stored (${stored} bytes)`);
          }
        }
        return EXIT.ok;
      }),
    );
}
