import type { Backend } from "../backends/backend.js";
import { bytesToKey, keyToBytes, unsafeRelativeKey } from "../backends/keys.js";
import type { CatalogDb } from "../catalog/db.js";
import { fileById } from "../catalog/files.js";
import { closeInterrupted } from "../catalog/journal.js";
import { interruptedPacks, type MemberReplica, packAt, recordPack } from "../catalog/packs.js";
import type { ReplicaRecord } from "../catalog/replicas.js";
import { memberContent, PackMemberError } from "../codec/pack/pack-file.js";
import {
  type PackHeader,
  PackIndexError,
  type PackMember,
  packIndexKey,
  parsePackIndex,
} from "../codec/pack/pack-index.js";
import { hashObject, readObject } from "../transfer/copy.js";
import { removeLeftoverTempDirs } from "../transfer/temp-dirs.js";
import type { Endpoint } from "./toolkit.js";

/** Where one member's frame lies, as the catalog records it. */
export interface MemberPlace {
  pack: string;
  offset: number;
  length: number;
  codec: string;
}

/** Where a replica's bytes lie when it is a pack member; undefined for a whole object. */
export function memberPlaceOf(replica: {
  key: string;
  pack_id: number | null;
  pack_offset: number | null;
  pack_length: number | null;
  codec: string | null;
}): MemberPlace | undefined {
  if (replica.pack_id === null || replica.pack_offset === null || replica.pack_length === null) return undefined;
  return {
    pack: replica.key,
    offset: replica.pack_offset,
    length: replica.pack_length,
    codec: replica.codec ?? "none",
  };
}

/** A replica row's pack placement as `recordReplicas` takes it: `{ member }`, or nothing for a whole object. */
export function memberRecordOf(replica: Parameters<typeof memberPlaceOf>[0]): Pick<ReplicaRecord, "member"> {
  const place = memberPlaceOf(replica);
  if (!place || replica.pack_id === null) return {};
  return { member: { packId: replica.pack_id, offset: place.offset, length: place.length, codec: place.codec } };
}

/**
 * One member's content: one ranged read of its frame, never the whole pack; the frame decoded,
 * its tar records checked to name this path, and the content checked against the recorded size
 * and SHA-256. A frame cut short, another member at that offset or other bytes throw
 * PackMemberError naming the pack and the member.
 */
export async function readPackMember(
  backend: Backend,
  place: MemberPlace,
  member: { path: string; size: number; sha256: string },
): Promise<Buffer> {
  const frame = await readObject(backend, place.pack, { start: place.offset, end: place.offset + place.length - 1 });
  const where = {
    pack: place.pack,
    path: member.path,
    pathBytes: keyToBytes(member.path),
    // A member shared by deduplication names its first writer: a plain relative path, never one
    // that is absolute or climbs out.
    acceptsName: (name: Buffer) => unsafeRelativeKey(bytesToKey(name)) === undefined,
  };
  if (frame.length !== place.length) {
    throw new PackMemberError(
      `pack ${place.pack}, member ${JSON.stringify(member.path)}: truncated: ${frame.length} of ${place.length} bytes at offset ${place.offset}`,
    );
  }
  const { data } = await memberContent(where, frame, { codec: place.codec, size: member.size, sha256: member.sha256 });
  return data;
}

/** A pack whose index object was read and whose object matches the index's size and SHA-256. */
export interface CheckedPack {
  header: PackHeader;
  members: PackMember[];
}

/**
 * A pack found in a store, checked against its index: undefined when the pack or its index is
 * missing (a write that never finished); throws naming the place when the index is damaged or
 * disagrees with the pack, or a member's path would escape a restore target.
 */
export async function checkedPack(backend: Backend, key: string): Promise<CheckedPack | undefined> {
  const indexKey = packIndexKey(key);
  const [pack, index] = await Promise.all([backend.stat(key), backend.stat(indexKey)]);
  if (!pack || !index) return undefined;
  const { header, members } = parsePackIndex(indexKey, (await readObject(backend, indexKey)).toString("utf8"));
  const disagree = (why: string) => new PackMemberError(`pack ${key}: its index ${indexKey} ${why}`);
  if (header.pack !== key) throw disagree(`names another pack, ${JSON.stringify(header.pack)}`);
  if (pack.size !== header.size) throw disagree(`says ${header.size} bytes, the pack has ${pack.size}`);
  const sha256 = pack.sha256 ?? (await hashObject(backend, key));
  if (sha256 !== header.sha256) throw disagree(`says SHA-256 ${header.sha256}, the pack's is ${sha256}`);
  for (const member of members) {
    const unsafe = unsafeRelativeKey(member.path);
    if (unsafe) throw disagree(`lists member ${JSON.stringify(member.path)}: ${unsafe}`);
  }
  return { header, members };
}

/** The replica a member of a checked pack is for a file: what the catalog records. */
export function memberReplica(
  locationId: number,
  pack: CheckedPack,
  member: PackMember,
  file: { id: number; size: number; mtime_us: number },
): MemberReplica {
  return {
    fileId: file.id,
    locationId,
    key: pack.header.pack,
    size: member.size,
    hash: member.sha256,
    storageClass: null,
    state: "present",
    sourceSize: file.size,
    sourceMtimeUs: file.mtime_us,
    etag: null,
    verifiedAt: Date.now(),
    offset: member.offset,
    length: member.length,
  };
}

/**
 * Before a sync plans: each pack that runs killed here were writing is looked at. One recorded
 * before the kill is done; one whole in the store with its index (written, not yet recorded) is
 * recorded for the members that are still their file's version; anything else is removed, pack
 * and index: it is nobody's only copy, the sources were read to make it and are packed again.
 */
export async function reconcileInterruptedPacks(catalog: CatalogDb, target: Endpoint): Promise<void> {
  // A killed run's packs in the making, left in TMPDIR, go with what it left in the catalog.
  await removeLeftoverTempDirs();
  for (const interrupted of await interruptedPacks(catalog, target.locationId)) {
    // A store that cannot be read now keeps the actions interrupted, for the next run to look at.
    const settled = await settleInterruptedPack(catalog, target, interrupted).then(
      () => true,
      () => false,
    );
    if (settled) await closeInterrupted(catalog, interrupted.actionIds);
  }
}

async function settleInterruptedPack(
  catalog: CatalogDb,
  target: Endpoint,
  interrupted: { key: string; fileIds: number[] },
): Promise<void> {
  const { key } = interrupted;
  if (await packAt(catalog, target.locationId, key)) return;
  // A pack the index disagrees with is damaged: removed like an unfinished one. Any other error
  // (the store not answering) leaves it for the next run.
  const pack = await checkedPack(target.backend, key).catch((err: unknown) => {
    if (err instanceof PackMemberError || err instanceof PackIndexError) return undefined;
    throw err;
  });
  if (!pack) {
    await target.backend.delete([key, packIndexKey(key)]);
    return;
  }
  const byPath = new Map(pack.members.map((m) => [m.path, m]));
  const replicas: MemberReplica[] = [];
  for (const fileId of interrupted.fileIds) {
    const file = await fileById(catalog, fileId);
    const member = file && byPath.get(file.path);
    if (!file || !member || !isVersion(member, file)) continue;
    replicas.push(memberReplica(target.locationId, pack, member, file));
  }
  const { header } = pack;
  await recordPack(
    catalog,
    {
      locationId: target.locationId,
      key,
      size: header.size,
      hash: header.sha256,
      codec: header.codec,
      members: header.members,
    },
    replicas,
  );
}

/** Whether a member holds the file's version in the catalog: size, mtime, and hash when known. */
function isVersion(member: PackMember, file: { size: number; mtime_us: number; hash: string | null }): boolean {
  return (
    member.size === file.size && member.mtimeUs === file.mtime_us && (file.hash === null || file.hash === member.sha256)
  );
}
