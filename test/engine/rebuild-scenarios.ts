import { randomUUID } from "node:crypto";
import { readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import type { Backend } from "../../src/backends/backend.js";
import { openCatalog } from "../../src/catalog/db.js";
import { Context } from "../../src/cli/context.js";
import { parseStub } from "../../src/codec/stub.js";
import { type CliResult, strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";

/**
 * Issue 12, "rebuild and check", through the real CLI against any archive location: a tree is
 * synced, its old files released; the catalog is lost and rebuilt from the stores; then faults are
 * made behind the catalog's back and `catalog check` must name each.
 */

const DAY_MS = 86_400_000;

/** Copies everything under old/ to the archive (sync did already) and releases it. */
const RELEASE_OLD = [
  "policies:",
  "  - name: release-old",
  "    from: [scratch]",
  '    match: { path: ["old/**"] }',
  "    place: [{ to: archive }]",
  "    then: release",
];

export interface RebuildWorkspace {
  dir: string;
  tree: string;
  files: Record<string, Buffer>;
  catalogUrl: string;
  run(...args: string[]): Promise<CliResult>;
  /** Points the config at another (empty) catalog: the old one is as good as lost. */
  useCatalog(url: string): void;
}

/** old/ (to be released) and new/ (kept), aged 40 days, plus `extra` files. */
export function rebuildWorkspace(
  archive: string[],
  catalogUrl: string,
  env: NodeJS.ProcessEnv = {},
  extra: Record<string, Buffer> = {},
): RebuildWorkspace {
  const dir = tempDir("strata-rebuild-");
  const tree = join(dir, "tree");
  const files: Record<string, Buffer> = { ...extra };
  for (let i = 0; i < 8; i++) files[`old/set-${i % 3}/f-${i}.dat`] = Buffer.from(`old ${i} `.repeat(40 + i * 700));
  for (const name of ["a", "b", "c", "d", "e"]) files[`new/${name}.txt`] = Buffer.from(`new ${name} `.repeat(300));
  files["new/deeper/données été.csv"] = Buffer.from("x,y\n1,2\n");
  writeTree(tree, files);
  const seconds = (Date.now() - 40 * DAY_MS) / 1000;
  for (const path of Object.keys(files)) utimesSync(join(tree, path), seconds, seconds);
  const config = join(dir, "strata.yaml");
  const ws: RebuildWorkspace = {
    dir,
    tree,
    files,
    catalogUrl,
    run: (...args) => strata(["--config", config, ...args], { cwd: dir, env }),
    useCatalog(url) {
      ws.catalogUrl = url;
      writeConfig();
    },
  };
  const writeConfig = () =>
    writeFileSync(
      config,
      [`catalog: ${ws.catalogUrl}`, "locations:", "  scratch:", "    url: ./tree", ...archive, ...RELEASE_OLD, ""].join(
        "\n",
      ),
    );
  writeConfig();
  return ws;
}

export function expectOk(result: CliResult, what: string): void {
  expect(`${what}: exit ${result.code}\n${result.stderr}`).toBe(`${what}: exit 0\n`);
}

/** The rows that say what exists where, as text lines, without ids, scan ids and check times. */
export async function catalogRows(url: string): Promise<{ files: string[]; replicas: string[]; uploads: number }> {
  const catalog = await openCatalog(url);
  try {
    const files = await catalog.db
      .selectFrom("files as f")
      .innerJoin("locations as l", "l.id", "f.location_id")
      .select(["l.name", "f.path", "f.kind", "f.size", "f.mtime_us", "f.hash", "f.state", "f.mode", "f.uid", "f.gid"])
      .where("f.kind", "=", "file")
      .orderBy("l.name")
      .orderBy("f.path")
      .execute();
    const replicas = await catalog.db
      .selectFrom("replicas as r")
      .innerJoin("files as f", "f.id", "r.file_id")
      .innerJoin("locations as fl", "fl.id", "f.location_id")
      .innerJoin("locations as rl", "rl.id", "r.location_id")
      .select([
        "fl.name as file_location",
        "f.path",
        "rl.name as location",
        "r.key",
        "r.size",
        "r.hash",
        "r.state",
        "r.source_size",
        "r.source_mtime_us",
      ])
      .orderBy("rl.name")
      .orderBy("r.key")
      .execute();
    const uploads = await catalog.db
      .selectFrom("uploads")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .executeTakeFirstOrThrow();
    return {
      files: files.map((row) => JSON.stringify(row)),
      replicas: replicas.map((row) => JSON.stringify(row)),
      uploads: Number(uploads.n),
    };
  } finally {
    await catalog.close();
  }
}

/** Runs SQL-level edits on the workspace's catalog (faults made behind Strata's back). */
export async function withCatalog<T>(
  url: string,
  work: (catalog: Awaited<ReturnType<typeof openCatalog>>) => Promise<T>,
) {
  const catalog = await openCatalog(url);
  try {
    return await work(catalog);
  } finally {
    await catalog.close();
  }
}

/** Works on the workspace's archive through Strata's own backend, outside any Strata command. */
export async function withArchive<T>(ws: RebuildWorkspace, work: (backend: Backend) => Promise<T>): Promise<T> {
  const ctx = await Context.open({ config: join(ws.dir, "strata.yaml"), json: false, quiet: true, verbose: false });
  try {
    return await work((await ctx.location("archive")).backend);
  } finally {
    await ctx.close();
  }
}

/** Every object the archive holds, read through Strata's own backend. */
export async function archivedObjects(ws: RebuildWorkspace): Promise<Map<string, Buffer>> {
  return withArchive(ws, async (backend) => {
    const objects = new Map<string, Buffer>();
    for await (const info of backend.list()) {
      const { body } = await backend.read(info.key);
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      objects.set(info.key, Buffer.concat(chunks));
    }
    return objects;
  });
}

function releasedOnDisk(ws: RebuildWorkspace): string[] {
  return Object.keys(ws.files).filter(
    (path) => parseStub(readFileSync(join(ws.tree, path)).subarray(0, 70_000)) !== undefined,
  );
}

/**
 * Scan, sync, release old/; snapshot the rows; rebuild beside them (nothing changes); lose the
 * catalog; rebuild from the tree and the archive. The rows that matter come back the same, a sync copies nothing, a second rebuild
 * changes nothing, every object still holds its file's bytes (no stub was taken for data), and
 * restore brings the released files back byte for byte.
 */
export async function rebuildRoundTrip(ws: RebuildWorkspace, freshCatalogUrl: () => Promise<string>): Promise<void> {
  expectOk(await ws.run("scan", "scratch"), "scan");
  expectOk(await ws.run("sync", "scratch", "archive"), "sync");
  expectOk(await ws.run("apply"), "apply");
  const released = releasedOnDisk(ws);
  expect(released.sort()).toEqual(
    Object.keys(ws.files)
      .filter((p) => p.startsWith("old/"))
      .sort(),
  );
  // The releases renamed stubs into old/'s directories since the last scan: the catalog as it is.
  expectOk(await ws.run("scan", "scratch"), "scan after apply");
  const before = await catalogRows(ws.catalogUrl);
  expect(before.replicas).toHaveLength(Object.keys(ws.files).length);
  const listings = async () => [
    (await ws.run("ls", "-r", "scratch")).stdout,
    (await ws.run("ls", "-r", "archive")).stdout,
  ];
  const listedBefore = await listings();

  // Beside the live catalog a rebuild finds every row known and changes none.
  const beside = await ws.run("--json", "catalog", "rebuild", "scratch", "archive");
  expectOk(beside, "rebuild beside the live catalog");
  expect(JSON.parse(beside.stdout).rebuild.stores[0]).toMatchObject({ linked: 0, newFiles: 0, unlinked: [] });
  expect(await catalogRows(ws.catalogUrl)).toEqual(before);

  if (!ws.catalogUrl.startsWith("postgres")) {
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${ws.catalogUrl}${suffix}`, { force: true });
  }
  ws.useCatalog(await freshCatalogUrl());
  const rebuilt = await ws.run("--json", "catalog", "rebuild", "scratch", "archive");
  expectOk(rebuilt, "rebuild");
  const store = JSON.parse(rebuilt.stdout).rebuild.stores[0];
  // Released files' copies are learnt from their stubs by the scan; the others from the objects.
  expect(store).toMatchObject({
    location: "archive",
    objects: Object.keys(ws.files).length,
    linked: Object.keys(ws.files).length - released.length,
    known: released.length,
    newFiles: 0,
    hashed: Object.keys(ws.files).length - released.length,
    unhashed: 0,
    unlinked: [],
  });
  expect(await catalogRows(ws.catalogUrl)).toEqual(before);
  expect(await listings()).toEqual(listedBefore);

  const synced = await ws.run("--json", "sync", "scratch", "archive");
  expectOk(synced, "sync after rebuild");
  const { plan, result } = JSON.parse(synced.stdout);
  expect(plan.copy).toMatchObject({ files: 0, bytes: 0 });
  expect(plan.unchanged.files).toBe(Object.keys(ws.files).length - released.length);
  expect(result.copied).toEqual({ files: 0, bytes: 0 });

  const again = await ws.run("--json", "catalog", "rebuild", "scratch", "archive");
  expectOk(again, "second rebuild");
  expect(JSON.parse(again.stdout).rebuild.stores[0]).toMatchObject({ linked: 0, newFiles: 0, unlinked: [] });
  expect(await catalogRows(ws.catalogUrl)).toEqual(before);

  const objects = await archivedObjects(ws);
  expect([...objects.keys()].sort()).toEqual(Object.keys(ws.files).sort());
  const wrong = [...objects].filter(([key, bytes]) => !ws.files[key]?.equals(bytes)).map(([key]) => key);
  expect(wrong, "objects that do not hold their file's bytes").toEqual([]);

  const check = await ws.run("catalog", "check");
  expectOk(check, "check after rebuild");
  expect(check.stdout).toMatch(/catalog and stores agree/);

  expectOk(await ws.run("restore", "scratch:old"), "restore");
  const differ = Object.entries(ws.files)
    .filter(([path, bytes]) => !readFileSync(join(ws.tree, path)).equals(bytes))
    .map(([path]) => path);
  expect(differ, "files not restored byte for byte").toEqual([]);
}

/** How a test makes faults at one kind of store, behind Strata's back. */
export interface StoreFaults {
  deleteObject(key: string): Promise<void>;
  /** An object Strata did not write: no metadata of its own. */
  putForeign(key: string, bytes: Buffer): Promise<void>;
  /** Begins a multipart upload, sends a part and leaves it (stores that list uploads). */
  abandonUpload?(key: string): Promise<void>;
  /** Unfinished uploads the store lists now. */
  pendingUploads?(): Promise<string[]>;
}

type Line = string;
const lineOf = (p: { kind: string; location: string; key: string }): Line => `${p.kind} ${p.location}:${p.key}`;

/**
 * Each fault gives one line: an object deleted (missing), a foreign object (orphan, kept), a
 * replica row forgotten (orphan, adopted by --repair), a row's hash and another's size changed,
 * an upload journaled two days ago and never finished, and, where the store lists them, a
 * multipart upload begun and abandoned. A plain check changes nothing and exits 1; --repair
 * mends all but the foreign orphan, which it must not delete; the next check names only that.
 */
export async function checkFaults(ws: RebuildWorkspace, faults: StoreFaults): Promise<void> {
  expectOk(await ws.run("scan", "scratch"), "scan");
  expectOk(await ws.run("sync", "scratch", "archive"), "sync");
  expectOk(await ws.run("catalog", "check"), "clean check");

  await faults.deleteObject("new/a.txt");
  await faults.putForeign("foreign/notes.bin", Buffer.from("not Strata's"));
  if (faults.abandonUpload) await faults.abandonUpload("abandoned.bin");
  const fileHash = await withCatalog(ws.catalogUrl, async ({ db }) => {
    const replicaOf = (path: string) =>
      db
        .selectFrom("replicas")
        .select("replicas.id")
        .innerJoin("files", "files.id", "replicas.file_id")
        .where("files.path", "=", path);
    await db.deleteFrom("replicas").where("id", "in", replicaOf("new/b.txt")).execute();
    await db
      .updateTable("replicas")
      .set({ hash: "0".repeat(64) })
      .where("id", "in", replicaOf("new/c.txt"))
      .execute();
    await db
      .updateTable("replicas")
      .set((eb) => ({ size: eb("size", "+", 1) }))
      .where("id", "in", replicaOf("new/d.txt"))
      .execute();
    const file = await db
      .selectFrom("files")
      .select(["id", "hash"])
      .where("path", "=", "new/e.txt")
      .executeTakeFirstOrThrow();
    const archive = await db
      .selectFrom("locations")
      .select("id")
      .where("name", "=", "archive")
      .executeTakeFirstOrThrow();
    await db
      .insertInto("uploads")
      .values({
        location_id: archive.id,
        key: "new/e.txt",
        file_id: file.id,
        source_size: 1,
        source_mtime_us: 1,
        upload_id: `resume~${randomUUID()}`,
        part_size: 1024,
        created_at: Date.now() - 2 * DAY_MS,
      })
      .execute();
    const c = await db.selectFrom("files").select("hash").where("path", "=", "new/c.txt").executeTakeFirstOrThrow();
    return c.hash;
  });
  // The abandoned upload must be older than the grace period given below.
  await new Promise((resolve) => setTimeout(resolve, 2100));

  const expected: Line[] = [
    "missing archive:new/a.txt",
    "orphan archive:foreign/notes.bin",
    "orphan archive:new/b.txt",
    "hash archive:new/c.txt",
    "size archive:new/d.txt",
    "upload archive:new/e.txt",
    ...(faults.abandonUpload ? ["upload archive:abandoned.bin"] : []),
  ].sort();

  const rowsBefore = await catalogRows(ws.catalogUrl);
  const keysBefore = [...(await archivedObjects(ws)).keys()].sort();
  const plain = await ws.run("catalog", "check", "--older-than", "1s");
  expect(plain.code, plain.stderr).toBe(1);
  const lines = plain.stdout.trim().split("\n");
  expect(
    lines
      .slice(0, -1)
      .map((l) => l.split("\t").slice(0, 2).join(" "))
      .sort(),
  ).toEqual(expected);
  expect(lines.at(-1)).toMatch(
    /^Checked 2 locations: .*; 1 missing, 1 size mismatch, 2 orphan, .*unfinished upload.*1 hash mismatch$/,
  );
  const json = await ws.run("--json", "catalog", "check", "--older-than", "1s");
  expect(json.code).toBe(1);
  const problems = JSON.parse(json.stdout).check.problems as {
    kind: string;
    location: string;
    key: string;
    repaired?: string;
  }[];
  expect(problems.map(lineOf).sort()).toEqual(expected);
  // Read-only: not a row, not an object, not an upload changed.
  expect(await catalogRows(ws.catalogUrl)).toEqual(rowsBefore);
  expect([...(await archivedObjects(ws)).keys()].sort()).toEqual(keysBefore);
  if (faults.pendingUploads) expect(await faults.pendingUploads()).toEqual(["abandoned.bin"]);

  const repair = await ws.run("--json", "catalog", "check", "--repair", "--older-than", "1s");
  // The foreign object is left, so something is still wrong.
  expect(repair.code, repair.stderr).toBe(1);
  const repaired = JSON.parse(repair.stdout).check.problems as typeof problems;
  expect(repaired.map(lineOf).sort()).toEqual(expected);
  expect(repaired.filter((p) => p.repaired === undefined).map(lineOf)).toEqual(["orphan archive:foreign/notes.bin"]);

  const after = await ws.run("--json", "catalog", "check", "--older-than", "1s");
  expect(after.code).toBe(1);
  expect((JSON.parse(after.stdout).check.problems as typeof problems).map(lineOf)).toEqual([
    "orphan archive:foreign/notes.bin",
  ]);
  const rows = await catalogRows(ws.catalogUrl);
  const replica = (path: string) => rows.replicas.map((r) => JSON.parse(r)).find((r) => r.path === path);
  expect(replica("new/a.txt").state).toBe("lost");
  expect(replica("new/b.txt")).toMatchObject({ key: "new/b.txt", state: "present" });
  expect(replica("new/c.txt")).toMatchObject({ hash: fileHash, state: "present" });
  expect(replica("new/d.txt").state).toBe("lost");
  expect(rows.uploads).toBe(0);
  if (faults.pendingUploads) expect(await faults.pendingUploads()).toEqual([]);
  const objects = await archivedObjects(ws);
  expect(objects.get("foreign/notes.bin")?.toString()).toBe("not Strata's");

  // The replicas marked lost are copied again by the next sync, and then only the orphan is left.
  const synced = await ws.run("--json", "sync", "scratch", "archive");
  expectOk(synced, "sync after repair");
  expect(JSON.parse(synced.stdout).result.copied.files).toBe(2);
  const last = await ws.run("catalog", "check");
  expect(last.code).toBe(1);
  expect(last.stdout.trim().split("\n").slice(0, -1)).toHaveLength(1);
}
