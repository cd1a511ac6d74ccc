import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";

/** One command to time: argv, environment, where its output goes, and how to show it. */
export interface Command {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** File for stdout; undefined sends it to /dev/null (find's output must not be counted). */
  stdoutFile?: string;
  stderrFile: string;
  /** Where /usr/bin/time -v writes its report. */
  timeFile: string;
  /** The command as a reader would type it, temp paths abbreviated (for RESULTS.md). */
  display: string;
}

export interface Measurement {
  wallS: number;
  userS: number;
  sysS: number;
  cpuS: number;
  maxRssMB: number;
  exitCode: number;
  /** CPU the RGW daemons (radosgw, ceph-osd, ceph-mon) spent meanwhile; undefined when unknown. */
  serverCpuS?: number;
}

// /proc/<pid>/stat counts in USER_HZ ticks, 100 on every Linux architecture this runs on.
const USER_HZ = 100;

let running: ChildProcess | undefined;

/** Kills the command being measured (its whole process group): for Ctrl-C and timeouts. */
export function killRunning(): void {
  const pid = running?.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/**
 * Runs a command under /usr/bin/time -v. Wall time is taken here with a monotonic clock
 * (time -v prints only hundredths); CPU (user + sys of the command and all its children) and
 * the peak RSS come from time -v, so a wrapper such as `env` or pyenv's shim is counted too.
 */
export async function measure(cmd: Command, timeoutMs: number, serverPids: number[] = []): Promise<Measurement> {
  const serverBefore = cpuTicks(serverPids);
  const started = process.hrtime.bigint();
  const exitCode = await runTimed(cmd, timeoutMs);
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  const serverAfter = cpuTicks(serverPids);
  const usage = parseTimeV(readFileSync(cmd.timeFile, "utf8"));
  const measurement: Measurement = { wallS, ...usage, cpuS: usage.userS + usage.sysS, exitCode };
  if (serverBefore !== undefined && serverAfter !== undefined) {
    measurement.serverCpuS = (serverAfter - serverBefore) / USER_HZ;
  }
  return measurement;
}

function runTimed(cmd: Command, timeoutMs: number): Promise<number> {
  const out = cmd.stdoutFile ? openSync(cmd.stdoutFile, "w") : "ignore";
  const err = openSync(cmd.stderrFile, "w");
  return new Promise<number>((resolve, reject) => {
    // Its own process group, so a timeout or Ctrl-C can kill the tool and all its children.
    const child = spawn("/usr/bin/time", ["-v", "-o", cmd.timeFile, ...cmd.argv], {
      cwd: cmd.cwd,
      env: cmd.env,
      stdio: ["ignore", out, err],
      detached: true,
    });
    running = child;
    const timer = setTimeout(killRunning, timeoutMs);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      running = undefined;
      if (typeof out === "number") closeSync(out);
      closeSync(err);
      if (signal) reject(new Error(`${cmd.display}: killed by ${signal} (timeout ${timeoutMs / 1000} s?)`));
      else resolve(code ?? 1);
    });
  });
}

function parseTimeV(text: string): { userS: number; sysS: number; maxRssMB: number } {
  const field = (label: string) => {
    const match = new RegExp(`^\\s*${label}:\\s*([0-9.]+)\\s*$`, "m").exec(text);
    if (!match?.[1]) throw new Error(`/usr/bin/time -v printed no "${label}":\n${text}`);
    return Number(match[1]);
  };
  return {
    userS: field("User time \\(seconds\\)"),
    sysS: field("System time \\(seconds\\)"),
    // time -v reports kibibytes; the budgets are in MB.
    maxRssMB: (field("Maximum resident set size \\(kbytes\\)") * 1024) / 1e6,
  };
}

/** utime + stime of the processes, in clock ticks; undefined if any of them is gone. */
function cpuTicks(pids: number[]): number | undefined {
  if (pids.length === 0) return undefined;
  let total = 0;
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      return undefined;
    }
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    total += Number(fields[11]) + Number(fields[12]);
  }
  return total;
}
