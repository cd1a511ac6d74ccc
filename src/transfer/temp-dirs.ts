import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ABANDONED_AFTER_MS, processAlive, writerTag, writtenByDeadWriter } from "../backends/writers.js";

/**
 * Temp dirs for bytes made before they are sent: a spool of compressed frames, a pack before its
 * upload (up to its size, 256 MiB by default). Each is named `strata-<use>-<host>~<pid>~<random>`
 * under TMPDIR (the writer tag of backends/writers.ts), so a process killed while it held one
 * (kill -9, a batch job's time limit) is known by the next: the first temp dir a process makes
 * in a TMPDIR removes those its host's dead processes left, never a running one's, nor another
 * host's (TMPDIR may be shared between nodes) until it is a week old.
 */
export type TempDirUse = "spool" | "pack";

const USES: readonly TempDirUse[] = ["spool", "pack"];

/** The sweep below, once per TMPDIR (it may change while a process runs). */
const swept = new Map<string, Promise<void>>();

/** A new temp dir for `use`, owned by this process; the caller removes it when done. */
export async function makeTempDir(use: TempDirUse): Promise<string> {
  const root = tmpdir();
  const sweep = swept.get(root) ?? removeLeftovers(root);
  swept.set(root, sweep);
  await sweep;
  return mkdtemp(join(root, `strata-${use}-${writerTag()}~`));
}

async function removeLeftovers(root: string): Promise<void> {
  const names = await readdir(root).catch(() => [] as string[]);
  for (const name of names) {
    if (await isLeftover(root, name)) await rm(join(root, name), { recursive: true, force: true }).catch(() => {});
  }
}

async function isLeftover(root: string, name: string): Promise<boolean> {
  const use = USES.find((u) => name.startsWith(`strata-${u}-`));
  if (use === undefined) return false;
  const owner = name.slice(`strata-${use}-`.length);
  if (writtenByDeadWriter(owner)) return true;
  // A spool of Strata before these names, `strata-spool-<pid>-<random>`, taken as this host's as then.
  const oldSpool = use === "spool" ? /^(\d+)-[A-Za-z0-9]{6}$/.exec(owner) : null;
  if (oldSpool && !processAlive(Number(oldSpool[1]))) return true;
  // Whoever made it (another host, a pack of a release that did not sign them), a week is abandoned,
  // as backends/writers.ts takes a temp file.
  const made = await stat(join(root, name)).catch(() => undefined);
  return made?.isDirectory() === true && Date.now() - made.mtimeMs > ABANDONED_AFTER_MS;
}
