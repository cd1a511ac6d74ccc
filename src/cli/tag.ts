import { type Command, InvalidArgumentError } from "commander";
import { printablePath } from "../backends/keys.js";
import { listEntries } from "../catalog/browse.js";
import { fileByPath, filesByIds } from "../catalog/files.js";
import { allLocations } from "../catalog/locations.js";
import type { FileRow } from "../catalog/schema.js";
import { type FileTagChange, TAG_NAME } from "../catalog/tags.js";
import { UsageError } from "../config/errors.js";
import { changeTags, type SelectedFile } from "../engine/tags.js";
import { type FindScope, findFiles, parseFindArgs } from "../query/find/index.js";
import { filesInFlight } from "../transfer/flight.js";
import type { Context } from "./context.js";
import { tag } from "./options.js";
import { count } from "./output.js";
import { EXIT, type Runner } from "./runner.js";

const OPERANDS = "LOCATION[:PATH]";
const SELECTION =
  "LOCATION[:PATH] operands (a directory: every file beneath it), then a find expression (strata find --help)";

export function registerTag(program: Command, run: Runner): void {
  const tagCommand = program
    .command("tag")
    .description("set, remove and list tags of files, in the catalog and on their copies where the store keeps tags");

  tagCommand
    .command("set")
    .description("set tags on files (a directory: every file beneath it), and on their copies")
    .argument("<words...>", SELECTION)
    // A find expression's words look like options (-name, -size): they are find's to read.
    .allowUnknownOption()
    .requiredOption("--tag <key=value>", "a tag to set (repeatable)", tag)
    .action(
      run(async (ctx, operands: string[], opts: { tag: Record<string, string> }) =>
        changeAndReport(ctx, operands, { set: opts.tag, remove: [] }),
      ),
    );

  tagCommand
    .command("rm")
    .description("remove tags from files (a directory: every file beneath it), and from their copies")
    .argument("<words...>", SELECTION)
    .allowUnknownOption()
    .requiredOption("--tag <key>", "a tag name to remove (repeatable)", tagName)
    .action(
      run(async (ctx, operands: string[], opts: { tag: string[] }) =>
        changeAndReport(ctx, operands, { set: {}, remove: opts.tag }),
      ),
    );

  tagCommand
    .command("ls")
    .description("print the tags of files (a directory: every file beneath it; none: every location)")
    .argument("[words...]", SELECTION)
    .allowUnknownOption()
    .action(
      run(async (ctx, operands: string[]) => {
        // Reads only: a location named here for the first time is not left registered, nor a new catalog made.
        ctx.dryRun = true;
        const listed: { location: string; path: string; tags: Record<string, string> }[] = [];
        let files = 0;
        for await (const file of selectFiles(ctx, operands, true)) {
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
  const report = await changeTags(ctx.catalog, selectFiles(ctx, operands, false), change, {
    storeOf: async (url) => (await ctx.location(url, "replica location")).backend,
    concurrency: filesInFlight(ctx.defaults.transfers, "store"),
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
 * The files the words select: `LOCATION[:PATH]` operands (a directory: every file beneath it; a
 * whole location for `LOCATION` alone; none: every location, where the command allows it), then an optional find expression
 * in find's words. Only regular files that are not deleted. Every operand is resolved and
 * checked, and the whole selection read, before the first file is handed out: a typo changes
 * nothing, and on SQLite find's stream holds the catalog's one connection, which the tag writes
 * need.
 */
async function* selectFiles(
  ctx: Context,
  words: readonly string[],
  everyLocationWhenUnnamed: boolean,
): AsyncGenerator<SelectedFile> {
  const query = parseFindArgs(words);
  if (!everyLocationWhenUnnamed && query.operands.length === 0 && query.expression === undefined) {
    // A change to every file of every location is never what a typo should do.
    throw new UsageError(`${OPERANDS}: name the files to change, or give a find expression`);
  }
  if (query.output.kind !== "print" || query.explain) {
    throw new UsageError(`${OPERANDS}: tag takes a find expression to select files, not find's output words`);
  }
  const scopes: FindScope[] = [];
  for (const operand of query.operands) {
    const { location, path } = await ctx.reference(operand, OPERANDS);
    if (path !== "" && !(await fileByPath(ctx.catalog, location.row.id, path))) {
      const beneath = await listEntries(ctx.catalog, location.row.id, path, false).next();
      if (beneath.done)
        throw new UsageError(`${OPERANDS} ${operand}: the catalog has no entry ${JSON.stringify(path)}`);
    }
    scopes.push({ locationId: location.row.id, path });
  }
  const ids: number[] = [];
  for await (const file of findFiles(ctx.catalog, query, { scopes })) if (isTaggable(file)) ids.push(file.id);
  const names = new Map((await allLocations(ctx.catalog)).map((l) => [l.id, l.name]));
  for (let i = 0; i < ids.length; i += SELECTED_PAGE) {
    for (const file of await filesByIds(ctx.catalog, ids.slice(i, i + SELECTED_PAGE))) {
      yield { ...file, location_name: names.get(file.location_id) as string };
    }
  }
}

/** Rows read back per query once the selection is known. */
const SELECTED_PAGE = 500;

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
