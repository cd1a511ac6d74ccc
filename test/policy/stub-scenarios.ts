import { readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { Context } from "../../src/cli/context.js";
import { parseStub } from "../../src/codec/stub.js";
import { type CliResult, strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";
import { DAY_MS, RELEASE_OLD } from "./apply-workspace.js";

/**
 * Defects 1 and 2 of issue 9, run through the real CLI against any archive location: released
 * files must survive a lost catalog and overlapping runs, byte for byte, and come back whole.
 */

export interface CliWorkspace {
  dir: string;
  tree: string;
  files: Record<string, Buffer>;
  run(...args: string[]): Promise<CliResult>;
}

/** `count` files under old/ (released by RELEASE_OLD once archived) and a few under new/, aged 40 days. */
export function cliWorkspace(archive: string, count: number, catalog = "cat.db"): CliWorkspace {
  const dir = tempDir("strata-stubs-");
  const config = join(dir, "strata.yaml");
  writeFileSync(
    config,
    [`catalog: ${catalog}`, "locations:", "  scratch:", "    url: ./tree", archive, "policies:", RELEASE_OLD, ""].join(
      "\n",
    ),
  );
  const tree = join(dir, "tree");
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < count; i++) {
    // Sizes from a few bytes to ~9 KiB: the range where stubs and small data files meet.
    files[`old/set-${i % 10}/f-${i}.dat`] = Buffer.from(`file ${i} `.repeat(1 + ((i * 37) % 900)));
  }
  for (let i = 0; i < 3; i++) files[`new/n-${i}.dat`] = Buffer.from(`new ${i} `.repeat(50));
  writeTree(tree, files);
  const seconds = (Date.now() - 40 * DAY_MS) / 1000;
  for (const path of Object.keys(files)) utimesSync(join(tree, path), seconds, seconds);
  return { dir, tree, files, run: (...args) => strata(["--config", config, ...args], { cwd: dir }) };
}

/** Every object the archive holds for the workspace's files, read through Strata's own backend. */
export async function archivedObjects(ws: CliWorkspace): Promise<Map<string, Buffer>> {
  const ctx = await Context.open({ config: join(ws.dir, "strata.yaml"), json: false, quiet: true, verbose: false });
  const objects = new Map<string, Buffer>();
  try {
    const { backend } = await ctx.location("archive");
    for await (const info of backend.list()) {
      const { body } = await backend.read(info.key);
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      objects.set(info.key, Buffer.concat(chunks));
    }
  } finally {
    await ctx.close();
  }
  return objects;
}

/** Every archived object holds its file's original bytes: no stub, no other file. */
export function expectObjectsIntact(ws: CliWorkspace, objects: Map<string, Buffer>): void {
  const wrong = [...objects].filter(([key, bytes]) => !ws.files[key]?.equals(bytes)).map(([key]) => key);
  expect(wrong.slice(0, 5), `${wrong.length} objects do not hold their file's data`).toEqual([]);
}

/** The tree on disk holds exactly the files written, byte for byte. */
export function expectTreeRestored(ws: CliWorkspace): void {
  const wrong = Object.entries(ws.files)
    .filter(([path, bytes]) => !readFileSync(join(ws.tree, path)).equals(bytes))
    .map(([path]) => path);
  expect(wrong.slice(0, 5), `${wrong.length} files differ from what was written`).toEqual([]);
}

function stubsOnDisk(ws: CliWorkspace): string[] {
  return Object.keys(ws.files).filter((path) => parseStub(readFileSync(join(ws.tree, path), "utf8")) !== undefined);
}

function expectOk(result: CliResult, what: string): void {
  expect(`${what}: exit ${result.code}\n${result.stderr}`).toBe(`${what}: exit 0\n`);
}

/**
 * Defect 1: release, lose the catalog, `scan && sync`. The stubs must be recognised from their
 * content: nothing uploaded over the archive, and restore brings every file back.
 */
export async function lostCatalogScenario(archive: string): Promise<void> {
  const ws = cliWorkspace(archive, 30);
  expectOk(await ws.run("scan", "scratch"), "scan");
  expectOk(await ws.run("apply"), "apply");
  expect(stubsOnDisk(ws)).toHaveLength(30);
  const before = await archivedObjects(ws);
  expectObjectsIntact(ws, before);

  for (const suffix of ["", "-wal", "-shm"]) rmSync(join(ws.dir, `cat.db${suffix}`), { force: true });
  expectOk(await ws.run("scan", "scratch"), "scan");
  const synced = await ws.run("sync", "scratch", "archive");
  const after = await archivedObjects(ws);
  expectObjectsIntact(ws, after);
  expect([...after.keys()].sort()).toEqual(Object.keys(ws.files).sort());
  expectOk(synced, "sync");

  expectOk(await ws.run("restore", "scratch:old"), "restore");
  expectTreeRestored(ws);
}

/**
 * Defect 2: two applies that release, a sync and a scan, all at once. Whatever order they run
 * in, no stub is ever uploaded, every released file's object holds its data, and restore gives
 * back the exact tree.
 */
export async function concurrentRunsScenario(archive: string, count: number, catalog?: string): Promise<void> {
  const ws = cliWorkspace(archive, count, catalog);
  expectOk(await ws.run("scan", "scratch"), "scan");
  const runs = await Promise.all([
    ws.run("apply"),
    ws.run("apply"),
    ws.run("sync", "scratch", "archive"),
    ws.run("scan", "scratch"),
  ]);
  for (const r of runs) expect(r.code, r.stderr).toBeLessThanOrEqual(1);
  // Normal runs afterwards settle whatever the overlap left.
  expectOk(await ws.run("apply"), "apply after");
  expectOk(await ws.run("sync", "scratch", "archive"), "sync after");

  const objects = await archivedObjects(ws);
  expectObjectsIntact(ws, objects);
  const released = stubsOnDisk(ws);
  expect(released.length).toBeGreaterThan(0);
  const unarchived = released.filter((path) => !objects.has(path));
  expect(unarchived, "released files without an object").toEqual([]);

  expectOk(await ws.run("restore", "scratch:old"), "restore");
  expectTreeRestored(ws);
}
