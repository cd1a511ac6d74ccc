import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { UsageError } from "../config/errors.js";
import type { MetricsSource } from "../query/metrics.js";

/**
 * `strata daemon --metrics-listen ADDR`: a bare node:http server with one route, GET /metrics,
 * for Prometheus to scrape a daemon on a host that runs no `strata serve`. Nothing else is
 * served, so it needs no token: the metrics carry no path and no user name.
 */

export interface ListenAddress {
  host: string;
  port: number;
}

/** "HOST:PORT", "[v6]:PORT" or ":PORT" (all interfaces); a bare PORT listens on 127.0.0.1. */
export function parseListenAddress(text: string): ListenAddress {
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]*):)?(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[2]);
  if (!match || port > 65_535)
    throw new UsageError(`--metrics-listen ${text}: expected HOST:PORT, such as 127.0.0.1:9464`);
  const host = match[1] === undefined ? "127.0.0.1" : match[1].replace(/^\[|\]$/g, "") || "0.0.0.0";
  return { host, port };
}

export interface MetricsListener {
  /** The URL Prometheus scrapes. */
  url: string;
  close(): Promise<void>;
}

export async function listenMetrics(
  metrics: MetricsSource,
  address: ListenAddress,
  onError: (message: string) => void,
): Promise<MetricsListener> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("only /metrics is served here\n");
      return;
    }
    if (req.method !== "GET") {
      res.writeHead(405, { allow: "GET", "content-type": "text/plain" }).end("GET only\n");
      return;
    }
    metrics.render().then(
      (body) => res.writeHead(200, { "content-type": metrics.contentType }).end(body),
      (err: Error) => {
        // The scrape fails (Prometheus marks the target down) and the daemon keeps running.
        onError(`metrics: ${err.message}`);
        res.writeHead(500, { "content-type": "text/plain" }).end("metrics unavailable\n");
      },
    );
  });
  await listening(server, address);
  const bound = server.address() as AddressInfo;
  const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  return {
    url: `http://${host}:${bound.port}/metrics`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function listening(server: Server, { host, port }: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (err) => reject(new UsageError(`--metrics-listen ${host}:${port}: ${err.message}`)));
    server.listen(port, host, () => resolve());
  });
}
