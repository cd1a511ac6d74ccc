/**
 * GCS object names cannot hold CR or LF (keys can). They are escaped with the two control
 * characters that sort right after them, VT and SO, which are escaped too:
 *   LF → VT "n", VT → VT "v", CR → SO "r", SO → SO "s".
 * Every character keeps its place in UTF-8 byte order, so a listing stays in key order, and
 * names without these four characters (all but a handful) are the keys themselves.
 */
const NAME_ESCAPES: Record<string, string> = { "\n": "\x0Bn", "\x0B": "\x0Bv", "\r": "\x0Er", "\x0E": "\x0Es" };
const NAME_UNESCAPES: Record<string, string> = { "\x0Bn": "\n", "\x0Bv": "\x0B", "\x0Er": "\r", "\x0Es": "\x0E" };

export function toObjectName(key: string): string {
  return key.replace(/[\n\x0B\r\x0E]/g, (c) => NAME_ESCAPES[c] ?? c);
}

export function fromObjectName(name: string): string {
  return name.replace(/\x0B[nv]|\x0E[rs]/g, (pair) => NAME_UNESCAPES[pair] ?? pair);
}
