import { type Command, InvalidArgumentError } from "commander";
import { printablePath } from "../backends/keys.js";
import { listEntries } from "../catalog/browse.js";
import { fileByPath } from "../catalog/files.js";
import { allLocations } from "../catalog/locations.js";
import type { FileRow } from "../catalog/schema.js";
import { type FileTagChange, TAG_NAME } from "../catalog/tags.js";
import { UsageError } from "../config/errors.js";
import { changeTags, type SelectedFile } from "../engine/tags.js";
import type { Context } from "./context.js";
import { tag } from "./options.js";
import { count } from "./output.js";
import { EXIT, type Runner } from "./runner.js";

const OPERANDS = "LOCATION[:PATH]";

export function registerTag(program: Command, run: Runner): void {
  const tagCommand = program
    .command("tag")
    .description("set, remove and list tags of files, in the catalog and on their copies where the store keeps tags");

  tagCommand
    .command("set")
    .description("set tags on files (a directory: every file beneath it), and on their copies")
    .argument("<operands...>", `${OPERANDS}: a file, or a directory for every file beneath it`)
    .requiredOption("--tag <key=value>", "a tag to set (repeatable)", tag)
    .action(
      run(async (ctx, operands: string[], opts: { tag: Record<string, string> }) =>
        changeAndReport(ctx, operands, { set: opts.tag, remove: [] }),
      ),
    );

  tagCommand
    .command("rm")
    .description("remove tags from files (a directory: every file beneath it), and from their copies")
    .argument("<operands...>", `${OPERANDS}: a file, or a directory for every file beneath it`)
    .requiredOption("--tag <key>", "a tag name to remove (repeatable)", tagName)
    .action(
      run(async (ctx, operands: string[], opts: { tag: string[] }) =>
        changeAndReport(ctx, operands, { set: {}, remove: opts.tag }),
      ),
    );

  tagCommand
    .command("ls")
    .description("print the tags of files (a directory: every file beneath it; none: every location)")
    .argument("[operands...]", OPERANDS)
    .action(
      run(async (ctx, operands: string[]) => {
        // Reads only: a location named here for the first time is not left registered, nor a new catalog made.
        ctx.dryRun = true;
        const listed: { location: string; path: string; tags: Record<string, string> }[] = [];
        let files = 0;
        for await (const file of selectFiles(ctx, operands)) {
          files += 1;
          const tags = tagsOf(file);
          if (Object.keys(tags).length === 0) continue;
          listed.push({ location: file.location_name, path: file.path, tags });
          ctx.out.data(`${where(file)}  ${formatTags(tags)}`);
        }
        ctx.out.info(`${count(files)} ${files === 1 ? "file" : "files"}, ${count(listed.length)} tagged`);
        ctx.out.json({ files: listed });
        return EXIT.ok;
      }),
    );
}

async function changeAndReport(ctx: Context, operands: string[], change: FileTagChange): Promise<number> {
  const report = await changeTags(ctx.catalog, selectFiles(ctx, operands), change, {
    storeOf: async (url) => (await ctx.location(url, "replica location")).backend,
    concurrency: ctx.defaults.transfers,
    onFile: (file, tags) => ctx.out.detail(`${where(file)}  ${formatTags(tags)}`),
  });
  for (const f of report.failures) {
    ctx.out.warn(
      `${where(f.file)}: tags not written to its copy ${f.replica.location_name}:${printablePath(f.replica.key)}: ${f.error}`,
    );
  }
  const untaggable = report.untaggable > 0 ? `, ${count(report.untaggable)} on stores without tags` : "";
  ctx.out.info(
    `Tags changed on ${count(report.files)} ${report.files === 1 ? "file" : "files"} in the catalog; ` +
      `${count(report.objects)} copies updated${untaggable}, ${count(report.failures.length)} failed`,
  );
  ctx.out.json({
    files: report.files,
    objects: report.objects,
    untaggable: report.untaggable,
    failures: report.failures.map((f) => ({
      location: f.file.location_name,
      path: f.file.path,
      replica: { location: f.replica.location_name, key: f.replica.key },
      error: f.error,
    })),
  });
  return report.failures.length > 0 ? EXIT.itemsFailed : EXIT.ok;
}

/**
 * The files the operands name: a file, or every file beneath a directory (a whole location
 * for `LOCATION` alone); no operand, every location. Deleted entries are left out. Every
 * operand is resolved and checked before the first file is handed out, so a typo changes
 * nothing. The one place a tag command selects files: a find expression plugs in here.
 */
async function* selectFiles(ctx: Context, operands: readonly string[]): AsyncGenerator<SelectedFile> {
  const places: { locationId: number; name: string; path: string; single?: FileRow | undefined }[] = [];
  for (const operand of operands) {
    const { location, path } = await ctx.reference(operand, OPERANDS);
    const single = path === "" ? undefined : await fileByPath(ctx.catalog, location.row.id, path);
    if (path !== "" && !single) {
      const beneath = await listEntries(ctx.catalog, location.row.id, path, false).next();
      if (beneath.done)
        throw new UsageError(`${OPERANDS} ${operand}: the catalog has no entry ${JSON.stringify(path)}`);
    }
    places.push({ locationId: location.row.id, name: location.name, path, single });
  }
  if (operands.length === 0) {
    for (const row of await allLocations(ctx.catalog)) places.push({ locationId: row.id, name: row.name, path: "" });
  }
  for (const { locationId, name, path, single } of places) {
    const named = (file: FileRow): SelectedFile => ({ ...file, location_name: name });
    if (single && single.kind !== "dir") {
      if (isTaggable(single)) yield named(single);
      continue;
    }
    for await (const { file } of listEntries(ctx.catalog, locationId, path, true)) {
      if (isTaggable(file)) yield named(file);
    }
  }
}

function isTaggable(file: FileRow): boolean {
  return file.kind === "file" && file.state !== "deleted";
}

function tagName(value: string, previous: string[] = []): string[] {
  if (!TAG_NAME.test(value)) throw new InvalidArgumentError("must be a tag name (letters, digits, _ . : -)");
  return [...previous, value];
}

function tagsOf(file: FileRow): Record<string, string> {
  return file.tags === null ? {} : (JSON.parse(file.tags) as Record<string, string>);
}

function where(file: SelectedFile): string {
  return `${file.location_name}:${printablePath(file.path)}`;
}

function formatTags(tags: Record<string, string>): string {
  const pairs = Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return pairs.length === 0 ? "(no tags)" : pairs.map(([k, v]) => `${k}=${v}`).join(" ");
}
