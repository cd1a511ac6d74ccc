import { type Command, InvalidArgumentError } from "commander";
import { allLocations } from "../catalog/locations.js";
import { formatBytes } from "../config/units.js";
import {
  type DuOperand,
  DuQuery,
  type DuRow,
  dedupLocationIds,
  GROUPINGS,
  type Grouping,
  topRows,
} from "../query/du.js";
import type { Context } from "./context.js";
import { wholeNumber } from "./options.js";
import { count } from "./output.js";
import { EXIT, type Runner } from "./runner.js";

interface DuOptions {
  depth?: number;
  by?: Grouping;
  top?: number;
}

const TAG_KEY = /^[A-Za-z0-9_.:-]{1,128}$/;

function grouping(text: string): Grouping {
  if ((GROUPINGS as readonly string[]).includes(text)) return text as Grouping;
  const tag = /^tag:(.*)$/s.exec(text);
  if (tag && TAG_KEY.test(tag[1] as string)) return { tag: tag[1] as string };
  throw new InvalidArgumentError(`must be one of ${GROUPINGS.join(", ")}, or tag:KEY (KEY: letters, digits, _ . : -)`);
}

export function registerDu(program: Command, run: Runner): void {
  program
    .command("du")
    .description("how much is where: files, bytes, copies per location, oldest access, from the catalog's summaries")
    .argument("[location...]", "LOCATION or LOCATION:dir (default: every location)")
    .option("-d, --depth <n>", "also every directory down to N levels below each operand", wholeNumber(0, 1000))
    .option("--by <what>", `one row per ${GROUPINGS.join(", ")} or tag:KEY`, grouping)
    .option(
      "--top <n>",
      "only the N rows with the most bytes (without --by: the N directories holding most)",
      wholeNumber(1, 1e9),
    )
    .action(
      run(async (ctx, refs: string[], opts: DuOptions) => {
        // Read-only: a configured location named here for the first time is not left registered.
        ctx.dryRun = true;
        const operands = await resolveOperands(ctx, refs);
        const known = await allLocations(ctx.catalog);
        const names = new Map(known.map((l) => [l.id, l.name]));
        const query = new DuQuery(ctx.catalog, names, dedupLocationIds(known, ctx.loaded.config.locations));
        let rows: DuRow[];
        if (opts.by !== undefined) rows = await query.grouped(operands, opts.by, Date.now() * 1000);
        else if (opts.top !== undefined && opts.depth === undefined)
          rows = await query.topDirectories(operands, opts.top);
        else rows = await query.subtrees(operands, opts.depth ?? 0);
        if (opts.top !== undefined) rows = topRows(rows, opts.top);
        ctx.out.json({ rows });
        printRows(ctx, rows);
        return EXIT.ok;
      }),
    );
}

async function resolveOperands(ctx: Context, refs: readonly string[]): Promise<DuOperand[]> {
  if (refs.length === 0) {
    return (await allLocations(ctx.catalog)).map((l) => ({ locationId: l.id, location: l.name, path: "" }));
  }
  const operands: DuOperand[] = [];
  for (const ref of refs) {
    const { location, path } = await ctx.reference(ref, "[location]");
    operands.push({ locationId: location.row.id, location: location.name, path });
  }
  return operands;
}

function printRows(ctx: Context, rows: readonly DuRow[]): void {
  ctx.out.data(
    `${"FILES".padStart(12)} ${"LOGICAL".padStart(10)} ${"STORED".padStart(10)} ${"OLDEST ACCESS".padEnd(13)}  ` +
      "NAME  [verified/copies per location]",
  );
  for (const row of rows) {
    const perLocation = Object.entries(row.at).map(
      ([at, c]) =>
        `${at} ${count(c.verified)}/${count(c.copies)}` +
        (c.deduplicated_bytes > 0 ? `, ${formatBytes(c.deduplicated_bytes)} deduplicated` : ""),
    );
    // Tag rows keep copies summed over every location only.
    const copies = (
      perLocation.length > 0 || row.copies === 0 ? perLocation : [`all ${count(row.verified)}/${count(row.copies)}`]
    ).join(", ");
    const oldest =
      row.oldest_access_us === null ? "-" : new Date(row.oldest_access_us / 1000).toISOString().slice(0, 10);
    ctx.out.data(
      `${(row.files === null ? "-" : count(row.files)).padStart(12)} ` +
        `${(row.bytes === null ? "-" : formatBytes(row.bytes)).padStart(10)} ` +
        `${formatBytes(row.stored_bytes).padStart(10)} ${oldest.padEnd(13)}  ${row.name}` +
        `${copies === "" ? "" : `  [${copies}]`}`,
    );
  }
}
