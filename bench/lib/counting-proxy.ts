import { createServer } from "node:http";
import { forward, listenLocally, relay } from "../../test/support/http-proxy.js";

/** One request as it crossed the proxy, and the bytes the server sent back for it. */
export interface CountedRequest {
  method: string;
  url: string;
  range: string | undefined;
  status: number;
  /** Status line and headers of the answer, as HTTP/1.1 puts them on the wire. */
  headerBytes: number;
  /** Bytes of the answer's body. */
  bodyBytes: number;
}

export interface CountingProxy {
  endpoint: string;
  /** Every answered request since the last reset, in the order the answers began. */
  requests: CountedRequest[];
  reset(): void;
  close(): Promise<void>;
}

/**
 * A proxy in front of the RGW that forwards every request unchanged (SigV4 still verifies) and
 * counts what the server sent back: what a restore really moved, read at the server's side.
 */
export async function startCountingProxy(upstream: string): Promise<CountingProxy> {
  const target = new URL(upstream);
  const proxy: CountingProxy = {
    endpoint: "",
    requests: [],
    reset() {
      proxy.requests = [];
    },
    close: () => served.close(),
  };
  const server = createServer((req, res) =>
    forward(target, req, res, (answer) => {
      const counted: CountedRequest = {
        method: req.method ?? "",
        url: req.url ?? "",
        range: req.headers.range,
        status: answer.statusCode ?? 0,
        headerBytes: headerBytes(answer.statusMessage ?? "", answer.rawHeaders),
        bodyBytes: 0,
      };
      proxy.requests.push(counted);
      answer.on("data", (chunk: Buffer) => {
        counted.bodyBytes += chunk.length;
      });
      relay(answer, res);
    }),
  );
  const served = await listenLocally(server);
  proxy.endpoint = served.endpoint;
  return proxy;
}

/** "HTTP/1.1 200 OK\r\n", then "Name: value\r\n" per header, then "\r\n". */
function headerBytes(statusMessage: string, rawHeaders: string[]): number {
  // The status line with its CRLF, and the empty line that ends the headers.
  let bytes = "HTTP/1.1 200 ".length + Buffer.byteLength(statusMessage) + 2 + 2;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    bytes += Buffer.byteLength(rawHeaders[i] as string) + 2 + Buffer.byteLength(rawHeaders[i + 1] as string) + 2;
  }
  return bytes;
}
