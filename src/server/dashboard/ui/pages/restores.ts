import { get, rowsSchema } from "../api.js";
import { el, table } from "../dom.js";
import { panel } from "../panel.js";

/** Restores waiting: archived objects being thawed before they can be read back. */

export function restoresPage(main: HTMLElement): void {
  main.append(
    panel("Pending restores", async (body) => {
      const rows = await get("/api/v1/restores", rowsSchema);
      if (rows.length === 0) {
        body.append(el("p", { class: "empty" }, "No restore is waiting."));
        return;
      }
      // The columns are the fields the API sends, in the order it first sends them.
      const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
      body.append(
        table(
          columns,
          rows.map((row) => columns.map((column) => cellText(row[column]))),
        ),
      );
    }),
  );
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return "–";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}
