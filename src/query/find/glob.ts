/**
 * find's patterns (fnmatch without flags, as GNU find uses them: `*` and `?` match any
 * character, `/` and a leading `.` included; `[...]` and `[!...]` classes; `\` quotes the next
 * character) spelled for each database, and the literal runs a trigram index can look up.
 *
 * Patterns match the path as the catalog stores it, in the key encoding: a name that is valid
 * UTF-8 (nearly every name) is itself, and each byte that is not is one private-use character,
 * which `?`, `*` or a class matches (docs/key-encoding.md).
 */

type Part =
  | { kind: "literal"; text: string }
  | { kind: "any" }
  | { kind: "one" }
  | { kind: "class"; body: string; negated: boolean };

export function parseGlob(pattern: string): Part[] {
  const parts: Part[] = [];
  const chars = [...pattern];
  const literal = (char: string) => {
    const last = parts.at(-1);
    if (last?.kind === "literal") last.text += char;
    else parts.push({ kind: "literal", text: char });
  };
  for (let i = 0; i < chars.length; i++) {
    const char = chars[i] as string;
    if (char === "\\" && i + 1 < chars.length) literal(chars[++i] as string);
    else if (char === "*") parts.push({ kind: "any" });
    else if (char === "?") parts.push({ kind: "one" });
    else if (char === "[") {
      const end = classEnd(chars, i);
      if (end === undefined) {
        literal(char);
        continue;
      }
      const negated = chars[i + 1] === "!" || chars[i + 1] === "^";
      parts.push({ kind: "class", body: chars.slice(i + (negated ? 2 : 1), end).join(""), negated });
      i = end;
    } else literal(char);
  }
  return parts;
}

/** The index of the `]` closing a class opened at `open`; a `]` first in the class is a member. */
function classEnd(chars: string[], open: number): number | undefined {
  let i = open + 1;
  if (chars[i] === "!" || chars[i] === "^") i++;
  if (chars[i] === "]") i++;
  for (; i < chars.length; i++) if (chars[i] === "]") return i;
  return undefined;
}

/** SQLite's GLOB has no escape character: a special character stands alone in a class. */
export function sqliteGlob(parts: Part[]): string {
  return parts.map(sqliteGlobPart).join("");
}

function sqliteGlobPart(part: Part): string {
  switch (part.kind) {
    case "literal":
      return part.text.replace(/[*?[]/g, (c) => `[${c}]`);
    case "any":
      return "*";
    case "one":
      return "?";
    case "class":
      return `[${part.negated ? "^" : ""}${part.body}]`;
  }
}

/** A POSIX regular expression for PostgreSQL's `~`, anchored at both ends. */
export function postgresRegex(parts: Part[]): string {
  return `^${parts.map(regexPart).join("")}$`;
}

function regexPart(part: Part): string {
  switch (part.kind) {
    case "literal":
      return part.text.replace(/[\\^$.|?*+()[\]{}]/g, (c) => `\\${c}`);
    case "any":
      return ".*";
    case "one":
      return ".";
    case "class":
      return `[${part.negated ? "^" : ""}${part.body.replace(/\\/g, "\\\\")}]`;
  }
}

/**
 * The runs of three or more literal characters that every match holds within its last path
 * component: all of them for a name pattern; for a path pattern, only a literal tail after the
 * last wildcard and the last `/` (anything before may lie in a directory's name).
 */
export function nameLiterals(parts: Part[], wholePath: boolean): string[] {
  if (!wholePath) return literalRuns(parts);
  const tail = parts.at(-1);
  if (tail?.kind !== "literal") return [];
  const name = tail.text.slice(tail.text.lastIndexOf("/") + 1);
  return [...name].length >= 3 ? [name] : [];
}

function literalRuns(parts: Part[]): string[] {
  return parts.flatMap((part) => (part.kind === "literal" && [...part.text].length >= 3 ? [part.text] : []));
}

/**
 * An FTS5 query for the trigram index: every trigram of every run, ANDed. The index is built
 * with detail=none, which knows no positions, so phrases are not available; the rows it
 * returns are a superset the exact pattern then narrows.
 */
export function trigramQuery(runs: string[]): string | undefined {
  const trigrams = new Set<string>();
  for (const run of runs) {
    const chars = [...run];
    for (let i = 0; i + 3 <= chars.length; i++) trigrams.add(chars.slice(i, i + 3).join(""));
  }
  if (trigrams.size === 0) return undefined;
  return [...trigrams].map((t) => `"${t.replace(/"/g, '""')}"`).join(" AND ");
}
