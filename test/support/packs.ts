import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { gunzipSync } from "node:zlib";
import Database from "better-sqlite3";
import { expect } from "vitest";
import { LocalStoreBackend } from "../../src/backends/local/local-backend.js";
import { openCatalog } from "../../src/catalog/db.js";
import { parseTarMember } from "../../src/codec/pack/tar.js";
import { sha256Hex } from "./bytes.js";
import { type CatalogKind, freshCatalogUrl } from "./catalogs.js";
import { type CliResult, finished, spawnStrata, strata } from "./cli.js";
import { tempDir } from "./tmp.js";

/** A work dir with a tree and an embedded store, and the helpers the pack tests read stores and catalogs with. */

export const INDEX = ".index.jsonl";

export interface Project {
  work: string;
  tree: string;
  store: string;
  /** The TMPDIR of the project's commands: where packs are built before their upload. */
  tmp: string;
  run(...args: string[]): Promise<CliResult>;
  catalogUrl: string;
}

export async function project(kind: CatalogKind): Promise<Project> {
  const work = tempDir("strata-packs-");
  return projectAt(work, await freshCatalogUrl(kind, work));
}

/** A project in `work` on the catalog at `catalogUrl`: its tree, its store, its TMPDIR. */
export function projectAt(work: string, catalogUrl: string): Project {
  const tree = join(work, "tree");
  const tmp = join(work, "tmp");
  mkdirSync(tree);
  mkdirSync(tmp);
  return {
    work,
    tree,
    store: join(work, "store"),
    tmp,
    catalogUrl,
    run: (...args) => strata(["--catalog", catalogUrl, ...args], { cwd: work, env: { TMPDIR: tmp } }),
  };
}

export function ok(result: CliResult): CliResult {
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return result;
}

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

export async function catalogRows(url: string) {
  const catalog = await openCatalog(url);
  try {
    const members = await catalog.db
      .selectFrom("replicas")
      .innerJoin("files", "files.id", "replicas.file_id")
      .select(["files.path", "replicas.key", "replicas.pack_id", "replicas.pack_offset", "replicas.pack_length"])
      .select(["replicas.codec", "replicas.hash", "replicas.state"])
      .orderBy("files.path")
      .execute();
    const packs = await catalog.db.selectFrom("packs").selectAll().orderBy("id").execute();
    return { members, packs };
  } finally {
    await catalog.close();
  }
}

/** Every regular file under `root`, relative path bytes (as latin1 keys) → content. */
export function filesUnder(root: string, rel = Buffer.alloc(0)): Map<string, Buffer> {
  const found = new Map<string, Buffer>();
  const dir = Buffer.concat([Buffer.from(`${root}/`), rel]);
  for (const name of readdirSync(dir, { encoding: "buffer" })) {
    const path = rel.length > 0 ? Buffer.concat([rel, Buffer.from("/"), name]) : name;
    const full = Buffer.concat([Buffer.from(`${root}/`), path]);
    const stats = lstatSync(full);
    if (stats.isDirectory()) for (const [k, v] of filesUnder(root, path)) found.set(k, v);
    else if (stats.isFile()) found.set(path.toString("latin1"), readFileSync(full));
  }
  return found;
}

/** Pack objects (not indexes) in the embedded store's own index. */
export function storePackCount(store: string): number {
  const db = new Database(join(store, "index.db"), { readonly: true, fileMustExist: true });
  try {
    const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'objects'").get();
    if (!exists) return 0;
    const rows = db.prepare("SELECT key FROM objects WHERE key LIKE '.strata-packs/%'").all() as { key: string }[];
    return rows.filter((r) => !r.key.endsWith(INDEX)).length;
  } finally {
    db.close();
  }
}

/** Each member the catalog records lies in a pack the catalog records, and reads back by its hash. */
export async function expectMembersHeld(p: Project): Promise<void> {
  const { members, packs } = await catalogRows(p.catalogUrl);
  const byId = new Map(packs.map((pack) => [pack.id, pack]));
  const bytes = new Map<string, Buffer>();
  for (const m of members.filter((r) => r.pack_id !== null)) {
    const pack = byId.get(m.pack_id as number);
    expect(pack?.key, m.path).toBe(m.key);
    if (!bytes.has(m.key)) bytes.set(m.key, await objectBytes(p.store, m.key));
    const whole = bytes.get(m.key) as Buffer;
    expect(sha256Hex(whole), m.key).toBe(pack?.hash);
    const frame = whole.subarray(m.pack_offset as number, (m.pack_offset as number) + (m.pack_length as number));
    const records = pack?.codec === "gzip" ? gunzipSync(frame) : frame;
    const parsed = parseTarMember(records);
    expect(parsed.path.toString("latin1")).toBe(m.path);
    expect(sha256Hex(records.subarray(parsed.dataOffset, parsed.dataOffset + parsed.size))).toBe(m.hash);
  }
}

/**
 * After a killed packing run and its re-run: no pack object or index without its pack row, every
 * file a present member, and every file verifies and restores byte for byte.
 */
export async function expectPackingConverged(p: Project, files: Record<string, Buffer>): Promise<void> {
  await expectMembersHeld(p);
  const { members, packs } = await catalogRows(p.catalogUrl);
  const recorded = new Set(packs.map((pack) => pack.key));
  for (const key of await keysUnder(p.store, ".strata-packs/")) {
    expect(recorded.has(key.endsWith(INDEX) ? key.slice(0, -INDEX.length) : key), key).toBe(true);
  }
  expect(
    members
      .filter((m) => m.state === "present" && m.pack_id !== null)
      .map((m) => m.path)
      .sort(),
  ).toEqual(Object.keys(files).sort());
  const verify = ok(await p.run("--json", "verify", "local:store"));
  expect(JSON.parse(verify.stdout).verified).toBe(Object.keys(files).length);
  const into = join(p.work, "back");
  ok(await p.run("restore", p.tree, "--to", into));
  for (const [path, content] of Object.entries(files)) {
    expect(readFileSync(join(into, path)).equals(content), path).toBe(true);
  }
}

/** Runs strata with `args` in the project and kills it with SIGKILL once it has written 10 packs. */
export async function killAfterTenPacks(p: Project, args: string[]): Promise<void> {
  const child = spawnStrata(["--catalog", p.catalogUrl, ...args], { cwd: p.work, env: { TMPDIR: p.tmp } });
  const done = finished(child);
  let packsAtKill = 0;
  for (let i = 0; i < 2000 && packsAtKill < 10; i++) {
    await sleep(10);
    packsAtKill = existsSync(join(p.store, "index.db")) ? storePackCount(p.store) : 0;
  }
  child.kill("SIGKILL");
  expect((await done).signal).toBe("SIGKILL");
  expect(packsAtKill).toBeGreaterThanOrEqual(10);
}
