import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError } from "commander";
import { UsageError } from "../config/errors.js";
import type { Context } from "./context.js";
import { wholeNumber } from "./options.js";
import { EXIT, type Runner } from "./runner.js";
import { isServeWorker, leaveSupervisor, superviseWorkers } from "./serve-workers.js";

interface ServeOptions {
  listen: { host: string; port: number };
  workers: number;
  cert?: string;
  key?: string;
}

/** Loopback by default: the API shows every path and owner in the catalog. */
const DEFAULT_LISTEN = "127.0.0.1:8640";
const STOP_SIGNALS = ["SIGTERM", "SIGINT"] as const;

/** HOST:PORT, [IPv6]:PORT; port 0 takes a free one (the log's first line says which). */
export function listenAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new InvalidArgumentError("must be HOST:PORT, e.g. 127.0.0.1:8640 or [::1]:8640");
  return { host: (match[1] ?? match[2]) as string, port };
}

export function registerServe(program: Command, run: Runner): void {
  program
    .command("serve")
    .description("serve the HTTP API, /metrics and the dashboard; every endpoint but /healthz needs a token")
    .option(
      "--listen <host:port>",
      `where to listen (default: ${DEFAULT_LISTEN})`,
      listenAddress,
      listenAddress(DEFAULT_LISTEN),
    )
    .option(
      "--workers <n>",
      "server processes sharing the port: one per core serves many clients of a large catalog",
      wholeNumber(1, 64),
      1,
    )
    .option("--cert <file>", "TLS certificate (PEM); with --key, serve HTTPS")
    .option("--key <file>", "TLS private key (PEM)")
    .action(run(async (ctx, opts: ServeOptions) => serve(ctx, opts)));
}

async function serve(ctx: Context, opts: ServeOptions): Promise<number> {
  if ((opts.cert === undefined) !== (opts.key === undefined)) throw new UsageError("--cert and --key go together");
  if (opts.workers === 1) return serveHere(ctx, opts);
  // The supervisor only keeps its server processes; each of them serves as a single server does.
  if (!isServeWorker()) return superviseWorkers(opts.workers, (line) => ctx.out.warn(line));
  try {
    return await serveHere(ctx, opts);
  } finally {
    leaveSupervisor();
  }
}

/** Serves in this process until SIGTERM or SIGINT. */
async function serveHere(ctx: Context, opts: ServeOptions): Promise<number> {
  const https = opts.cert !== undefined && opts.key !== undefined ? readTls(opts.cert, opts.key) : undefined;
  // The server's modules (fastify and its schema compilers) load only for `serve`.
  const { buildApp } = await import("../server/app.js");
  const app = await buildApp({ catalog: ctx.catalog, loaded: ctx.loaded, ...(https ? { https } : {}) });
  try {
    await app.listen({ host: opts.listen.host, port: opts.listen.port });
  } catch (err) {
    await app.close();
    throw new UsageError(`--listen ${opts.listen.host}:${opts.listen.port}: ${(err as Error).message}`);
  }
  // Serves until told to stop; requests in flight finish before the catalog is closed. A second
  // signal while closing (a supervisor and systemd both send one) asks the same, and is no kill.
  let stop = () => {};
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  for (const signal of STOP_SIGNALS) process.on(signal, stop);
  await stopped;
  await app.close();
  for (const signal of STOP_SIGNALS) process.off(signal, stop);
  return EXIT.ok;
}

function readTls(cert: string, key: string): { cert: Buffer; key: Buffer } {
  try {
    return { cert: readFileSync(cert), key: readFileSync(key) };
  } catch (err) {
    throw new UsageError(`--cert/--key: ${(err as Error).message}`);
  }
}
