import type { Stats } from "node:fs";
import { chmod, chown, lstat, rename, rm, utimes, writeFile } from "node:fs/promises";
import { type Backend, type FileTree, NotFoundError } from "../backends/backend.js";
import { unlessPermission } from "../backends/fs-errors.js";
import { printablePath } from "../backends/keys.js";
import { contentSha256, contentSize } from "../backends/metadata.js";
import { forgetStub, markReleased, recordStub, type StubStat } from "../catalog/files.js";
import { markVerified, replicasOfFile } from "../catalog/replicas.js";
import type { FileRow } from "../catalog/schema.js";
import { PackMemberError } from "../codec/pack/pack-file.js";
import { renderStub, type StubRecord } from "../codec/stub.js";
import type { ReleasePolicyAction } from "../policy/actions.js";
import { hashObject } from "../transfer/copy.js";
import { withRetry } from "../transfer/retry.js";
import { changedOnDisk, lstatIfAny, usOf } from "./on-disk.js";
import { failed, type Outcome, stale } from "./outcome.js";
import { type MemberPlace, memberPlaceOf, readPackMember } from "./pack-store.js";
import type { PolicyRun } from "./policy-run.js";

type Replica = Awaited<ReturnType<typeof replicasOfFile>>[number];

/**
 * Frees a POSIX file's space: only once every required replica is on record as a present copy
 * of this very version and reads back with the file's SHA-256 now, and only while the file on
 * disk is still the version the catalog holds. The file is then replaced, atomically, by a stub
 * that says where its data is; the catalog marks it released and keeps its size, mtime and hash.
 */
export async function releaseFile(run: PolicyRun, action: ReleasePolicyAction, file: FileRow): Promise<Outcome> {
  const from = await run.resolve(action.file.location);
  const tree = from.backend.tree;
  if (!tree) return failed(`${from.name} is not a POSIX tree: nothing to release`);
  const problems = await verifyCopies(run, file, action.requires);
  if (problems.length > 0) return failed(`not released: ${problems.join("; ")}`);
  const good = (await replicasOfFile(run.catalog, file.id)).filter(
    (r) => r.state === "present" && r.hash === file.hash,
  );
  const record: StubRecord = {
    strata: "stub",
    version: 1,
    path: file.path,
    size: file.size,
    mtimeUs: file.mtime_us,
    sha256: file.hash as string,
    replicas: good.map((r) => ({ location: r.location_name, url: r.location_url, key: r.key, class: r.storage_class })),
  };
  const stub = renderStub(action.policy, `${from.name}:${printablePath(file.path)}`, new Date(), record);
  const placed = await replaceWithStub(run, tree, file, stub);
  if (typeof placed === "string") return stale(placed);
  if (!(await markReleased(run.catalog, file.id, placed))) {
    // The stub is in place and says where the data is; the next scan reads it as released.
    return failed("released, but the catalog's row changed meanwhile: scan the location to record it");
  }
  return { state: "done", attempts: 1, bytes: file.size };
}

/**
 * Checks, now, the copies a release or purge relies on; returns what is wrong (nothing when all
 * hold). Each must be on record as present, of this version and hash, and must prove it: a
 * readable replica is read back whole and hashed; an archived one (reading it would need a
 * thaw) must exist with the same size and carry the same SHA-256, which Strata stored with it
 * after the servers checked the upload. A replica that reads back wrong or is missing is marked
 * lost, so the next plan copies it again.
 */
export async function verifyCopies(
  run: PolicyRun,
  file: FileRow,
  requires: readonly { at: string; replicaId: number }[],
): Promise<string[]> {
  if (file.hash === null) return ["the file's content hash is not known"];
  if (requires.length === 0) return ["no verified copy is required, and nothing is freed without one"];
  const replicas = await replicasOfFile(run.catalog, file.id);
  const problems: string[] = [];
  for (const need of requires) {
    const replica = replicas.find((r) => r.id === need.replicaId && r.location_name === need.at);
    const problem = replica ? await checkReplica(run, file, replica) : "no replica on record";
    if (problem) problems.push(`${need.at}: ${problem}`);
  }
  return problems;
}

async function checkReplica(run: PolicyRun, file: FileRow, replica: Replica): Promise<string | undefined> {
  if (replica.state !== "present") return `the replica is ${replica.state}`;
  if (replica.hash !== file.hash) return "the replica holds other content";
  if (replica.source_size !== file.size || replica.source_mtime_us !== file.mtime_us) {
    return "the replica was copied from another version";
  }
  const { backend } = await run.resolve(replica.location_name);
  let seen: string | undefined;
  try {
    const member = memberPlaceOf(replica);
    if (member) {
      // An archived member is read only after a thaw of its whole pack: not for a release.
      if (backend.caps.archiveClasses.includes(replica.storage_class ?? "")) {
        return "archived in a pack: thaw the pack and check it first";
      }
      seen = await memberSeen(run, backend, member, file);
    } else if (backend.caps.archiveClasses.includes(replica.storage_class ?? "")) {
      const info = await withRetry(run.retry, () => backend.stat(replica.key)).then((r) => r.value);
      if (!info) throw new NotFoundError(backend.url, replica.key);
      const size = contentSize(info);
      seen = size === file.size ? contentSha256(info) : `a size of ${size} bytes`;
      if (seen === undefined) return "archived, and the store reports no SHA-256 to check: thaw it first";
    } else {
      seen = (await withRetry(run.retry, () => hashObject(backend, replica.key))).value;
    }
  } catch (err) {
    if (!(err instanceof NotFoundError)) return `could not check it: ${(err as Error).message}`;
    await markVerified(run.catalog, replica.id, { ok: false });
    return "the object is missing (marked lost)";
  }
  if (seen !== file.hash) {
    await markVerified(run.catalog, replica.id, { ok: false });
    return `read back ${seen}, expected sha256 ${file.hash} (marked lost)`;
  }
  await markVerified(run.catalog, replica.id, { ok: true, at: Date.now() });
  return undefined;
}

/** What a pack member holds, read alone and checked against the file (path, size, SHA-256). */
async function memberSeen(run: PolicyRun, backend: Backend, member: MemberPlace, file: FileRow): Promise<string> {
  const expected = { path: file.path, size: file.size, sha256: file.hash as string };
  try {
    await withRetry(run.retry, () => readPackMember(backend, member, expected));
    return file.hash as string;
  } catch (err) {
    if (err instanceof PackMemberError) return `a damaged member (${err.message})`;
    throw err;
  }
}

/**
 * Writes the stub beside the file, with the file's mode, owner (where permitted) and times, and
 * renames it over the file, checking just before that the file is still the catalog's version.
 * The stub is on record before the rename (a compare-and-set on the row as read, so one release
 * of a file goes on at a time), and a scan recognises it from its content in any case.
 * Returns why the file was left alone, or the stub once it is in place.
 */
async function replaceWithStub(
  run: PolicyRun,
  tree: FileTree,
  file: FileRow,
  text: string,
): Promise<StubStat | string> {
  const target = tree.fsPath(file.path);
  const before = await lstatIfAny(target);
  const changed = changedOnDisk(before, file);
  if (changed || !before) return changed ?? "the file is gone from disk";
  const temp = await tree.partialBeside(file.path);
  let recorded: StubStat | undefined;
  try {
    await writeFile(temp, text, { flag: "wx", mode: 0o600 });
    await chown(temp, before.uid, before.gid).catch(unlessPermission);
    await chmod(temp, before.mode & 0o7777);
    // libuv truncates the seconds to whole microseconds; aim at the middle of the intended one.
    await utimes(temp, (usOf(before.atimeMs) + 0.5) / 1e6, (file.mtime_us + 0.5) / 1e6);
    const written = await lstat(temp);
    const stub: StubStat = { size: written.size, mtimeUs: usOf(written.mtimeMs), inode: written.ino };
    if (!(await recordStub(run.catalog, file, stub))) {
      await rm(temp, { force: true });
      return "the file changed on record, or another run is releasing it";
    }
    recorded = stub;
    if (!sameEntry(before, await lstatIfAny(target))) {
      await rm(temp, { force: true });
      await forgetStub(run.catalog, file.id, stub);
      return "the file changed while it was being released";
    }
    await rename(temp, target);
    return stub;
  } catch (err) {
    await rm(temp, { force: true });
    if (recorded) await forgetStub(run.catalog, file.id, recorded);
    throw err;
  }
}

function sameEntry(a: Stats, b: Stats | undefined): boolean {
  return b !== undefined && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}
