import { keyToBytes } from "../backends/keys.js";

/**
 * A path as a terminal may show it: control characters (a newline in a name) and bytes that
 * were not UTF-8 are written as escapes, so one entry is always one line.
 */
export function printablePath(path: string): string {
  const bytes = keyToBytes(path);
  const text = bytes.toString("utf8");
  const exact = Buffer.from(text, "utf8").equals(bytes);
  if (exact && !/[\u0000-\u001f\u007f]/.test(text)) return text;
  let out = "";
  for (const char of exact ? text : bytes.toString("latin1")) {
    const code = char.codePointAt(0) as number;
    out += code < 0x20 || code === 0x7f || (!exact && code >= 0x80) ? `\\x${code.toString(16).padStart(2, "0")}` : char;
  }
  return out;
}
