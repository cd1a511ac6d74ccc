import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

/**
 * A real Azure Blob service for the backend contract suite: Azurite's blob service (the
 * devDependency, run from node_modules as a child process) on a free port of 127.0.0.1, data in
 * memory, API version checks off so the SDK's newest version is accepted. A watchdog loaded
 * into the child ends it should the test process die without calling stop().
 */
export interface AzuriteServer {
  /** The blob service URL with the account in its path, e.g. http://127.0.0.1:PORT/devstoreaccount1. */
  endpoint: string;
  account: string;
  accountKey: string;
  connectionString: string;
  stop(): Promise<void>;
}

/** Azurite's well-known development account; public, documented and useless anywhere else. */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

const READY = /successfully listens on (http:\/\/\S+)/;
const STARTUP_MS = 30_000;

export async function startAzurite(): Promise<AzuriteServer> {
  const main = createRequire(import.meta.url).resolve("azurite/dist/src/blob/main.js");
  // Azurite refuses --location with in-memory persistence but may still write beside its cwd.
  const cwd = mkdtempSync(join(tmpdir(), "strata-azurite-"));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      "--import",
      `data:text/javascript,${encodeURIComponent(watchdog(process.pid))}`,
      main,
      "--blobHost",
      "127.0.0.1",
      "--blobPort",
      String(port),
      // Clients reuse idle sockets for a while; a long keep-alive spares them resets.
      "--blobKeepAliveTimeout",
      "60",
      "--inMemoryPersistence",
      "--extentMemoryLimit",
      "2048",
      "--skipApiVersionCheck",
      "--disableTelemetry",
      "--loose",
      "--silent",
    ],
    { cwd, stdio: ["ignore", "pipe", "pipe"] },
  );
  const stop = async () => {
    await kill(child);
    rmSync(cwd, { recursive: true, force: true });
  };
  try {
    const url = await ready(child);
    const endpoint = `${url.replace(/\/$/, "")}/${AZURITE_ACCOUNT}`;
    return {
      endpoint,
      account: AZURITE_ACCOUNT,
      accountKey: AZURITE_KEY,
      connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint};`,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Resolves with the URL Azurite prints once it listens; rejects if it exits or stays silent. */
function ready(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(
      () => fail(new Error(`Azurite did not start in ${STARTUP_MS} ms:\n${output}`)),
      STARTUP_MS,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = READY.exec(output);
      if (match?.[1]) {
        cleanup();
        resolve(match[1]);
      }
    };
    const onExit = (code: number | null) => fail(new Error(`Azurite exited (${code}) before listening:\n${output}`));
    const fail = (error: Error) => {
      cleanup();
      reject(error);
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
      // Keep draining, so a chatty child never blocks on a full pipe.
      child.stdout?.resume();
      child.stderr?.resume();
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Ends the child once the parent is gone (the parent may be killed without cleaning up). */
function watchdog(parentPid: number): string {
  return `setInterval(() => { try { process.kill(${parentPid}, 0); } catch { process.exit(0); } }, 1000).unref();`;
}
