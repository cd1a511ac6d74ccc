import type { Command } from "commander";
import { printablePath } from "../backends/keys.js";
import { type ListedObject, listEntries, listReplicas, locationTotals } from "../catalog/browse.js";
import { fileByPath } from "../catalog/files.js";
import { replicasOfFile } from "../catalog/replicas.js";
import type { FileRow } from "../catalog/schema.js";
import { UsageError } from "../config/errors.js";
import { formatBytes } from "../config/units.js";
import type { Context, ResolvedLocation } from "./context.js";
import { count } from "./output.js";
import { EXIT, type Runner } from "./runner.js";

interface LsOptions {
  recursive: boolean;
  deleted: boolean;
}

export function registerLs(program: Command, run: Runner): void {
  program
    .command("ls")
    .description("list what the catalog knows: locations, or the entries under LOCATION:path")
    .argument("[ref]", "LOCATION, LOCATION:dir, LOCATION:file, or an absolute path inside a scanned location")
    .option("-r, --recursive", "list the whole subtree", false)
    .option("--deleted", "include entries marked deleted", false)
    .action(
      run(async (ctx, ref: string | undefined, opts: LsOptions) => {
        if (ref === undefined) return listLocations(ctx);
        const { location, path } = await ctx.reference(ref, "[ref]");
        const entries: unknown[] = [];
        const show = (entry: unknown, line: string) => {
          entries.push(entry);
          ctx.out.data(line);
        };
        const found = await listFiles(ctx, location, path, opts, show);
        if (found === "none") await listObjects(ctx, ref, location, path, opts, show);
        if (found === "empty dir") ctx.out.info(`${ref}: empty directory`);
        ctx.out.json({ location: location.name, path, entries });
        return EXIT.ok;
      }),
    );
}

async function listLocations(ctx: Context): Promise<number> {
  const totals = await locationTotals(ctx.catalog);
  ctx.out.json({ locations: totals });
  for (const t of totals) {
    ctx.out.data(
      `${t.name.padEnd(16)} ${count(t.files).padStart(10)} files ${formatBytes(t.bytes).padStart(10)}  ` +
        `${count(t.replicas).padStart(10)} replicas ${formatBytes(t.replicaBytes).padStart(10)}  ${t.url}`,
    );
  }
  return EXIT.ok;
}

type Show = (entry: unknown, line: string) => void;

/** What the catalog's scans recorded under `path`, or the one file `path` names. */
async function listFiles(
  ctx: Context,
  location: ResolvedLocation,
  path: string,
  opts: LsOptions,
  show: Show,
): Promise<"listed" | "empty dir" | "none"> {
  let listed = false;
  for await (const entry of listEntries(ctx.catalog, location.row.id, path, opts.recursive)) {
    if (entry.file.state === "deleted" && !opts.deleted) continue;
    listed = true;
    show({ ...entry.file, replicas: entry.replicas }, fileLine(entry.file, entry.replicas));
  }
  if (listed || path === "") return listed ? "listed" : "none";
  const single = await fileByPath(ctx.catalog, location.row.id, path);
  if (!single || (single.state === "deleted" && !opts.deleted)) return "none";
  if (single.kind === "dir") return "empty dir";
  const replicas = (await replicasOfFile(ctx.catalog, single.id)).filter((r) => r.state === "present").length;
  show({ ...single, replicas }, fileLine(single, replicas));
  return "listed";
}

/**
 * A store location holds objects the catalog knows as replicas, not as scanned files; a store
 * no scan or sync of this catalog has seen is listed directly.
 */
async function listObjects(
  ctx: Context,
  ref: string,
  location: ResolvedLocation,
  path: string,
  opts: LsOptions,
  show: Show,
): Promise<void> {
  let listed = await showObjects(listReplicas(ctx.catalog, location.row.id, path), path, opts, show);
  if (!listed) listed = await showObjects(storeObjects(location, path), path, opts, show);
  if (listed) return;
  if (path !== "") throw new UsageError(`[ref] ${ref}: no such file or directory in ${location.name}`);
  const where = location.name === location.parsed.url ? "" : ` at ${location.parsed.url}`;
  ctx.out.info(`${location.name}: empty (nothing recorded in the catalog, nothing stored${where})`);
}

async function* storeObjects(location: ResolvedLocation, path: string): AsyncGenerator<ListedObject> {
  for await (const o of location.backend.list(path)) {
    const mtimeUs = o.attributes?.mtimeUs ?? o.modifiedUs;
    yield { key: o.key, size: o.size, mtimeUs, storageClass: o.storageClass ?? null, state: "present" };
  }
}

/** Objects at `path` or under `path/`; without --recursive, deeper keys show as their directory. */
async function showObjects(
  objects: AsyncIterable<ListedObject>,
  path: string,
  opts: LsOptions,
  show: Show,
): Promise<boolean> {
  const prefix = path === "" ? "" : `${path}/`;
  let listed = false;
  let lastDir: string | undefined;
  for await (const object of objects) {
    if (object.key !== path && !object.key.startsWith(prefix)) continue;
    listed = true;
    const rest = object.key.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (!opts.recursive && slash >= 0) {
      const dir = `${prefix}${rest.slice(0, slash)}`;
      if (dir !== lastDir)
        show({ key: dir, kind: "dir" }, `d ${"".padStart(10)}  ${"".padStart(19)}      ${printablePath(dir)}/`);
      lastDir = dir;
      continue;
    }
    const state = object.state === "present" ? "" : ` [${object.state}]`;
    const storageClass = object.storageClass ?? "";
    show(
      object,
      `- ${formatBytes(object.size).padStart(10)}  ${isoSeconds(object.mtimeUs)}  ${storageClass.padEnd(4)}  ` +
        `${printablePath(object.key)}${state}`,
    );
  }
  return listed;
}

function fileLine(file: FileRow, replicas: number): string {
  const kind = file.kind === "dir" ? "d" : file.kind === "symlink" ? "l" : file.kind === "file" ? "-" : "?";
  const state = file.state === "present" ? "" : ` [${file.state}]`;
  return (
    `${kind} ${formatBytes(file.size).padStart(10)}  ${isoSeconds(file.mtime_us)}  ` +
    `${String(replicas).padStart(2)}×  ${printablePath(file.path)}${file.kind === "dir" ? "/" : ""}${state}`
  );
}

function isoSeconds(us: number): string {
  return new Date(us / 1000).toISOString().slice(0, 19);
}
