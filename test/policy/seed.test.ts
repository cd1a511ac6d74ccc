import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, statSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PolicyAction } from "../../src/policy/actions.js";
import { strata } from "../support/cli.js";
import { type RgwWithBuckets, rgwLocationYaml, startRgwWithBuckets } from "../support/rgw-server.js";
import { tempDir } from "../support/tmp.js";

/**
 * The seed's rule, end to end: a crafted tree (sizes, atimes set with utimes; the files over
 * 1 GB are sparse, so they take no disk), scanned by `strata scan`, planned by `strata plan
 * --json`, on the embedded store and on a real S3 server (Ceph RGW).
 */

const DAY = 86_400;
const GIB = 1024 ** 3;

/** path, size, idle seconds (atime), the class the rule gives. */
const TABLE: [string, number, number, string][] = [
  ["big/idle-2d.dat", 2 * GIB, 2 * DAY, "GLACIER"],
  ["big/idle-40d.dat", 2 * GIB, 40 * DAY, "GLACIER"],
  ["big/idle-25h.dat", 2 * GIB, 25 * 3600, "GLACIER"],
  ["big/idle-23h.dat", 2 * GIB, 23 * 3600, "STANDARD"],
  ["big/fresh.dat", 3 * GIB, 60, "STANDARD"],
  ["edge/1e9-bytes-idle-2d.dat", 1e9, 2 * DAY, "STANDARD"],
  ["edge/1e9-plus-1-idle-2d.dat", 1e9 + 1, 2 * DAY, "GLACIER"],
  ["edge/1e9-bytes-idle-31d.dat", 1e9, 31 * DAY, "STANDARD_IA"],
  ["small/idle-40d.txt", 1000, 40 * DAY, "STANDARD_IA"],
  ["small/idle-31d.txt", 200_000, 31 * DAY, "STANDARD_IA"],
  ["small/idle-29d.txt", 1000, 29 * DAY, "STANDARD"],
  ["small/fresh.txt", 1000, 0, "STANDARD"],
];
const CRAFTED_AT = Math.floor(Date.now() / 1000);
const SMALL = TABLE.filter(([, size]) => size < 1024 * 1024);

function craftTree(tree: string): void {
  for (const [path, size] of TABLE) {
    const full = join(tree, path);
    mkdirSync(dirname(full), { recursive: true });
    if (size < 1024 * 1024) writeFileSync(full, randomBytes(size));
    else {
      closeSync(openSync(full, "w"));
      truncateSync(full, size);
    }
  }
  setTimes(tree);
  // Sparse: the 17 GB of the table take (almost) no disk.
  expect(statSync(join(tree, "big/idle-2d.dat")).blocks).toBeLessThan(16);
}

/**
 * atime as in the table, mtime a day earlier, from one instant: reading a file may move its
 * atime (relatime), so this is redone after a sync, and the mtimes must come out the same.
 */
function setTimes(tree: string): void {
  for (const [path, , idle] of TABLE) utimesSync(join(tree, path), CRAFTED_AT - idle, CRAFTED_AT - idle - DAY);
}

let rgw: RgwWithBuckets;

beforeAll(async () => {
  rgw = await startRgwWithBuckets(["strata-policy"]);
}, 300_000);

afterAll(() => rgw?.stop());

/** The `archive` location, in STANDARD, and the environment the CLI needs to reach it. */
const TARGETS = [
  ["the embedded store", () => ({ lines: ["  archive:", "    url: local:store", "    class: STANDARD"], env: {} })],
  [
    "S3 on Ceph RGW",
    () => ({
      lines: rgwLocationYaml("archive", "s3://strata-policy/seed", rgw.endpoint, { class: "STANDARD" }),
      env: rgw.env,
    }),
  ],
] as const;

describe.each(TARGETS)("tiering: seed onto %s", (_label, target) => {
  it("places a crafted tree exactly as the rule says, then moves replicas whose class is wrong", async () => {
    const work = tempDir();
    const tree = join(work, "scratch");
    craftTree(tree);
    const { lines, env } = target();
    writeFileSync(
      join(work, "strata.yaml"),
      [
        "catalog: catalog.db",
        "locations:",
        "  scratch:",
        "    url: ./scratch",
        ...lines,
        "policies:",
        "  - name: seed",
        "    from: scratch",
        "    place:",
        "      - to: archive",
        "        tiering: seed",
        "",
      ].join("\n"),
    );
    const run = async (args: string[]) => {
      const result = await strata(args, { cwd: work, env });
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      return result;
    };
    const plan = async () => JSON.parse((await run(["--json", "plan"])).stdout).actions as PolicyAction[];

    await run(["scan", "scratch"]);
    const fresh = await plan();
    expect(fresh.every((a) => a.kind === "copy")).toBe(true);
    expect(Object.fromEntries(fresh.map((a) => [a.file.path, a.kind === "copy" ? a.storageClass : a.kind]))).toEqual(
      Object.fromEntries(TABLE.map(([path, , , cls]) => [path, cls])),
    );

    // The small files go over as STANDARD; the plan then moves the idle ones down in place.
    // The sync reads without touching atimes (O_NOATIME), so the crafted idle times still hold;
    // setting them again would move the ctimes, and a moved ctime rightly asks for a content check.
    await run(["sync", "scratch", "archive", "--max-size", "1MiB"]);
    await run(["scan", "scratch"]);
    const after = await plan();
    const expected = [
      ...TABLE.filter(([, size]) => size >= 1024 * 1024).map(([path, , , cls]) => `copy ${path} ${cls}`),
      ...SMALL.filter(([, , , cls]) => cls !== "STANDARD").map(([path, , , cls]) => `transition ${path} ${cls}`),
    ];
    const described = after.map((a) =>
      a.kind === "copy"
        ? `copy ${a.file.path} ${a.storageClass}`
        : a.kind === "transition"
          ? `transition ${a.file.path} ${a.toClass}`
          : a.kind,
    );
    expect(described.sort()).toEqual(expected.sort());
    const moved = after.find((a) => a.kind === "transition");
    expect(moved?.kind === "transition" && moved.fromClass).toBe("STANDARD");
  }, 240_000);
});
