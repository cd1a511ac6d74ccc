/**
 * POSIX names are bytes; object keys, catalog paths and JSON are Unicode. This module is the
 * one reversible bridge between them (documented in docs/key-encoding.md):
 *
 * - a name that is valid UTF-8 is its own key, character for character;
 * - each byte that is not part of a valid UTF-8 sequence becomes U+F780..U+F7FF (0xF700 + byte);
 * - a literal character from the private-use block U+F700..U+F7FF is written as U+F700
 *   followed by that character, so the mapping stays one to one.
 *
 * Escapes only ever stand for bytes 0x80..0xFF or for characters of the block, so a key can never
 * decode to "/", "." or NUL that it did not spell out plainly; a key that uses the block any other
 * way did not come from a name and is refused (MalformedKeyError).
 */

const ESCAPE = 0xf700;
const BLOCK_END = 0xf7ff;
const RAW_BYTE_START = 0xf780;

/** True when a key holds escapes and so needs `keyToBytes` to reach the filesystem. */
export function hasEscapes(key: string): boolean {
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c >= ESCAPE && c <= BLOCK_END) return true;
  }
  return false;
}

/** Bytes of a POSIX name (or path) to its key. */
export function bytesToKey(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const length = validSequenceLength(bytes, i);
    if (length === 0) {
      out += String.fromCharCode(ESCAPE + (bytes[i] as number));
      i += 1;
      continue;
    }
    const char = Buffer.from(bytes.subarray(i, i + length)).toString("utf8");
    const code = char.codePointAt(0) as number;
    out += code >= ESCAPE && code <= BLOCK_END ? String.fromCharCode(ESCAPE) + char : char;
    i += length;
  }
  return out;
}

/** A key that `bytesToKey` cannot have written: an escape that stands for nothing. */
export class MalformedKeyError extends Error {
  constructor(
    readonly key: string,
    readonly detail: string,
  ) {
    super(`${JSON.stringify(key)}: malformed name escape: ${detail}`);
    this.name = "MalformedKeyError";
  }
}

/** A key back to the exact bytes of the POSIX name it came from; throws MalformedKeyError. */
export function keyToBytes(key: string): Buffer {
  const decoded = decodeKey(key);
  if (typeof decoded === "string") throw new MalformedKeyError(key, decoded);
  return decoded;
}

/**
 * The bytes a key stands for, or why it stands for none. Only what `bytesToKey` writes is
 * decoded: U+F700 followed by a character of U+F700..U+F7FF, and U+F780..U+F7FF alone. Anything
 * else from the block (U+F700 before a "/" or a "."), or a lone surrogate, is refused rather than
 * guessed at: a key from a store is untrusted, and a guess is how `..\uF700/x` became `../x`.
 */
function decodeKey(key: string): Buffer | string {
  // UTF-8 has no bytes for a lone surrogate: Buffer.from would write U+FFFD in its place.
  if (!key.isWellFormed()) return "not well-formed Unicode (a lone surrogate)";
  const parts: Buffer[] = [];
  let plainStart = 0;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < ESCAPE || c > BLOCK_END) continue;
    parts.push(Buffer.from(key.slice(plainStart, i), "utf8"));
    if (c === ESCAPE) {
      const next = key.charCodeAt(i + 1);
      if (!(next >= ESCAPE && next <= BLOCK_END)) {
        const what = Number.isNaN(next) ? "the end of the key" : `U+${hex(next)}`;
        return `U+F700 at ${i} is followed by ${what}, not a character of U+F700-U+F7FF`;
      }
      parts.push(Buffer.from(key[i + 1] as string, "utf8"));
      i += 1;
    } else if (c >= RAW_BYTE_START) {
      parts.push(Buffer.from([c - ESCAPE]));
    } else {
      return `U+${hex(c)} at ${i} is neither an escaped byte (U+F780-U+F7FF) nor escaped by U+F700`;
    }
    plainStart = i + 1;
  }
  parts.push(Buffer.from(key.slice(plainStart), "utf8"));
  return Buffer.concat(parts);
}

function hex(code: number): string {
  return code.toString(16).toUpperCase().padStart(4, "0");
}

/**
 * The filesystem path of `key` under `root`: a string when the key is its own name, bytes when
 * it holds escapes. Only the key is decoded; the root is the user's path as given.
 */
export function pathUnder(root: string, key: string): string | Buffer {
  if (key === "") return root;
  return hasEscapes(key) ? Buffer.concat([Buffer.from(`${root}/`), keyToBytes(key)]) : `${root}/${key}`;
}

/** A name read from the filesystem as a string is exact unless it held invalid UTF-8. */
export function isExactName(name: string): boolean {
  return !name.includes("\uFFFD") && !hasEscapes(name);
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 when the byte there is invalid. */
function validSequenceLength(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i] as number;
  if (b0 < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => {
    const b = bytes[i + k];
    return b !== undefined && b >= lo && b <= hi;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if (b0 === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (b0 >= 0xe1 && b0 <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (b0 === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b0 >= 0xf1 && b0 <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b0 === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** The longest name most POSIX filesystems take (NAME_MAX). */
const NAME_MAX = 255;
const SLASH = 0x2f;
const DOT = 0x2e;

/**
 * Checks that a relative key is safe to join under a directory. The key is decoded first and the
 * bytes it stands for are checked, as the filesystem will see them: not malformed, not empty, no
 * NUL, not absolute, and each component a name (not empty, ".", ".." or over 255 bytes). Remote
 * keys are untrusted; this is what keeps a restore inside its target.
 * Returns the reason it is unsafe, or undefined.
 */
export function unsafeRelativeKey(key: string): string | undefined {
  if (key.length === 0) return "empty key";
  const bytes = decodeKey(key);
  if (typeof bytes === "string") return `malformed name escape: ${bytes}`;
  if (bytes.includes(0)) return "key contains NUL";
  if (bytes[0] === SLASH) return "key is absolute";
  let start = 0;
  while (start <= bytes.length) {
    const slash = bytes.indexOf(SLASH, start);
    const end = slash < 0 ? bytes.length : slash;
    const length = end - start;
    if (length === 0) return "key has an empty segment";
    if (bytes[start] === DOT && (length === 1 || (length === 2 && bytes[start + 1] === DOT))) {
      return `key has a "${".".repeat(length)}" segment`;
    }
    if (length > NAME_MAX) return `key has a name longer than ${NAME_MAX} bytes`;
    start = end + 1;
  }
  return undefined;
}

/**
 * A path as a terminal may show it: control characters (a newline in a name) and bytes that
 * were not UTF-8 are written as escapes, so one entry is always one line.
 */
export function printablePath(path: string): string {
  const bytes = decodeKey(path);
  // A malformed key is shown as it is spelled, its private-use characters as \u escapes.
  if (typeof bytes === "string") return path.replace(/[\uF700-\uF7FF\u0000-\u001f\u007f]/g, unicodeEscape);
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

function unicodeEscape(char: string): string {
  return `\\u${(char.codePointAt(0) as number).toString(16).padStart(4, "0")}`;
}
