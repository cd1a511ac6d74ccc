/**
 * Building the page. Text from the API goes in as text (textContent), never as HTML: a file
 * name or an alert summary can hold anything.
 */

type Child = Node | string | null | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return element;
}

/** A table: one header row, then each row's cells as text (numbers right-aligned). */
export function table(columns: readonly string[], rows: readonly (readonly (string | number)[])[]): HTMLElement {
  if (rows.length === 0) return el("p", { class: "empty" }, "None.");
  const head = el("tr", {}, ...columns.map((column) => el("th", {}, column)));
  const body = rows.map((row) =>
    el("tr", {}, ...row.map((cell) => el("td", typeof cell === "number" ? { class: "num" } : {}, String(cell)))),
  );
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...body));
}

/** A figure that a chart is drawn into; data-chart names it for tests and styles. */
export function figure(name: string, caption: string): { figure: HTMLElement; plot: HTMLElement } {
  const plot = el("div", { class: "plot" });
  return { figure: el("figure", { "data-chart": name }, plot, el("figcaption", {}, caption)), plot };
}

/** A few key figures side by side. */
export function stats(items: readonly [label: string, value: string][]): HTMLElement {
  return el(
    "dl",
    { class: "stats" },
    ...items.map(([label, value]) => el("div", {}, el("dt", {}, label), el("dd", {}, value))),
  );
}

export function errorNote(error: unknown): HTMLElement {
  return el("p", { class: "error", role: "alert" }, error instanceof Error ? error.message : String(error));
}
