/*
 * A deliverable as a small document model: sections of paragraphs, lists, tables and figures.
 * The deliverables build it once from the figures; it is written twice, as Markdown (figures as
 * SVG files beside it, linked) and as HTML (figures inlined). Every string in it is plain text:
 * the writers escape it, because paths, tags and location names come from the catalog and the
 * config, and a file named `<script>…` must stay a name.
 */

export type Block =
  | { kind: "paragraph"; text: string }
  | { kind: "list"; items: string[] }
  | { kind: "table"; columns: string[]; rows: string[][]; numeric?: boolean[] }
  /** `name` is the SVG's file name under charts/ (letters, digits, dashes). */
  | { kind: "figure"; name: string; caption: string; svg: string }
  /** What cannot be known yet, and why: shown as a marked list, never as a figure. */
  | { kind: "unknown"; items: string[] };

export interface Section {
  title: string;
  blocks: Block[];
  sections?: Section[];
}

export interface ReportDocument {
  /** The Markdown file's base name (architecture, implementation-plan, cost-optimization). */
  name: string;
  title: string;
  intro: string;
  sections: Section[];
}

export const paragraph = (text: string): Block => ({ kind: "paragraph", text });
export const list = (items: string[]): Block => ({ kind: "list", items });
export const unknown = (items: string[]): Block => ({ kind: "unknown", items });
export const table = (columns: string[], rows: string[][], numeric?: boolean[]): Block => ({
  kind: "table",
  columns,
  rows,
  ...(numeric ? { numeric } : {}),
});

/** Every figure of a document, depth first, in the order they appear. */
export function figuresOf(doc: ReportDocument): Extract<Block, { kind: "figure" }>[] {
  const found: Extract<Block, { kind: "figure" }>[] = [];
  const visit = (section: Section): void => {
    for (const block of section.blocks) if (block.kind === "figure") found.push(block);
    for (const child of section.sections ?? []) visit(child);
  };
  for (const section of doc.sections) visit(section);
  return found;
}

// ---- Markdown --------------------------------------------------------------------------------

/**
 * Plain text as Markdown text: the punctuation Markdown reads as markup is backslash-escaped,
 * and `<`, `>` and `&` become entities, so raw HTML in a name never reaches a Markdown viewer.
 */
export function markdownText(text: string): string {
  return text
    .replace(/[\\`*_[\]#|~]/g, (c) => `\\${c}`)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/\r?\n/g, " ");
}

export function toMarkdown(doc: ReportDocument, chartsDir: string): string {
  const lines = [`# ${markdownText(doc.title)}`, "", markdownText(doc.intro), ""];
  const section = (s: Section, depth: number): void => {
    lines.push(`${"#".repeat(depth)} ${markdownText(s.title)}`, "");
    for (const block of s.blocks) lines.push(...markdownBlock(block, chartsDir), "");
    for (const child of s.sections ?? []) section(child, depth + 1);
  };
  for (const s of doc.sections) section(s, 2);
  return `${lines
    .join("\n")
    .replace(/\n{3,}/g, "\n\n")
    .trimEnd()}\n`;
}

function markdownBlock(block: Block, chartsDir: string): string[] {
  switch (block.kind) {
    case "paragraph":
      return [markdownText(block.text)];
    case "list":
      return block.items.map((item) => `- ${markdownText(item)}`);
    case "unknown":
      return ["**Cannot be known yet:**", "", ...block.items.map((item) => `- ${markdownText(item)}`)];
    case "figure":
      return [
        `![${markdownText(block.caption)}](${chartsDir}/${block.name}.svg)`,
        "",
        `*${markdownText(block.caption)}*`,
      ];
    case "table": {
      const align = block.columns.map((_, i) => (block.numeric?.[i] ? "---:" : "---"));
      const row = (cells: string[]) => `| ${cells.map(markdownText).join(" | ")} |`;
      return [row(block.columns), `| ${align.join(" | ")} |`, ...block.rows.map(row)];
    }
  }
}

// ---- HTML ------------------------------------------------------------------------------------

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const STYLE = `
body { font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d232a; max-width: 60rem; margin: 2rem auto; padding: 0 1.5rem; }
h1 { font-size: 1.9rem; border-bottom: 3px solid #2b6cb0; padding-bottom: .3rem; margin-top: 3rem; }
h2 { font-size: 1.35rem; margin-top: 2rem; } h3 { font-size: 1.1rem; } h4 { font-size: 1rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: 13px; }
th, td { border: 1px solid #cbd2d9; padding: .25rem .55rem; text-align: left; vertical-align: top; }
th { background: #edf2f7; } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; } figcaption { color: #52606d; font-size: 13px; }
.unknown { border-left: 4px solid #d69e2e; background: #fffbea; padding: .4rem 1rem; margin: .8rem 0; }
.unknown p { margin: .2rem 0; font-weight: 600; }
nav ul { columns: 2; } .doc { page-break-before: always; } .doc:first-of-type { page-break-before: auto; }
@media print { body { margin: 0; max-width: none; } figure, table { page-break-inside: avoid; } }
`;

/** One self-contained page for all documents: inline CSS and SVG, no script, no external URL. */
export function toHtml(title: string, generated: string, docs: ReportDocument[]): string {
  const nav = docs.map((d) => `<li><a href="#${d.name}">${escapeHtml(d.title)}</a></li>`).join("");
  const body = docs.map(htmlDocument).join("\n");
  return [
    "<!DOCTYPE html>",
    '<html lang="en"><head><meta charset="utf-8">',
    // Nothing on this page may load anything: a report is read offline, and its names are untrusted.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>`,
    `<header><p>${escapeHtml(generated)}</p><nav><ul>${nav}</ul></nav></header>`,
    body,
    "</body></html>",
    "",
  ].join("\n");
}

function htmlDocument(doc: ReportDocument): string {
  const parts = [`<article class="doc" id="${doc.name}">`, `<h1>${escapeHtml(doc.title)}</h1>`];
  parts.push(`<p>${escapeHtml(doc.intro)}</p>`);
  const section = (s: Section, depth: number): void => {
    const h = `h${Math.min(depth, 6)}`;
    parts.push(`<section><${h}>${escapeHtml(s.title)}</${h}>`);
    for (const block of s.blocks) parts.push(htmlBlock(block));
    for (const child of s.sections ?? []) section(child, depth + 1);
    parts.push("</section>");
  };
  for (const s of doc.sections) section(s, 2);
  parts.push("</article>");
  return parts.join("\n");
}

function htmlBlock(block: Block): string {
  switch (block.kind) {
    case "paragraph":
      return `<p>${escapeHtml(block.text)}</p>`;
    case "list":
      return `<ul>${block.items.map((i) => `<li>${escapeHtml(i)}</li>`).join("")}</ul>`;
    case "unknown":
      return `<div class="unknown"><p>Cannot be known yet:</p><ul>${block.items
        .map((i) => `<li>${escapeHtml(i)}</li>`)
        .join("")}</ul></div>`;
    case "figure":
      return `<figure data-chart="${escapeHtml(block.name)}">${inlineSvg(block.svg, block.name)}<figcaption>${escapeHtml(
        block.caption,
      )}</figcaption></figure>`;
    case "table": {
      const cls = (i: number) => (block.numeric?.[i] ? ' class="n"' : "");
      const head = block.columns.map((c, i) => `<th${cls(i)}>${escapeHtml(c)}</th>`).join("");
      const rows = block.rows
        .map((r) => `<tr>${r.map((c, i) => `<td${cls(i)}>${escapeHtml(c)}</td>`).join("")}</tr>`)
        .join("\n");
      return `<table><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>`;
    }
  }
}

/**
 * An SVG made to stand alone, fit to sit inside HTML: without its XML prolog, doctype and
 * comments, and with its ids prefixed by the figure's name, because several figures on one page
 * would otherwise share ids such as `clip1` and draw with each other's clip paths.
 */
export function inlineSvg(svg: string, prefix: string): string {
  return svg
    .replace(/<\?xml[^>]*\?>/g, "")
    .replace(/<!DOCTYPE[^>]*>/gi, "")
    .replace(/<!--[\s\S]*?-->/g, "")
    .replace(/\bid="([^"]+)"/g, `id="${prefix}-$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`)
    .replace(/href="#([^"]+)"/g, `href="#${prefix}-$1"`)
    .trim();
}
