import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The built CLI, run as users run it: a real process with real exit codes. */
export const STRATA_BIN = fileURLToPath(new URL("../../bin/strata.js", import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** Prefix command, e.g. setpriv to run as another user. */
  wrapper?: string[];
}

export function spawnStrata(args: string[], options: CliOptions): ChildProcess {
  const argv = [...(options.wrapper ?? []), process.execPath, STRATA_BIN, ...args];
  return spawn(argv[0] as string, argv.slice(1), {
    cwd: options.cwd,
    env: { ...process.env, STRATA_CONFIG: "", STRATA_CATALOG: "", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

export function finished(child: ChildProcess): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export function strata(args: string[], options: CliOptions): Promise<CliResult> {
  return finished(spawnStrata(args, options));
}
