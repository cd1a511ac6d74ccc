/**
 * What a stub looks like from outside: its size and its first bytes (see stub.ts for the format).
 * Kept apart from the parser so that the scan's walker threads, which only ask "may this file be
 * a stub?", start without the schema library; they load stub.ts for the rare file that may be one.
 */

/** Larger than any stub Strata writes; a file past it is data, not a stub, and is never parsed. */
export const STUB_MAX_BYTES = 64 * 1024;

/** The first bytes of every stub (v1). */
export const STUB_HEADER = "# strata stub v1 ";
/** STUB_HEADER as bytes: what a file must begin with to be looked at as a stub. */
export const STUB_HEADER_BYTES = Buffer.from(STUB_HEADER);

/** Whether `bytes` (a file's first bytes, or all of them) begin as every stub does. */
export function startsLikeStub(bytes: Buffer): boolean {
  return bytes.subarray(0, STUB_HEADER_BYTES.length).equals(STUB_HEADER_BYTES);
}

export const STUB_SIZE_MODULUS = 4096;
/** An odd size few data files have; any fixed value works as long as writer and scanner agree. */
export const STUB_SIZE_RESIDUE = 3001;

/** Whether a regular file of `size` bytes may be a stub Strata wrote (padded): cheap, from the size alone. */
export function mayBeStub(size: number): boolean {
  return size <= STUB_MAX_BYTES && size % STUB_SIZE_MODULUS === STUB_SIZE_RESIDUE;
}
