/**
 * The plumbing the test proxies (s3-fault-proxy.ts, s3-archive-proxy.ts, the range proxy of
 * ranged-download.test.ts) and other small test servers share: serving on a free port of
 * 127.0.0.1, and forwarding a request upstream as it came.
 */
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from "node:http";
import { request } from "node:http";
import type { AddressInfo } from "node:net";

export interface LocalServer {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  /** Closes the server, cutting the connections still open (keep-alive ones included). */
  close(): Promise<void>;
}

export async function listenLocally(server: Server): Promise<LocalServer> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Sends `req` on to `upstream` unchanged (method, path, query, headers: SigV4 signatures still
 * verify) and hands the answer to `reply`, by default passed back as it is. Should upstream fail,
 * the client's connection is dropped, as a dead server's would be.
 */
export function forward(
  upstream: URL,
  req: IncomingMessage,
  res: ServerResponse,
  reply: (answer: IncomingMessage) => void = (answer) => relay(answer, res),
): void {
  const out = request(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
    reply,
  );
  out.on("error", () => res.destroy());
  req.pipe(out);
}

/** Passes an upstream answer back: its status, `headers` (by default its own) and body. */
export function relay(answer: IncomingMessage, res: ServerResponse, headers: IncomingHttpHeaders = answer.headers) {
  res.writeHead(answer.statusCode ?? 502, headers);
  answer.pipe(res);
}
