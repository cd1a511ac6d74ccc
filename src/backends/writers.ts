import { hostname } from "node:os";

/**
 * Temp files carry the name of the process writing them (host and pid), so that once it is dead
 * (killed with SIGKILL, crashed) the next run on this host recognises them as its leftovers and
 * removes them, and never touches a live writer's file or anything it did not name.
 */
const SEPARATOR = "~";

/**
 * A temp file this old is taken as abandoned whoever wrote it: one of a resumable write that no
 * run came back for (its catalog lost), or one written on another host.
 */
export const ABANDONED_AFTER_MS = 7 * 24 * 3600 * 1000;

/** This process, as it signs its temp files: `<host>~<pid>`. */
export function writerTag(): string {
  return `${hostname()}${SEPARATOR}${process.pid}`;
}

/** Whether a name that begins with a writer tag was written by a process of this host now dead. */
export function writtenByDeadWriter(name: string): boolean {
  const writer = writerOf(name);
  return writer !== undefined && writer.host === hostname() && !processAlive(writer.pid);
}

/** The writer a name signed `<host>~<pid>~<rest>` names, if it is so signed. */
export function writerOf(name: string): { host: string; pid: number } | undefined {
  const parts = name.split(SEPARATOR);
  if (parts.length < 3) return undefined;
  const pid = Number(parts.at(-2));
  const host = parts.slice(0, -2).join(SEPARATOR);
  return Number.isInteger(pid) && pid > 0 ? { host, pid } : undefined;
}

/** Whether a process of this host is running (one of another user counts: EPERM). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
