import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./ports.js";

/**
 * A real S3 server for the backend contract suite: a throwaway Ceph RADOS Gateway (Debian's
 * radosgw, one monitor, one in-memory OSD, auth off) started by scripts/rgw.sh in a temp dir, on
 * a free port of 127.0.0.1, path-style, with the storage classes STANDARD_IA, ONEZONE_IA,
 * INTELLIGENT_TIERING, GLACIER_IR, GLACIER and DEEP_ARCHIVE configured. A fake or mock would
 * only answer what its author expected; this one answers as a deployed S3 service does.
 * stop() kills its daemons and removes the dir; should the test runner die first, a watchdog
 * left by the script does the same.
 */
export interface RgwServer {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  stop(): void;
}

const script = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "scripts", "rgw.sh");

export async function startRgw(): Promise<RgwServer> {
  run(["install"], 15 * 60_000);
  const dir = mkdtempSync(join(tmpdir(), "strata-rgw-"));
  const stop = () => {
    try {
      run(["stop", dir], 60_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    const port = await freePort();
    const out = run(["start", dir, String(port)], 180_000, { RGW_WATCH_PID: String(process.pid) });
    const ready = /^RGW_READY (\S+)$/m.exec(out);
    if (!ready?.[1]) throw new Error(`scripts/rgw.sh start printed no RGW_READY line:\n${out}`);
    return {
      endpoint: ready[1],
      accessKeyId: "strata-access",
      secretAccessKey: "strata-secret",
      stop,
    };
  } catch (error) {
    stop();
    throw error;
  }
}

function run(args: string[], timeout: number, env: Record<string, string> = {}): string {
  const result = spawnSync("bash", [script, ...args], {
    encoding: "utf8",
    timeout,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (result.error) throw new Error(`scripts/rgw.sh ${args[0]}: ${result.error.message}\n${result.stderr ?? ""}`);
  if (result.status !== 0) {
    throw new Error(`scripts/rgw.sh ${args[0]} failed (${result.status ?? result.signal}):\n${result.stderr}`);
  }
  return result.stdout;
}
