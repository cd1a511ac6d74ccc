import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { expect } from "vitest";
import { parseStub } from "../../src/codec/stub.js";
import { agedTree } from "../policy/apply-workspace.js";
import { type CliResult, strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";

/**
 * The guards of issue 9 (defects 4 and 5) as cases run against any archive: the embedded store
 * in guards.test.ts, Ceph RGW in guards-rgw.test.ts. Every step is a real CLI process.
 */
export interface Archive {
  /** The strata.yaml lines of a location `name` holding objects under `prefix`. */
  yaml(name: string, prefix: string): string[];
  /** Every object under `prefix`, key (relative to it) → content. */
  objects(prefix: string): Promise<Map<string, string>>;
}

/** Ten files aged 40 days, so nothing about them is recent. */
export const TEN_FILES: Record<string, string> = Object.fromEntries(
  Array.from({ length: 10 }, (_, i) => [`runs/run-${i}/out.h5`, `result ${i} `.repeat(200 + i)]),
);

/** Archives every scratch file, releases it, and prunes what is deleted at the source. */
const RELEASE_AND_PRUNE = [
  "policies:",
  "  - name: archive-all",
  "    from: [scratch]",
  '    match: { path: ["**"] }',
  "    place: [{ to: archive }]",
  "    then: release",
  "    prune: true",
];

/** Archives every scratch file, keeps it, and prunes what is deleted at the source. */
const KEEP_AND_PRUNE = RELEASE_AND_PRUNE.map((line) => line.replace("then: release", "then: keep"));

export interface Bench {
  dir: string;
  scratch: string;
  run(...args: string[]): Promise<CliResult>;
}

export function bench(archive: Archive, prefix: string, policy: string[] = RELEASE_AND_PRUNE): Bench {
  const dir = tempDir("strata-guards-");
  const scratch = join(dir, "scratch");
  mkdirSync(scratch);
  writeFileSync(
    join(dir, "strata.yaml"),
    [
      "catalog: cat.db",
      "locations:",
      "  scratch:",
      "    url: ./scratch",
      ...archive.yaml("archive", prefix),
      "defaults:",
      "  retries: 1",
      ...policy,
      "",
    ].join("\n"),
  );
  return { dir, scratch, run: (...args) => strata(["--config", join(dir, "strata.yaml"), ...args], { cwd: dir }) };
}

/** The first `daemon --once`: everything archived and released. */
async function archivedAndReleased(b: Bench, archive: Archive, prefix: string): Promise<Map<string, string>> {
  agedTree(b.scratch, TEN_FILES, 40);
  const first = await b.run("daemon", "--once");
  expect(first.stderr).toBe("");
  expect(first.code).toBe(0);
  for (const path of Object.keys(TEN_FILES)) {
    expect(parseStub(readFileSync(join(b.scratch, path), "utf8")), path).toBeDefined();
  }
  const objects = await archive.objects(prefix);
  expect(objects).toEqual(new Map(Object.entries(TEN_FILES)));
  return objects;
}

/** A daemon run over a source that is not what it was deletes nothing, fails, and says why. */
async function refusedAndKept(b: Bench, archive: Archive, prefix: string, before: Map<string, string>) {
  const again = await b.run("daemon", "--once");
  expect(again.code).not.toBe(0);
  expect(again.stdout + again.stderr).toMatch(/scratch looks unmounted: /);
  expect(await archive.objects(prefix)).toEqual(before);
}

/** Mounts a fresh tmpfs on `dir`: a filesystem of its own that can be unmounted as HPC mounts are. */
export function mountTmpfs(dir: string): () => void {
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", dir]);
  let mounted = true;
  return () => {
    if (mounted) execFileSync("umount", [dir]);
    mounted = false;
  };
}

/** Defect 4: the source's filesystem unmounted, an empty mount point left: nothing is pruned. */
export function unmountedSourcePrunesNothing(archive: Archive, prefix: string): Promise<void> {
  return prunesNothingOnceUnmounted(archive, prefix, () => undefined);
}

/** The root replaced by an empty directory on the same filesystem (a failed automount, a wrong symlink). */
export async function emptiedRootPrunesNothing(archive: Archive, prefix: string): Promise<void> {
  const b = bench(archive, prefix);
  const before = await archivedAndReleased(b, archive, prefix);
  renameSync(b.scratch, `${b.scratch}.away`);
  mkdirSync(b.scratch);
  await refusedAndKept(b, archive, prefix, before);
}

/** The root gone altogether. */
export async function missingRootPrunesNothing(archive: Archive, prefix: string): Promise<void> {
  const b = bench(archive, prefix);
  const before = await archivedAndReleased(b, archive, prefix);
  renameSync(b.scratch, `${b.scratch}.away`);
  await refusedAndKept(b, archive, prefix, before);
}

/**
 * The mount point held a stray file before the filesystem was mounted over it: once unmounted,
 * the root is not empty, but it is on another device than the one first scanned.
 */
export function otherDevicePrunesNothing(archive: Archive, prefix: string): Promise<void> {
  return prunesNothingOnceUnmounted(archive, prefix, (mountPoint) =>
    writeFileSync(join(mountPoint, "written-while-unmounted.txt"), "stray"),
  );
}

/** The tree archived and released on a tmpfs mounted over `scratch`, then unmounted: nothing is pruned. */
async function prunesNothingOnceUnmounted(
  archive: Archive,
  prefix: string,
  beforeMount: (mountPoint: string) => void,
): Promise<void> {
  const b = bench(archive, prefix);
  beforeMount(b.scratch);
  const unmount = mountTmpfs(b.scratch);
  try {
    const before = await archivedAndReleased(b, archive, prefix);
    unmount();
    await refusedAndKept(b, archive, prefix, before);
  } finally {
    unmount();
  }
}

/** A released file whose stub was removed is missing, not deleted: its copy stays and restores. */
export async function lostStubKeepsItsCopy(archive: Archive, prefix: string): Promise<void> {
  const b = bench(archive, prefix);
  const before = await archivedAndReleased(b, archive, prefix);
  rmSync(join(b.scratch, "runs/run-3/out.h5"));
  const again = await b.run("daemon", "--once");
  expect(again.stderr).toBe("");
  expect(again.code).toBe(0);
  expect(await archive.objects(prefix)).toEqual(before);
  const listed = await b.run("ls", "scratch:runs/run-3");
  expect(listed.stdout).toMatch(/out\.h5 \[missing\]/);
  const restored = await b.run("restore", "scratch:runs/run-3/out.h5");
  expect(restored.stderr).toBe("");
  expect(restored.code).toBe(0);
  expect(readFileSync(join(b.scratch, "runs/run-3/out.h5"), "utf8")).toBe(TEN_FILES["runs/run-3/out.h5"]);
}

/** Pruning past defaults.maxDeleteShare needs --force, as `sync --delete` does. */
export async function pruneShareGuard(archive: Archive, prefix: string): Promise<void> {
  const b = bench(archive, prefix, KEEP_AND_PRUNE);
  agedTree(b.scratch, TEN_FILES, 40);
  expect((await b.run("daemon", "--once")).code).toBe(0);
  const removed = Object.keys(TEN_FILES).slice(0, 4);
  for (const path of removed) rmSync(join(b.scratch, path));
  const refused = await b.run("daemon", "--once");
  expect(refused.code).not.toBe(0);
  expect(refused.stdout + refused.stderr).toMatch(
    /archive-all: prune: refusing to delete 4 of 10 objects \(40%, [^)]+\) at archive; the limit is 25% \(defaults\.maxDeleteShare\)/,
  );
  expect((await archive.objects(prefix)).size).toBe(10);
  const forced = await b.run("apply", "--force");
  expect(forced.stderr).toBe("");
  expect(forced.code).toBe(0);
  const left = await archive.objects(prefix);
  expect([...left.keys()].sort()).toEqual(Object.keys(TEN_FILES).slice(4).sort());
}

const PROJ_A = "projA data, the only copy once released ".repeat(50);
const PROJ_B = "projB data, another experiment entirely! ".repeat(50);

/** projA's policy: archive runs/ and release it. */
function projectConfig(dir: string, catalog: string, projects: string[], archive: Archive, prefix: string): string {
  const file = join(dir, `${catalog}.yaml`);
  writeFileSync(
    file,
    [
      `catalog: ${catalog}.db`,
      "locations:",
      ...projects.flatMap((p) => [`  ${p}:`, `    url: ./${p}`]),
      ...archive.yaml("archive", prefix),
      "defaults:",
      "  retries: 1",
      ...(projects.includes("projA")
        ? ["policies:", "  - name: release-a", "    from: [projA]", "    place: [{ to: archive }]", "    then: release"]
        : ["policies: []"]),
      "",
    ].join("\n"),
  );
  return file;
}

function twoProjects(): string {
  const dir = tempDir("strata-shared-key-");
  agedTree(join(dir, "projA"), { "runs/x.h5": PROJ_A }, 40);
  agedTree(join(dir, "projB"), { "runs/x.h5": PROJ_B }, 40);
  return dir;
}

async function releasedProjA(dir: string, config: string, archive: Archive, prefix: string) {
  expect((await strata(["--config", config, "scan", "projA"], { cwd: dir })).code).toBe(0);
  const applied = await strata(["--config", config, "apply"], { cwd: dir });
  expect(applied.stderr).toBe("");
  expect(applied.code).toBe(0);
  expect(parseStub(readFileSync(join(dir, "projA/runs/x.h5"), "utf8"))).toBeDefined();
  expect(await archive.objects(prefix)).toEqual(new Map([["runs/x.h5", PROJ_A]]));
}

/** Defect 5, one catalog: projB's file bound for the key that holds projA's only copy is refused. */
export async function sharedKeyOneCatalog(archive: Archive, prefix: string): Promise<void> {
  const dir = twoProjects();
  const config = projectConfig(dir, "shared", ["projA", "projB"], archive, prefix);
  await releasedProjA(dir, config, archive, prefix);
  const synced = await strata(["--config", config, "sync", "projB", "archive"], { cwd: dir });
  expect(synced.code).toBe(1);
  expect(synced.stderr).toContain(
    "archive:runs/x.h5 holds the copy of projA:runs/x.h5; give projB its own prefix at archive",
  );
  expect(await archive.objects(prefix)).toEqual(new Map([["runs/x.h5", PROJ_A]]));
  const restored = await strata(["--config", config, "restore", "projA:runs/x.h5"], { cwd: dir });
  expect(restored.code).toBe(0);
  expect(readFileSync(join(dir, "projA/runs/x.h5"), "utf8")).toBe(PROJ_A);
}

/** Defect 5, two catalogs: the object's own metadata says whose copy it is. */
export async function sharedKeyTwoCatalogs(archive: Archive, prefix: string): Promise<void> {
  const dir = twoProjects();
  const configA = projectConfig(dir, "a", ["projA"], archive, prefix);
  const configB = projectConfig(dir, "b", ["projB"], archive, prefix);
  await releasedProjA(dir, configA, archive, prefix);
  const synced = await strata(["--config", configB, "sync", "projB", "archive"], { cwd: dir });
  expect(synced.code).toBe(1);
  expect(synced.stderr).toContain(
    `archive:runs/x.h5 holds a copy of runs/x.h5 from ${pathToFileURL(join(dir, "projA")).href} ` +
      "(written by another catalog); " +
      "give projB its own prefix at archive",
  );
  expect(await archive.objects(prefix)).toEqual(new Map([["runs/x.h5", PROJ_A]]));
  // The object's own project syncs onto it as before.
  writeTree(join(dir, "projA"), { "runs/y.h5": "more of projA" });
  const own = await strata(["--config", configA, "sync", "projA", "archive"], { cwd: dir });
  expect(own.stderr).toBe("");
  expect(own.code).toBe(0);
}

/** Locations whose trees overlap are a config error naming both, before anything runs. */
export async function overlappingLocationsRefused(archive: Archive, prefix: string): Promise<void> {
  const dir = tempDir("strata-alias-");
  mkdirSync(join(dir, "projA/sub"), { recursive: true });
  symlinkSync(join(dir, "projA"), join(dir, "alias"));
  const cases: [string[], RegExp][] = [
    [
      ["  alias:", "    url: ./alias"],
      /strata\.yaml:\d+:\d+: locations\.alias: .*is the same place as locations\.projA/,
    ],
    [["  nested:", "    url: ./projA/sub"], /strata\.yaml:\d+:\d+: locations\.nested: .*is inside locations\.projA/],
    [archive.yaml("twin", prefix), /strata\.yaml:\d+:\d+: locations\.twin: .*is the same place as locations\.archive/],
    [
      archive.yaml("deeper", `${prefix}/deeper`),
      /strata\.yaml:\d+:\d+: locations\.deeper: .*is inside locations\.archive/,
    ],
  ];
  for (const [extra, message] of cases) {
    writeFileSync(
      join(dir, "strata.yaml"),
      [
        "catalog: cat.db",
        "locations:",
        "  projA:",
        "    url: ./projA",
        ...archive.yaml("archive", prefix),
        ...extra,
        "",
      ].join("\n"),
    );
    const scanned = await strata(["scan", "projA"], { cwd: dir });
    expect(scanned.code, extra.join("\n")).toBe(2);
    expect(scanned.stderr).toMatch(message);
  }
}
