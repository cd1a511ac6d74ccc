import { Readable } from "node:stream";
import { LocalStoreBackend } from "../../src/backends/local/local-backend.js";

/** The embedded store at `store`, opened for one look from a test (thaws instant), then closed. */
export async function withStore<T>(store: string, use: (backend: LocalStoreBackend) => Promise<T>): Promise<T> {
  const backend = await LocalStoreBackend.open(store, `local://${store}`, { restoreDelayMs: 0 });
  try {
    return await use(backend);
  } finally {
    await backend.close();
  }
}

export async function keysUnder(store: string, prefix: string): Promise<string[]> {
  return withStore(store, async (backend) => {
    const keys: string[] = [];
    for await (const object of backend.list(prefix)) keys.push(object.key);
    return keys;
  });
}

export async function objectBytes(store: string, key: string): Promise<Buffer> {
  return withStore(store, async (backend) => {
    const { body } = await backend.read(key);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  });
}

export async function putObject(store: string, key: string, data: Buffer): Promise<void> {
  await withStore(store, async (backend) => {
    await backend.write(key, Readable.from([data]), { size: data.length, attributes: { mtimeUs: 0 } });
  });
}
