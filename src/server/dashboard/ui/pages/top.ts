import { type DuRow, duSchema, get } from "../api.js";
import { barChart } from "../charts.js";
import { el, figure, table } from "../dom.js";
import { bytes, count } from "../format.js";
import { panel } from "../panel.js";

/** Who holds the most data, and where. */

const TOP = 15;

export function topPage(main: HTMLElement): void {
  main.append(
    el(
      "div",
      { class: "grid" },
      panel("Top users", async (body) => ranked(body, "owners", await get("/api/v1/du?by=owner", duSchema))),
      panel("Top directories", async (body) => {
        // A location's root ("LOC:") holds everything below it: only its directories are ranked.
        const rows = (await get("/api/v1/du?depth=2", duSchema)).filter((row) => !row.name.endsWith(":"));
        ranked(body, "directories", rows);
      }),
    ),
  );
}

function largest(rows: DuRow[], top: number): DuRow[] {
  return [...rows].sort((a, b) => (b.bytes ?? 0) - (a.bytes ?? 0)).slice(0, top);
}

function ranked(body: HTMLElement, what: string, rows: DuRow[]): void {
  const top = largest(rows, TOP);
  if (top.length === 0) {
    body.append(el("p", { class: "empty" }, "No files counted yet."));
    return;
  }
  const chart = figure(`top-${what}`, `Bytes of the ${top.length} largest ${what}`);
  body.append(chart.figure);
  // Bars are numbered by rank (names are too long for the axis); the table below names them.
  barChart(
    chart.plot,
    top.map((_, index) => String(index + 1)),
    { label: "bytes", values: top.map((row) => row.bytes) },
    bytes,
    "rank",
  );
  body.append(
    table(
      ["#", "Name", "Files", "Bytes", "Copies", "Stored in copies"],
      top.map((row, index) => [
        index + 1,
        row.name,
        count(row.files),
        bytes(row.bytes),
        count(row.copies),
        bytes(row.stored_bytes),
      ]),
    ),
  );
}
