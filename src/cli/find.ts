import { once } from "node:events";
import type { Command } from "commander";
import { UsageError } from "../config/errors.js";
import {
  countFiles,
  explainFind,
  type FindOptions,
  type FindQuery,
  type FindScope,
  type FoundFile,
  findFiles,
  parseFindArgs,
  SORT_FIELDS,
} from "../query/find/index.js";
import {
  CSV_COLUMNS,
  csvLine,
  csvRow,
  lsLine,
  PRINTF_FIELDS,
  printed,
  printedRaw,
  printfFormatter,
  record,
} from "../query/find/print.js";
import type { Context } from "./context.js";
import { EXIT, type Runner } from "./runner.js";

export function registerFind(program: Command, run: Runner): void {
  program
    .command("find")
    .description("select files from the catalog with GNU find's words and Strata's own; prints LOCATION:PATH")
    .usage("[LOCATION[:PATH]]... [EXPRESSION]")
    .argument("[words...]", "operands, then the expression (see below)")
    // The expression's words look like options (-name, -size): they are find's to read, not Commander's.
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption("--help", "show this help")
    .addHelpText("after", HELP)
    .action(run((ctx, words: string[]) => find(ctx, words)));
}

async function find(ctx: Context, words: string[]): Promise<number> {
  // Read-only: a configured location that resolving an operand registered is forgotten again.
  ctx.dryRun = true;
  const query = parseFindArgs(words);
  const json = ctx.out.options.json;
  const plain = (query.output.kind === "print" && query.output.separator === "\n") || query.output.kind === "count";
  if (json && !plain) {
    throw new UsageError("find: --json prints its own records; leave out -ls, -printf, -print0, --ndjson and --csv");
  }
  const printer = printerOf(query, json);
  const options: FindOptions = { scopes: await scopes(ctx, query), withCopies: printer.needsCopies };
  if (query.explain) return explain(ctx, query, options);
  if (query.output.kind === "count") {
    const totals = await countFiles(ctx.catalog, query, options);
    ctx.out.json(totals);
    ctx.out.data(String(totals.files));
    return EXIT.ok;
  }
  const sink = new Sink();
  await sink.write(printer.head);
  let first = true;
  for await (const file of findFiles(ctx.catalog, query, options)) {
    await sink.write(printer.row(file, first));
    first = false;
  }
  await sink.write(printer.tail);
  await sink.flush();
  return EXIT.ok;
}

async function scopes(ctx: Context, query: FindQuery): Promise<FindScope[]> {
  const resolved: FindScope[] = [];
  for (const operand of query.operands) {
    const { location, path } = await ctx.reference(operand, "find");
    resolved.push({ locationId: location.row.id, path });
  }
  return resolved;
}

async function explain(ctx: Context, query: FindQuery, options: FindOptions): Promise<number> {
  const explained = await explainFind(ctx.catalog, query, options);
  ctx.out.json(explained);
  ctx.out.data(explained.sql);
  ctx.out.data(`parameters: ${JSON.stringify(explained.parameters)}`);
  ctx.out.data(`plan (${ctx.catalog.dialect}):`);
  for (const line of explained.plan) ctx.out.data(`  ${line}`);
  return EXIT.ok;
}

interface Printer {
  head: string;
  row(file: FoundFile, first: boolean): string | Buffer;
  tail: string;
  needsCopies: boolean;
}

function printerOf(query: FindQuery, json: boolean): Printer {
  const output = query.output;
  const lines = (line: (file: FoundFile) => string, needsCopies = false): Printer => ({
    head: "",
    row: (file) => `${line(file)}\n`,
    tail: "",
    needsCopies,
  });
  if (json) {
    return {
      head: '{"files":[\n',
      row: (file, first) => `${first ? "" : ",\n"}${JSON.stringify(record(file))}`,
      tail: "\n]}\n",
      needsCopies: true,
    };
  }
  switch (output.kind) {
    case "print":
      return output.separator === "\0" ? { ...lines(printed), row: printedRaw } : lines(printed);
    case "ls":
      return lines(lsLine);
    case "printf": {
      const format = printfFormatter(output.format);
      return { head: "", row: format.render, tail: "", needsCopies: format.needsCopies };
    }
    case "ndjson":
      return lines((file) => JSON.stringify(record(file)), true);
    case "csv":
      return { ...lines(csvRow, true), head: `${csvLine(CSV_COLUMNS)}\n` };
    case "count":
      return lines(printed);
  }
}

/** Output gathered into large writes, waiting for the reader when the pipe is full. */
class Sink {
  private pending: Buffer[] = [];
  private size = 0;

  async write(piece: string | Buffer): Promise<void> {
    if (piece.length === 0) return;
    const bytes = typeof piece === "string" ? Buffer.from(piece) : piece;
    this.pending.push(bytes);
    this.size += bytes.length;
    if (this.size >= 64 * 1024) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const chunk = Buffer.concat(this.pending);
    this.pending = [];
    this.size = 0;
    if (!process.stdout.write(chunk)) await once(process.stdout, "drain");
  }
}

const HELP = `
Operands: LOCATION or LOCATION:PATH (a directory selects everything beneath it), or an absolute
path inside a scanned tree; none means every location. Entries marked deleted are left out
unless the expression asks about -state.

Tests (GNU find's):
  -name PATTERN, -iname PATTERN   the last path component (* ? [...] \\; -iname folds ASCII case)
  -path PATTERN, -ipath PATTERN   the path within its location (* matches / too)
  -size [+-]N[cwbkMGT]            GNU units (b = 512 bytes if none) and rounding up
  -mtime, -atime, -ctime [+-]N    age in whole days (+N more than N, -N less than N)
  -newermt, -newerat, -newerct DATE   changed after an ISO 8601 date (local time without a zone)
  -user NAME|UID, -group NAME|GID, -type f|d|l[,...], -empty
Strata's:
  -class CLASS        a copy (present, archived or restoring) in that storage class
  -state WORD         present, released, deleted, lost, archived, restoring
  -at LOC, -not-at LOC   has (has not) a present or archived copy at LOC
  -copies [+-]N       verified copies (present or archived, checksum checked)
  -tag KEY[=VALUE]    a tag, or a tag with that value
  -hash PREFIX        SHA-256 starting with these hex digits
  -codec NAME|none    a copy stored with that codec (none: as is)
Operators: ( EXPR ), ! EXPR or -not EXPR, EXPR [-a|-and] EXPR, EXPR -o|-or EXPR.

Output (one of): -print (default), -print0, -ls, -printf FORMAT, -count, --ndjson, --csv,
or --json (a global option). --sort FIELD[,FIELD] (${SORT_FIELDS.join(", ")}; -FIELD descending),
--limit N, --explain (the SQL and the database's plan; nothing is read).
-printf fields: ${Object.entries(PRINTF_FIELDS)
  .map(([k, f]) => `%${k} ${f.means}`)
  .join("; ")}; %% a percent sign; \\n \\t \\0 \\\\.

Examples:
  strata find scratch -user alice -size +1G -atime +180
  strata find -name '*.h5' -not -at archive
  strata find scratch:runs -type f -copies -2 -printf '%p %C\\n'
  strata find --sort -size --limit 10 -ls
`;
