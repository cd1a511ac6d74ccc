import { keyToBytes, printablePath } from "../../backends/keys.js";
import { UsageError } from "../../config/errors.js";
import { principalName } from "../../policy/selector.js";
import type { FoundFile } from "./index.js";

/**
 * How found files are printed: `LOCATION:PATH` lines (paths as a terminal may show them, one
 * entry per line), NUL-separated raw names for xargs -0, -ls, -printf, and records for
 * programs (JSON, CSV). Everything here is a pure function of the row.
 */

export function printed(file: FoundFile): string {
  return `${file.location_name}:${printablePath(file.path)}`;
}

/** -print0: the name's own bytes (what a program handed it opens), NUL-terminated. */
export function printedRaw(file: FoundFile): Buffer {
  let name: Buffer;
  try {
    name = keyToBytes(file.path);
  } catch {
    // A key no name encodes to (written into a store by hand) has no bytes of its own to give.
    name = Buffer.from(printablePath(file.path));
  }
  return Buffer.concat([Buffer.from(`${file.location_name}:`), name, Buffer.from([0])]);
}

/** The fields of -printf; `%C` and `--json`'s `copies` need the query's verified-copies column. */
export const PRINTF_FIELDS: Record<string, { means: string; value: (file: FoundFile) => string }> = {
  p: { means: "LOCATION:PATH", value: printed },
  P: { means: "path within its location", value: (f) => printablePath(f.path) },
  f: { means: "base name", value: (f) => printablePath(baseName(f.path)) },
  h: { means: "directory of the path (. at the top)", value: (f) => printablePath(dirName(f.path)) },
  L: { means: "location name", value: (f) => f.location_name },
  s: { means: "size in bytes", value: (f) => String(f.size) },
  k: { means: "size in KiB, rounded up", value: (f) => String(Math.ceil(f.size / 1024)) },
  m: { means: "permission bits, octal", value: (f) => (f.mode & 0o7777).toString(8) },
  M: { means: "permissions as ls shows them", value: (f) => modeString(f.mode, f.kind) },
  u: { means: "owner's name (or uid)", value: (f) => principalName("owner", f.uid) ?? String(f.uid) },
  U: { means: "uid", value: (f) => String(f.uid) },
  g: { means: "group's name (or gid)", value: (f) => principalName("group", f.gid) ?? String(f.gid) },
  G: { means: "gid", value: (f) => String(f.gid) },
  i: { means: "inode", value: (f) => String(f.inode) },
  y: { means: "type: f, d, l or ?", value: (f) => kindLetter(f.kind) },
  t: { means: "mtime, ISO 8601 UTC", value: (f) => iso(f.mtime_us) },
  a: { means: "atime, ISO 8601 UTC", value: (f) => iso(f.atime_us) },
  c: { means: "ctime, ISO 8601 UTC", value: (f) => iso(f.ctime_us) },
  T: { means: "mtime, seconds since the epoch", value: (f) => epochSeconds(f.mtime_us) },
  A: { means: "atime, seconds since the epoch", value: (f) => epochSeconds(f.atime_us) },
  S: { means: "state (present, released, missing, deleted)", value: (f) => f.state },
  C: { means: "verified copies", value: (f) => String(f.verified_copies ?? 0) },
  H: { means: "SHA-256 (empty until read)", value: (f) => f.hash ?? "" },
  Y: { means: "detected file type (empty if none)", value: (f) => f.file_type ?? "" },
};

const PRINTF_ESCAPES: Record<string, string> = { n: "\n", t: "\t", "0": "\0", "\\": "\\" };

/** Compiles a -printf format once; unknown directives are refused before anything runs. */
export function printfFormatter(format: string): { render: (file: FoundFile) => string; needsCopies: boolean } {
  const pieces: (string | ((file: FoundFile) => string))[] = [];
  let needsCopies = false;
  for (let i = 0; i < format.length; i++) {
    const char = format[i] as string;
    const next = format[i + 1];
    if (char === "\\" && next !== undefined && PRINTF_ESCAPES[next] !== undefined) {
      pieces.push(PRINTF_ESCAPES[next] as string);
      i++;
    } else if (char === "%") {
      if (next === "%") pieces.push("%");
      else {
        const field = next === undefined ? undefined : PRINTF_FIELDS[next];
        if (field === undefined) {
          const known = Object.keys(PRINTF_FIELDS)
            .map((k) => `%${k}`)
            .join(" ");
          throw new UsageError(
            `find: -printf ${JSON.stringify(format)}: unknown directive %${next ?? ""} (known: ${known} %%)`,
          );
        }
        if (next === "C") needsCopies = true;
        pieces.push(field.value);
      }
      i++;
    } else pieces.push(char);
  }
  return { render: (file) => pieces.map((p) => (typeof p === "string" ? p : p(file))).join(""), needsCopies };
}

/** -ls: inode, permissions, owner, group, size, mtime, state when not present, LOCATION:PATH. */
export function lsLine(file: FoundFile): string {
  const user = PRINTF_FIELDS.u?.value(file) ?? "";
  const group = PRINTF_FIELDS.g?.value(file) ?? "";
  const state = file.state === "present" ? "" : ` [${file.state}]`;
  return (
    `${String(file.inode).padStart(9)} ${modeString(file.mode, file.kind)} ${user.padEnd(8)} ${group.padEnd(8)} ` +
    `${String(file.size).padStart(12)} ${iso(file.mtime_us).slice(0, 16)} ${printed(file)}${state}`
  );
}

/** One record for --json, --ndjson and --csv: the catalog's facts, paths in the key encoding. */
export function record(file: FoundFile) {
  return {
    location: file.location_name,
    path: file.path,
    kind: file.kind,
    size: file.size,
    mtimeUs: file.mtime_us,
    atimeUs: file.atime_us,
    ctimeUs: file.ctime_us,
    mode: file.mode,
    uid: file.uid,
    gid: file.gid,
    state: file.state,
    hash: file.hash,
    fileType: file.file_type,
    tags: file.tags === null ? null : (JSON.parse(file.tags) as Record<string, string>),
    copies: file.verified_copies ?? 0,
  };
}

export const CSV_COLUMNS = [
  "location",
  "path",
  "kind",
  "size",
  "mtimeUs",
  "atimeUs",
  "ctimeUs",
  "mode",
  "uid",
  "gid",
  "state",
  "hash",
  "fileType",
  "copies",
] as const;

/** RFC 4180: a field holding a comma, a quote or a line break is quoted, quotes doubled. */
export function csvLine(values: readonly unknown[]): string {
  return values
    .map((value) => {
      const text = value === null || value === undefined ? "" : String(value);
      return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
    })
    .join(",");
}

export function csvRow(file: FoundFile): string {
  const fields = record(file);
  return csvLine(CSV_COLUMNS.map((column) => fields[column]));
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function dirName(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : path.slice(0, slash);
}

function iso(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString();
}

function epochSeconds(us: number): string {
  return (us / 1e6).toFixed(6);
}

function kindLetter(kind: FoundFile["kind"]): string {
  return kind === "file" ? "f" : kind === "dir" ? "d" : kind === "symlink" ? "l" : "?";
}

/** `drwxr-x---` from st_mode, with setuid, setgid and sticky as ls shows them. */
function modeString(mode: number, kind: FoundFile["kind"]): string {
  const type = kind === "dir" ? "d" : kind === "symlink" ? "l" : kind === "file" ? "-" : "?";
  let out = type;
  for (const [shift, special, mark] of [
    [6, 0o4000, "s"],
    [3, 0o2000, "s"],
    [0, 0o1000, "t"],
  ] as const) {
    const bits = (mode >> shift) & 7;
    const x = bits & 1;
    const executable = mode & special ? (x ? mark : mark.toUpperCase()) : x ? "x" : "-";
    out += `${bits & 4 ? "r" : "-"}${bits & 2 ? "w" : "-"}${executable}`;
  }
  return out;
}
