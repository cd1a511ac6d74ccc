// ---- metadata names: Azure wants C# identifiers (see AzureBackend.toAzureMetadata) ----

const STRATA_META = "strata-";
const STRATA_AZURE_META = "strata_";

/** Strata's `strata-mtime-us` → `strata_mtime_us`; a user name must already be an identifier. */
export function toAzureName(name: string): string | undefined {
  if (name.startsWith(STRATA_META)) {
    const rest = name.slice(STRATA_META.length);
    // Reversible only while Strata's own names hold hyphens and no underscores.
    return /^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(rest) ? STRATA_AZURE_META + rest.replaceAll("-", "_") : undefined;
  }
  if (name.startsWith(STRATA_AZURE_META)) return undefined;
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : undefined;
}

export function fromAzureMetadata(meta: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(meta)) {
    const lower = name.toLowerCase();
    out[
      lower.startsWith(STRATA_AZURE_META)
        ? STRATA_META + lower.slice(STRATA_AZURE_META.length).replaceAll("_", "-")
        : lower
    ] = value;
  }
  return out;
}

// ---- blob name encoding ----

/**
 * Keys are opaque strings; Azure blob names are not. The service (and the SDK's URL handling)
 * resolves "." and ".." path segments, so "p/../x" would land on "x", outside the prefix; it
 * turns "\" into "/", refuses control characters, and drops a segment's trailing dot. As
 * rclone does, such characters travel as look-alikes: C0 controls and DEL as the control
 * pictures U+2400.., "\" as U+FF3C, a segment's trailing "." as U+FF0E, and a literal look-alike
 * (or the quote itself) behind the quote U+201B. Every other key is its own blob name.
 */
const QUOTE = "\u201b";
const TRAILING_DOT = "\uff0e";
const LOOK_ALIKES = new Map<string, string>([
  ...Array.from({ length: 0x20 }, (_, c): [string, string] => [
    String.fromCharCode(c),
    String.fromCharCode(0x2400 + c),
  ]),
  ["\x7f", "\u2421"],
  ["\\", "\uff3c"],
]);
const ORIGINALS = new Map<string, string>([
  ...[...LOOK_ALIKES].map(([a, b]): [string, string] => [b, a]),
  [TRAILING_DOT, "."],
]);

function encodeSegment(segment: string, complete: boolean): string {
  let out = "";
  for (const ch of segment) {
    const look = LOOK_ALIKES.get(ch);
    if (look) out += look;
    else if (ch === QUOTE || ORIGINALS.has(ch)) out += QUOTE + ch;
    else out += ch;
  }
  return complete && out.endsWith(".") ? out.slice(0, -1) + TRAILING_DOT : out;
}

export function encodeName(path: string): string {
  return path
    .split("/")
    .map((segment) => encodeSegment(segment, true))
    .join("/");
}

export function decodeName(name: string): string {
  let out = "";
  const chars = [...name];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] as string;
    if (ch === QUOTE && i + 1 < chars.length) {
      i += 1;
      out += chars[i];
    } else {
      out += ORIGINALS.get(ch) ?? ch;
    }
  }
  return out;
}

/**
 * The blob-name prefix every key starting with `path` has. The last segment may be cut short,
 * so its final "." might yet be the segment's end (and encoded): it is left off, and list()
 * filters the few extra names this lets through.
 */
export function encodePrefix(path: string): string {
  const slash = path.lastIndexOf("/");
  const head = slash < 0 ? "" : `${encodeName(path.slice(0, slash))}/`;
  const tail = path.slice(slash + 1);
  return head + encodeSegment(tail.endsWith(".") ? tail.slice(0, -1) : tail, false);
}
