import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { freePort } from "./ports.js";

/**
 * A real S3 server for the tests that need one: a throwaway Ceph RADOS Gateway (Debian's
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

/** Started on `port` when given (a bench restarting its store where its tools point), else on a free one. */
export async function startRgw(port?: number): Promise<RgwServer> {
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
    const listening = port ?? (await freePort());
    const out = run(["start", dir, String(listening)], 180_000, { RGW_WATCH_PID: String(process.pid) });
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

/** A started RGW with its buckets made, and what tests reach it with. */
export interface RgwWithBuckets extends RgwServer {
  /** The credentials where the AWS SDK's default chain finds them: a process's environment. */
  env: { AWS_ACCESS_KEY_ID: string; AWS_SECRET_ACCESS_KEY: string };
  /**
   * An SDK client straight to RGW, for what a test sets up or checks behind Strata's back;
   * checksums only where required, as RGW 16 takes no aws-chunked trailers. stop() destroys it.
   */
  client: S3Client;
}

export async function startRgwWithBuckets(buckets: string[]): Promise<RgwWithBuckets> {
  const rgw = await startRgw();
  const client = new S3Client({
    endpoint: rgw.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
  });
  const stop = () => {
    client.destroy();
    rgw.stop();
  };
  try {
    for (const bucket of buckets) await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    stop();
    throw error;
  }
  return {
    ...rgw,
    env: { AWS_ACCESS_KEY_ID: rgw.accessKeyId, AWS_SECRET_ACCESS_KEY: rgw.secretAccessKey },
    client,
    stop,
  };
}

/**
 * The strata.yaml lines of a location `name` at `url` (s3://bucket/prefix) served by RGW, or a
 * proxy in front of it, at `endpoint`: path-style, checksums only when required (RGW 16 takes no
 * aws-chunked trailers). `options.class` is the location's storage class; `options.s3` adds
 * keys under `s3:` (partSize, partsInFlight, ...).
 */
export function rgwLocationYaml(
  name: string,
  url: string,
  endpoint: string,
  options: { class?: string; s3?: Record<string, string | number> } = {},
): string[] {
  return [
    `  ${name}:`,
    `    url: ${url}`,
    ...(options.class ? [`    class: ${options.class}`] : []),
    "    s3:",
    `      endpoint: ${endpoint}`,
    "      forcePathStyle: true",
    "      checksums: when_required",
    ...Object.entries(options.s3 ?? {}).map(([key, value]) => `      ${key}: ${value}`),
  ];
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
