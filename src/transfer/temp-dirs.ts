import { lstat, mkdtemp, readdir, rm } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { ABANDONED_AFTER_MS, processAlive, writerOf, writerTag } from "../backends/writers.js";

/*
 * Temp dirs for bytes made before they are sent: a spool of compressed frames, a pack before its
 * upload (up to its size, 256 MiB by default). Each is named `strata-<use>-<host>~<pid>~<random>`
 * under TMPDIR (the writer tag of backends/writers.ts), so a process killed while it held one
 * (kill -9, a batch job's time limit) is known by the next: the first temp dir a process makes
 * in a TMPDIR removes those its host's dead processes left, never a running one's, nor another
 * host's (TMPDIR may be shared between nodes) until it is a week old.
 */

/** What a temp dir holds: a spool's frames, or a pack before its upload. */
export type TempDirUse = "spool" | "pack";

const USES: readonly TempDirUse[] = ["spool", "pack"];

/** The sweep below, once per TMPDIR (it may change while a process runs). */
const swept = new Map<string, Promise<void>>();

/** A new temp dir for `use`, owned by this process; the caller removes it when done. */
export async function makeTempDir(use: TempDirUse): Promise<string> {
  await removeLeftoverTempDirs();
  return mkdtemp(join(tmpdir(), `strata-${use}-${writerTag()}~`));
}

/**
 * Removes, once per TMPDIR and process, the temp dirs dead processes left: before making one,
 * and where a run converges after a kill (a packed sync or `pack gc` settling interrupted packs).
 */
export function removeLeftoverTempDirs(): Promise<void> {
  const root = tmpdir();
  const sweep = swept.get(root) ?? removeLeftovers(root);
  swept.set(root, sweep);
  return sweep;
}

async function removeLeftovers(root: string): Promise<void> {
  const names = await readdir(root).catch(() => [] as string[]);
  for (const name of names) {
    if (await isLeftover(root, name)) await rm(join(root, name), { recursive: true, force: true }).catch(() => {});
  }
}

/** Names of earlier releases: spools `<pid>-<random>` (of this host), packs `<random>` (unsigned). */
const OLD_SPOOL = /^(\d+)-[A-Za-z0-9]{6}$/;
const OLD_PACK = /^[A-Za-z0-9]{6}$/;

async function isLeftover(root: string, name: string): Promise<boolean> {
  const use = USES.find((u) => name.startsWith(`strata-${u}-`));
  if (use === undefined) return false;
  const owner = name.slice(`strata-${use}-`.length);
  const signed = writerOf(owner);
  const oldSpool = use === "spool" ? OLD_SPOOL.exec(owner) : null;
  const pidHere = signed?.host === hostname() ? signed.pid : oldSpool ? Number(oldSpool[1]) : undefined;
  // A process of this host: its own while it runs, however long (a suspended job), a leftover once it is gone.
  if (pidHere !== undefined) return pidHere !== process.pid && !processAlive(pidHere);
  if (!signed && !(use === "pack" && OLD_PACK.test(owner))) return false;
  // Another host's, or an unsigned pack of a release before: abandoned once a week old, the rule
  // backends/writers.ts applies to temp files.
  const made = await lstat(join(root, name)).catch(() => undefined);
  return made?.isDirectory() === true && Date.now() - made.mtimeMs > ABANDONED_AFTER_MS;
}
