import { execFile } from "node:child_process";
import { appendFile, mkdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { BackendError, TransientError } from "../backends/backend.js";
import { printablePath } from "../backends/keys.js";
import { markPurged, recordAtime } from "../catalog/files.js";
import { replicasOfFile } from "../catalog/replicas.js";
import type { FileRow } from "../catalog/schema.js";
import { formatBytes } from "../config/units.js";
import type { NotifyPolicyAction, PurgePolicyAction } from "../policy/actions.js";
import { attemptsOf, withRetry } from "../transfer/retry.js";
import { changedOnDisk, lstatIfAny, usOf } from "./on-disk.js";
import { failed, type Outcome, stale } from "./outcome.js";
import type { Journaled, PolicyRun } from "./policy-run.js";
import { verifyCopies } from "./release.js";

/**
 * HPC-scratch purge in two steps, a grace period apart. `notify` announces cold files to their
 * owners (a notice file per owner, an optional webhook, and a purge_notices row holding the
 * file's atime at that moment); `purge` deletes a file only once its notice's grace period has
 * passed, the file is unchanged and unread since, and its verified copies still check out.
 */

/** Announcements per owner sent at once; past this an owner's list goes out in several parts. */
const GROUP_MAX = 5000;
/** Paths listed in a webhook's JSON; the notice file lists them all. */
const WEBHOOK_PATHS = 1000;
const NOTICE_ROWS = 1000;

interface Announcement {
  item: Journaled;
  action: NotifyPolicyAction;
  file: FileRow;
  /** The absolute path, printable, as the owner knows it. */
  shownPath: string;
  atimeUs: number;
}

interface OwnerGroup {
  policy: string;
  location: string;
  uid: number;
  noticeDir: string | null;
  webhook: string | null;
  entries: Announcement[];
}

/** Checks a purge candidate and queues its announcement; the batcher settles it per owner. */
export async function notifyFile(
  run: PolicyRun,
  notices: NoticeBatcher,
  item: Journaled,
  file: FileRow,
): Promise<Outcome> {
  const action = item.action as NotifyPolicyAction;
  const from = await run.resolve(action.file.location);
  const tree = from.backend.tree;
  if (!tree) return failed(`${from.name} is not a POSIX tree: nothing to purge`);
  const stats = await lstatIfAny(tree.fsPath(file.path));
  const changed = changedOnDisk(stats, file);
  if (changed || !stats) return stale(changed ?? "gone");
  const notice = await noticeOf(run, action.policy, file.id);
  if (notice) {
    // A notice the file was read after is void: the file is announced afresh.
    if (usOf(stats.atimeMs) <= notice.atime_us) {
      return stale(`announced already, for deletion after ${iso(notice.delete_after)}`);
    }
    await dropNotice(run, notice.id);
  }
  const shownPath = `${tree.root}/${printablePath(file.path)}`;
  await notices.add({ item, action, file, shownPath, atimeUs: usOf(stats.atimeMs) });
  return { state: "deferred" };
}

/**
 * Deletes an announced file once all holds: the notice is on record and its grace period over,
 * the file on disk is the version announced and has not been read since (its atime has not
 * moved), and its copies read back right. A file changed or read since has its notice withdrawn.
 */
export async function purgeFile(run: PolicyRun, action: PurgePolicyAction, file: FileRow): Promise<Outcome> {
  const from = await run.resolve(action.file.location);
  const tree = from.backend.tree;
  if (!tree) return failed(`${from.name} is not a POSIX tree: nothing to purge`);
  const notice = await run.catalog.db
    .selectFrom("purge_notices")
    .selectAll()
    .where("id", "=", action.noticeId)
    .executeTakeFirst();
  if (!notice || notice.file_id !== file.id || notice.policy !== action.policy) {
    return stale("no notice of this file is on record; it must be announced first");
  }
  if (notice.delete_after >= Date.now()) return stale(`inside its grace period, until ${iso(notice.delete_after)}`);
  const path = tree.fsPath(file.path);
  const stats = await lstatIfAny(path);
  const changed = changedOnDisk(stats, file);
  if (changed || !stats) {
    await dropNotice(run, notice.id);
    return stale(`${changed}: kept, and the notice withdrawn`);
  }
  if (usOf(stats.atimeMs) > notice.atime_us) {
    await dropNotice(run, notice.id);
    // The catalog learns of the read now, so the next plan does not announce the file again.
    await recordAtime(run.catalog, file.id, usOf(stats.atimeMs));
    return stale("read since the notice: kept, and the notice withdrawn");
  }
  const requires =
    action.requires ??
    (await replicasOfFile(run.catalog, file.id))
      .filter((r) => r.state === "present" && r.hash === file.hash)
      .map((r) => ({ at: r.location_name, replicaId: r.id }));
  const problems = await verifyCopies(run, file, requires);
  if (problems.length > 0) return failed(`not purged: ${problems.join("; ")}`);
  // Marked first, as a compare-and-set: a file another run changed on record meanwhile is kept.
  if (!(await markPurged(run.catalog, file))) return stale("the file changed on record while it was checked");
  await unlink(path);
  await dropNotice(run, notice.id);
  return { state: "done", attempts: 1, bytes: file.size };
}

/**
 * Gathers announcements per owner (policy, location, uid and where to tell them) so each owner
 * gets one notice block and one webhook call, and settles them once those went out.
 */
export class NoticeBatcher {
  private readonly groups = new Map<string, OwnerGroup>();
  private readonly owners = new Map<number, Promise<string>>();

  constructor(private readonly run: PolicyRun) {}

  async add(entry: Announcement): Promise<void> {
    const { action } = entry;
    const key = JSON.stringify([action.policy, action.file.location, action.uid, action.noticeDir, action.webhook]);
    let group = this.groups.get(key);
    if (!group) {
      group = {
        policy: action.policy,
        location: action.file.location,
        uid: action.uid,
        noticeDir: action.noticeDir,
        webhook: action.webhook,
        entries: [],
      };
      this.groups.set(key, group);
    }
    group.entries.push(entry);
    if (group.entries.length >= GROUP_MAX) {
      this.groups.delete(key);
      await this.send(group);
    }
  }

  async flushAll(): Promise<void> {
    const groups = [...this.groups.values()];
    this.groups.clear();
    for (const group of groups) await this.send(group);
  }

  /**
   * Tells one owner, then records the notices. If telling fails (the webhook refuses), no notice
   * is recorded and the actions fail: the grace period starts only once the owner was told.
   */
  private async send(group: OwnerGroup): Promise<void> {
    const owner = await this.ownerName(group.uid);
    const announcedAt = Date.now();
    const listed = group.entries.map((e) => ({ ...e, deleteAfter: this.deleteAfter(e.action, announcedAt) }));
    let outcome = (entry: Announcement): Outcome => ({ state: "done", attempts: 1, bytes: entry.file.size });
    try {
      const noticeFile = group.noticeDir === null ? null : await appendNotice(group, owner, announcedAt, listed);
      if (group.webhook !== null) {
        const payload = {
          event: "strata.purge-notice",
          policy: group.policy,
          location: group.location,
          owner: { uid: group.uid, name: owner },
          files: listed.length,
          bytes: listed.reduce((n, e) => n + e.file.size, 0),
          deleteAfter: iso(Math.min(...listed.map((e) => e.deleteAfter))),
          announcedAt: iso(announcedAt),
          noticeFile,
          paths: listed.slice(0, WEBHOOK_PATHS).map((e) => e.shownPath),
        };
        const url = group.webhook;
        await withRetry(this.run.retry, () => postJson(url, payload));
      }
      for (let i = 0; i < listed.length; i += NOTICE_ROWS) {
        await this.run.catalog.db
          .insertInto("purge_notices")
          .values(
            listed.slice(i, i + NOTICE_ROWS).map((e) => ({
              policy: group.policy,
              file_id: e.file.id,
              uid: group.uid,
              atime_us: e.atimeUs,
              announced_at: announcedAt,
              delete_after: e.deleteAfter,
            })),
          )
          .onConflict((oc) => oc.columns(["policy", "file_id"]).doNothing())
          .execute();
      }
    } catch (err) {
      outcome = () => failed(`owner ${owner} not told: ${(err as Error).message}`, attemptsOf(err));
    }
    for (const entry of group.entries) await this.run.settle(entry.item, outcome(entry));
  }

  /** The grace period counts from the announcement, however long after planning it goes out. */
  private deleteAfter(action: NotifyPolicyAction, announcedAt: number): number {
    const plannedAt = this.run.plannedAt;
    return plannedAt === undefined ? action.deleteAfter : announcedAt + (action.deleteAfter - plannedAt);
  }

  private ownerName(uid: number): Promise<string> {
    let name = this.owners.get(uid);
    if (!name) {
      name = userName(uid);
      this.owners.set(uid, name);
    }
    return name;
  }
}

/** Appends one block to `<noticeDir>/<owner>.txt`; returns that file. */
async function appendNotice(
  group: OwnerGroup,
  owner: string,
  announcedAt: number,
  listed: (Announcement & { deleteAfter: number })[],
): Promise<string> {
  const dir = group.noticeDir as string;
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${owner}.txt`);
  const bytes = listed.reduce((n, e) => n + e.file.size, 0);
  const lines = [
    `# strata purge notice for ${owner} (uid ${group.uid}), ${iso(announcedAt)}`,
    `# Policy ${group.policy} deletes these ${listed.length} files (${formatBytes(bytes)}) of ${group.location},`,
    "# unread for a long time, after the date on each line unless they are read or moved before then.",
    "# Verified copies are kept: `strata restore <location>:<path>` brings a file back.",
    "# delete after\tbytes\tpath",
    ...listed.map((e) => `${iso(e.deleteAfter)}\t${e.file.size}\t${e.shownPath}`),
    "",
  ];
  // One append per block: O_APPEND keeps blocks from two writers whole.
  await appendFile(file, `${lines.join("\n")}\n`, { mode: 0o644 });
  return file;
}

/** POSTs JSON; 5xx, 429 and no answer are worth a retry. Messages name the origin only: a path or query may hold a token. */
async function postJson(url: string, payload: unknown): Promise<void> {
  const where = `webhook ${new URL(url).origin}`;
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause?.message;
    throw new TransientError(where, `no answer: ${cause ?? (err as Error).message}`);
  }
  await response.body?.cancel();
  if (response.ok) return;
  const detail = `answered HTTP ${response.status}`;
  if (response.status >= 500 || response.status === 429) throw new TransientError(where, detail);
  throw new BackendError(detail, where, false);
}

/** A uid's user name through NSS (so LDAP and SSSD users count), or the uid when it has none. */
async function userName(uid: number): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)("getent", ["passwd", String(uid)], { timeout: 5000 });
    const name = stdout.split(":")[0] ?? "";
    return /^[A-Za-z0-9._-]+$/.test(name) ? name : String(uid);
  } catch {
    return String(uid);
  }
}

async function noticeOf(run: PolicyRun, policy: string, fileId: number) {
  return run.catalog.db
    .selectFrom("purge_notices")
    .select(["id", "atime_us", "delete_after"])
    .where("policy", "=", policy)
    .where("file_id", "=", fileId)
    .executeTakeFirst();
}

async function dropNotice(run: PolicyRun, id: number): Promise<void> {
  await run.catalog.db.deleteFrom("purge_notices").where("id", "=", id).execute();
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
