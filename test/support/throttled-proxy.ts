/**
 * A TCP proxy that passes what the client sends on to `upstream` at most `bytesPerSecond`, and
 * the answers back at full speed: a slow uplink, for what a long upload does to a client's
 * timeouts. The client sees its writes drain at that pace.
 */
import { connect, createServer, type Socket } from "node:net";

export interface ThrottledProxy {
  endpoint: string;
  close(): Promise<void>;
}

export async function startThrottledProxy(upstream: string, bytesPerSecond: number): Promise<ThrottledProxy> {
  const target = new URL(upstream);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const server = connect(Number(target.port), target.hostname);
    for (const s of [client, server]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        server.destroy();
      });
    }
    server.pipe(client);
    client.on("data", (chunk: Buffer) => {
      server.write(chunk);
      client.pause();
      setTimeout(() => client.resume(), (chunk.length / bytesPerSecond) * 1000);
    });
    client.on("end", () => server.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
