import { createServer } from "node:net";

/**
 * A port on 127.0.0.1 that was free a moment ago: bound, noted, released. Servers the tests
 * start listen on it; a port nothing listens on stands in for an unreachable endpoint.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}
