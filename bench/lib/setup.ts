import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type RgwServer, startRgw } from "../../test/support/rgw-server.js";

/** Runs a command to completion and returns its stdout; throws with its stderr on failure. */
export function sh(argv: string[], options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}) {
  const [file, ...args] = argv;
  if (!file) throw new Error("sh: empty command");
  const result = spawnSync(file, args, {
    encoding: "utf8",
    cwd: options.cwd,
    env: options.env ?? process.env,
    timeout: options.timeoutMs ?? 10 * 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw new Error(`${argv.join(" ")}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`${argv.join(" ")} exited ${result.status ?? result.signal}:\n${tail(result.stderr)}`);
  }
  return result.stdout;
}

function tail(text: string, lines = 30): string {
  return text.split("\n").slice(-lines).join("\n");
}

function has(command: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
}

/** rclone, aws and GNU time, from Debian's packages when missing (apt-get update once). */
export function installTools(log: (line: string) => void): void {
  const wanted: Array<[string, string]> = [
    ["rclone", "rclone"],
    ["aws", "awscli"],
    ["/usr/bin/time", "time"],
  ];
  const missing = wanted.filter(([command]) => !has(command)).map(([, pkg]) => pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing ${missing.join(", ")}; installing them needs root`);
  log(`installing ${missing.join(", ")} with apt`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  sh(["apt-get", "update"], { env, timeoutMs: 15 * 60_000 });
  sh(["apt-get", "install", "-y", "--no-install-recommends", ...missing], { env, timeoutMs: 30 * 60_000 });
}

/**
 * The aws executable itself. pyenv's shim is a bash script that starts pyenv before aws: about
 * 50 ms a call, which would be charged to aws on every no-op sync.
 */
export function awsExecutable(): string {
  const found = sh(["sh", "-c", "command -v aws"]).trim();
  if (!found.includes("/shims/")) return found;
  try {
    return sh(["pyenv", "which", "aws"]).trim() || found;
  } catch {
    return found;
  }
}

/** Builds the CLI when dist/ is missing (a fresh clone without `npm ci`). */
export function ensureBuilt(repo: string, log: (line: string) => void): void {
  if (existsSync(join(repo, "dist", "bundle", "strata.js"))) return;
  log("building Strata (npm run build)");
  sh(["npm", "run", "build"], { cwd: repo });
}

export interface Versions {
  node: string;
  strata: string;
  /** When dist/ (what runs) was built: it may be older or newer than the commit. */
  built: string;
  rclone: string;
  aws: string;
  ceph: string;
}

export function versions(repo: string, aws: string): Versions {
  const first = (argv: string[]) => {
    try {
      return sh(argv, { cwd: repo }).trim().split("\n")[0] ?? "?";
    } catch {
      return "?";
    }
  };
  const dirty = first(["git", "status", "--porcelain", "--untracked-files=no"]) ? " (with uncommitted changes)" : "";
  return {
    node: process.version,
    strata: `${first(["git", "rev-parse", "--short", "HEAD"])}${dirty}`,
    built: builtAt(repo),
    rclone: first(["rclone", "version"]),
    // aws v1 prints its version on stderr.
    aws: first(["sh", "-c", `${aws} --version 2>&1`]),
    ceph: first(["ceph", "--version"]),
  };
}

export interface Machine {
  nproc: string;
  cpu: string;
  free: string;
  kernel: string;
}

export function machine(): Machine {
  const cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "?";
  return { nproc: sh(["nproc"]).trim(), cpu, free: sh(["free", "-g"]).trimEnd(), kernel: sh(["uname", "-r"]).trim() };
}

/** The 1, 5 and 15 minute load averages: well above 0 means something else shares the CPUs. */
export function loadAverage(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
}

/** When dist/ was last built, to notice a rebuild in the middle of a run. */
export function builtAt(repo: string): string {
  return statSync(join(repo, "dist", "bundle", "strata.js")).mtime.toISOString();
}

/** Bytes of memory available now (MemAvailable), which bounds what the in-RAM OSD may hold. */
export function memAvailable(): number {
  const kb = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1];
  return Number(kb ?? 0) * 1024;
}

/**
 * The OSD keeps objects in RAM (rgw.sh's default device is 5 GiB): a share of what is free now,
 * at least that.
 */
export function memstoreBytes(): number {
  return Math.max(5 * 1024 ** 3, Math.floor(memAvailable() * 0.45));
}

/**
 * Starts the RGW with an OSD of `bytes`, through CEPH_ARGS, which every Ceph daemon reads, as
 * rgw.sh cannot be changed here.
 */
export async function startSizedRgw(bytes: number, port?: number): Promise<RgwServer> {
  const before = process.env.CEPH_ARGS;
  process.env.CEPH_ARGS = [before, `--memstore_device_bytes=${bytes}`].filter(Boolean).join(" ");
  try {
    return await startRgw(port);
  } finally {
    if (before === undefined) delete process.env.CEPH_ARGS;
    else process.env.CEPH_ARGS = before;
  }
}

/**
 * The bench's RGW, which can be restarted empty on the same port (the tools' configs stay
 * valid): its daemons' pids and ceph.conf are those of the RGW running now.
 */
export class BenchRgw {
  private constructor(
    private server: RgwServer,
    private daemons: RgwDaemons | undefined,
    private readonly bytes: number,
  ) {}

  static async start(bytes: number): Promise<BenchRgw> {
    const server = await startSizedRgw(bytes);
    return new BenchRgw(server, rgwDaemons(server.endpoint), bytes);
  }

  get endpoint(): string {
    return this.server.endpoint;
  }

  get credentials(): { accessKeyId: string; secretAccessKey: string } {
    return { accessKeyId: this.server.accessKeyId, secretAccessKey: this.server.secretAccessKey };
  }

  /** The radosgw, OSD and monitor processes, whose CPU the RGW column sums; empty when not found. */
  get pids(): number[] {
    return this.daemons?.pids ?? [];
  }

  get conf(): string | undefined {
    return this.daemons?.conf;
  }

  /** Stops the RGW and starts an empty one on the same port, of the same size. */
  async restart(): Promise<void> {
    const port = Number(new URL(this.server.endpoint).port);
    this.server.stop();
    this.server = await startSizedRgw(this.bytes, port);
    this.daemons = rgwDaemons(this.server.endpoint);
  }

  stop(): void {
    this.server.stop();
  }
}

/** The RGW started by scripts/rgw.sh: its ceph.conf and the pids of its daemons. */
export interface RgwDaemons {
  conf: string;
  pids: number[];
}

/**
 * Found from the process that listens on the endpoint's port: its `-c ceph.conf` names the
 * cluster dir, and every daemon of that cluster was started with the same file.
 */
export function rgwDaemons(endpoint: string): RgwDaemons | undefined {
  const port = new URL(endpoint).port;
  const listener = /pid=(\d+),/.exec(sh(["ss", "-Htlnp", `sport = :${port}`]))?.[1];
  if (!listener) return undefined;
  const args = cmdline(Number(listener));
  const conf = args[args.indexOf("-c") + 1];
  if (!conf || !args.includes("-c")) return undefined;
  const pids = readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      const argv = cmdline(pid);
      return argv.includes(conf) && /(^|\/)(radosgw|ceph-osd|ceph-mon)$/.test(argv[0] ?? "");
    });
  return { conf, pids };
}

function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

/** Resident memory of a process in bytes (for the OSD, whose RAM holds every object). */
export function rssBytes(pid: number): number {
  try {
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return Number(kb ?? 0) * 1024;
  } catch {
    return 0;
  }
}
