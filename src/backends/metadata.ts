import { CODEC_NAMES } from "../codec/codec.js";
import type { AttributeTrust, FileAttributes, ObjectInfo } from "./backend.js";

/**
 * How a file's attributes ride along with its object as user metadata, the same on every
 * object store, so the catalog can be rebuilt from the objects alone. Values are ASCII (HTTP
 * headers carry them on the clouds): the path is percent-encoded, numbers are decimal, the mode
 * is octal.
 */
const PREFIX = "strata-";

export function attributesToMetadata(attrs: FileAttributes): Record<string, string> {
  const meta: Record<string, string> = { [`${PREFIX}mtime-us`]: String(attrs.mtimeUs) };
  if (attrs.mode !== undefined) meta[`${PREFIX}mode`] = (attrs.mode & 0o7777).toString(8);
  if (attrs.uid !== undefined) meta[`${PREFIX}uid`] = String(attrs.uid);
  if (attrs.gid !== undefined) meta[`${PREFIX}gid`] = String(attrs.gid);
  if (attrs.path !== undefined) meta[`${PREFIX}path`] = encodeURIComponent(attrs.path);
  if (attrs.sha256 !== undefined) meta[`${PREFIX}sha256`] = attrs.sha256;
  if (attrs.origin !== undefined) meta[`${PREFIX}origin`] = encodeURIComponent(attrs.origin);
  if (attrs.codec !== undefined) meta[`${PREFIX}codec`] = attrs.codec;
  if (attrs.size !== undefined) meta[`${PREFIX}size`] = String(attrs.size);
  return meta;
}

/** Reads attributes back; anything malformed is ignored rather than trusted. */
export function metadataToAttributes(meta: Record<string, string>): FileAttributes | undefined {
  const mtimeUs = integer(meta[`${PREFIX}mtime-us`]);
  if (mtimeUs === undefined) return undefined;
  const attrs: FileAttributes = { mtimeUs };
  const mode = meta[`${PREFIX}mode`];
  if (mode !== undefined && /^[0-7]{1,4}$/.test(mode)) attrs.mode = Number.parseInt(mode, 8);
  const uid = integer(meta[`${PREFIX}uid`]);
  if (uid !== undefined) attrs.uid = uid;
  const gid = integer(meta[`${PREFIX}gid`]);
  if (gid !== undefined) attrs.gid = gid;
  const path = decodePath(meta[`${PREFIX}path`]);
  if (path !== undefined) attrs.path = path;
  const sha256 = meta[`${PREFIX}sha256`];
  if (sha256 !== undefined && /^[0-9a-f]{64}$/.test(sha256)) attrs.sha256 = sha256;
  const origin = decodePath(meta[`${PREFIX}origin`]);
  if (origin !== undefined) attrs.origin = origin;
  const codec = CODEC_NAMES.find((name) => name !== "none" && name === meta[`${PREFIX}codec`]);
  if (codec !== undefined && codec !== "none") attrs.codec = codec;
  const size = integer(meta[`${PREFIX}size`]);
  if (size !== undefined && size >= 0) attrs.size = size;
  return attrs;
}

/**
 * The SHA-256 of an object's content. A compressed object's is the one its metadata records (the
 * store's own, where it keeps one, is of the frames); a raw object's is the store's, else its
 * metadata's.
 */
export function contentSha256(info: ObjectInfo): string | undefined {
  return info.attributes?.codec ? info.attributes.sha256 : (info.sha256 ?? info.attributes?.sha256);
}

/** The size of an object's content: a compressed object's metadata records it, a raw one's is its own. */
export function contentSize(info: ObjectInfo): number {
  return info.attributes?.codec ? (info.attributes.size ?? info.size) : info.size;
}

// Declared with the contract (WriteInfo.trust), which must not import this module back.
export type { AttributeTrust } from "./backend.js";

export const TRUST_NOTHING: AttributeTrust = { specialBits: false, rootOwner: false };

export interface Owner {
  uid: number;
  gid: number;
}

export interface Ownership {
  /** The permission bits to set, after the owner. */
  mode?: number;
  /** The owner to give the file, or undefined to leave it the writer's. */
  owner?: Owner;
}

/**
 * The owner and mode a file written by `writer` gets from its recorded attributes. Only root can
 * give a file away, so only a root writer applies owners; an owner of root (uid or gid 0) is what
 * a forged object would claim, so it is believed only with `trust.rootOwner`, otherwise the file
 * stays the writer's. Special bits are kept only with `trust.specialBits`, and never on a file
 * that ends up root's unless that very owner was recorded and trusted: a setuid root program is
 * made only by explicit request, as root.
 */
export function ownershipToApply(
  attrs: Pick<FileAttributes, "mode" | "uid" | "gid">,
  trust: AttributeTrust,
  writer: Owner,
): Ownership {
  const owner = trustedOwner(attrs, trust, writer);
  if (attrs.mode === undefined) return owner ? { owner } : {};
  const final = owner ?? writer;
  const rootOwned = final.uid === 0 || final.gid === 0;
  const keepSpecial = trust.specialBits && (!rootOwned || owner !== undefined);
  const mode = attrs.mode & (keepSpecial ? 0o7777 : 0o777);
  return owner ? { mode, owner } : { mode };
}

function trustedOwner(attrs: Pick<FileAttributes, "uid" | "gid">, trust: AttributeTrust, writer: Owner) {
  if (writer.uid !== 0 || attrs.uid === undefined || attrs.gid === undefined) return undefined;
  if ((attrs.uid === 0 || attrs.gid === 0) && !trust.rootOwner) return undefined;
  return { uid: attrs.uid, gid: attrs.gid };
}

/** User metadata without Strata's own entries. */
export function userMetadata(meta: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(meta).filter(([k]) => !k.startsWith(PREFIX)));
}

function integer(value: string | undefined): number | undefined {
  if (value === undefined || !/^-?\d{1,16}$/.test(value)) return undefined;
  return Number(value);
}

function decodePath(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}
