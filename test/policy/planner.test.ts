import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  UnknownRow,
} from "kysely";
import { describe, expect, it } from "vitest";
import type { CatalogDb } from "../../src/catalog/db.js";
import type { FileStat } from "../../src/catalog/files.js";
import { recordReplicas } from "../../src/catalog/replicas.js";
import type { PolicyAction } from "../../src/policy/actions.js";
import { planPolicies } from "../../src/policy/planner.js";
import { CATALOG_KINDS } from "../support/catalogs.js";
import { collectActions, configWith, DAY_MS, file, scanRows, world } from "./fixtures.js";

const NOW = Date.UTC(2026, 5, 1, 2, 0, 0);
const HASH = (c: string) => c.repeat(64);

/** A small namespace with a bit of everything a selector can look at. */
const TREE: FileStat[] = [
  file("projects/a/x.h5", NOW, { idleDays: 40, uid: 1001, size: 10 }),
  file("projects/a/y.tmp", NOW, { idleDays: 2, uid: 0, size: 5 }),
  file("projects/b/z.NC", NOW, { idleDays: 1, size: 2 * 1024 * 1024 }),
  file("projectsX/s.txt", NOW, { idleDays: 3 }),
  file("other/q.dat", NOW, { idleDays: 100, size: 1024 }),
  file("other/deep/r.h5", NOW, { idleDays: 5 }),
  file("top.h5", NOW, { idleDays: 0 }),
  { ...file("link", NOW), kind: "symlink" },
];

const ALL_FILES = TREE.filter((f) => f.kind === "file").map((f) => f.path);

describe.each(CATALOG_KINDS)("selectors compiled to catalog queries on %s", (kind) => {
  async function matched(match: unknown): Promise<string[]> {
    const policy = { name: "p", from: "scratch", match, place: [{ to: "offsite" }] };
    const { config, catalog, ids } = await world([policy], kind);
    try {
      await scanRows(catalog, ids.get("scratch") as number, TREE);
      await catalog.db
        .updateTable("files")
        .set({ tags: JSON.stringify({ project: "climate", "a.b": "dotted" }) })
        .where("path", "=", "projects/a/x.h5")
        .execute();
      const replicaOf = async (path: string, state: "present" | "lost") => {
        const row = await catalog.db
          .selectFrom("files")
          .select("id")
          .where("path", "=", path)
          .executeTakeFirstOrThrow();
        await recordReplicas(catalog, [
          replica(row.id, ids.get("archive") as number, path, { state, hash: HASH("a"), storageClass: "GLACIER" }),
        ]);
      };
      await replicaOf("other/q.dat", "present");
      await replicaOf("top.h5", "lost");
      const actions = await collectActions(planPolicies(catalog, config, { now: NOW }));
      expect(actions.every((a) => a.kind === "copy")).toBe(true);
      return actions.map((a) => a.file.path).sort();
    } finally {
      await catalog.close();
    }
  }

  it.each([
    ["everything (no match)", undefined, ALL_FILES],
    [
      "a subtree glob, not its look-alike sibling",
      { path: "projects/**" },
      ["projects/a/x.h5", "projects/a/y.tmp", "projects/b/z.NC"],
    ],
    ["include and exclude", { path: "projects/**", exclude: "**/*.tmp" }, ["projects/a/x.h5", "projects/b/z.NC"]],
    ["a literal path", { path: "projects/a/x.h5" }, ["projects/a/x.h5"]],
    ["a name at any depth", { path: "*.h5" }, ["other/deep/r.h5", "projects/a/x.h5", "top.h5"]],
    [
      "extensions, any case",
      { type: ["h5", ".nc"] },
      ["other/deep/r.h5", "projects/a/x.h5", "projects/b/z.NC", "top.h5"],
    ],
    ["a size range", { size: { min: "1KiB", max: "1GiB" } }, ["other/q.dat", "projects/b/z.NC"]],
    ["atime age", { notAccessedFor: "30d" }, ["other/q.dat", "projects/a/x.h5"]],
    ["atime recency", { accessedWithin: "36h" }, ["projects/b/z.NC", "top.h5"]],
    ["mtime age (a day before atime)", { notModifiedFor: "6d" }, ["other/deep/r.h5", "other/q.dat", "projects/a/x.h5"]],
    ["owner by number", { owner: 1001 }, ["projects/a/x.h5"]],
    ["owner by name from /etc/passwd", { owner: "root" }, ["projects/a/y.tmp"]],
    ["kind", { kind: "symlink" }, []],
    ["a tag", { tags: { project: "climate" } }, ["projects/a/x.h5"]],
    ["a tag whose name has a dot", { tags: { "a.b": "dotted" } }, ["projects/a/x.h5"]],
    [
      "not a tag (files without tags match)",
      { not: { tags: { project: "climate" } } },
      ALL_FILES.filter((p) => p !== "projects/a/x.h5"),
    ],
    ["a replica present elsewhere", { replica: { at: "archive", state: "present" } }, ["other/q.dat"]],
    ["a replica in a class", { replica: { at: "archive", state: "present", class: "STANDARD" } }, []],
    [
      "no replica there",
      { replica: { at: "archive", state: "missing" } },
      ALL_FILES.filter((p) => p !== "other/q.dat" && p !== "top.h5"),
    ],
    ["a location never scanned holds nothing", { replica: { at: "offsite", state: "missing" } }, ALL_FILES],
    [
      "any of a glob and exact conditions",
      { any: [{ path: "other/**" }, { size: { min: "1MiB" } }] },
      ["other/deep/r.h5", "other/q.dat", "projects/b/z.NC"],
    ],
    ["not a glob", { not: { path: "projects/**" } }, ["other/deep/r.h5", "other/q.dat", "projectsX/s.txt", "top.h5"]],
    [
      "all with a negated any of a tag and a glob",
      { all: [{ path: "projects/**" }, { not: { any: [{ tags: { project: "climate" } }, { path: "**/*.tmp" }] } }] },
      ["projects/b/z.NC"],
    ],
    [
      "any of exact conditions only",
      { any: [{ owner: 1001 }, { notAccessedFor: "90d" }] },
      ["other/q.dat", "projects/a/x.h5"],
    ],
  ])("%s", async (_label, match, expected) => {
    expect(await matched(match)).toEqual([...expected].sort());
  });
});

function replica(
  fileId: number,
  locationId: number,
  key: string,
  over: { state?: "present" | "lost"; hash?: string; storageClass?: string; verifiedAt?: number | null } = {},
) {
  return {
    fileId,
    locationId,
    key,
    size: 100,
    hash: over.hash ?? HASH("a"),
    storageClass: over.storageClass ?? "STANDARD",
    state: over.state ?? "present",
    sourceSize: 100,
    sourceMtimeUs: 0,
    etag: null,
    verifiedAt: over.verifiedAt === undefined ? NOW - DAY_MS : over.verifiedAt,
  };
}

async function fileIds(catalog: CatalogDb): Promise<Map<string, number>> {
  const rows = await catalog.db.selectFrom("files").select(["id", "path"]).execute();
  return new Map(rows.map((r) => [r.path, r.id]));
}

describe.each(CATALOG_KINDS)("the planner on %s", (kind) => {
  it("places each file by the seed rule, exactly at its boundaries", async () => {
    const { config, catalog, ids } = await world(
      [{ name: "seed", from: "scratch", place: [{ to: "archive", tiering: "seed" }] }],
      kind,
    );
    const us = (ms: number) => ms * 1000;
    const rows: [string, number, number, string][] = [
      // path, size, idle (ms), class
      ["over-1e9-idle-1d-plus-1us", 1e9 + 1, DAY_MS + 0.001, "GLACIER"],
      ["over-1e9-idle-exactly-1d", 1e9 + 1, DAY_MS, "STANDARD"],
      ["exactly-1e9-idle-2d", 1e9, 2 * DAY_MS, "STANDARD"],
      ["exactly-1e9-idle-31d", 1e9, 31 * DAY_MS, "STANDARD_IA"],
      ["small-idle-exactly-30d", 10, 30 * DAY_MS, "STANDARD"],
      ["small-idle-30d-plus-1us", 10, 30 * DAY_MS + 0.001, "STANDARD_IA"],
      ["big-fresh", 5e9, 0, "STANDARD"],
    ];
    await scanRows(
      catalog,
      ids.get("scratch") as number,
      rows.map(([path, size, idle]) => ({ ...file(path, NOW), size, atimeUs: us(NOW - idle) })),
    );
    const actions = await collectActions(planPolicies(catalog, config, { now: NOW }));
    const placed = Object.fromEntries(actions.map((a) => [a.file.path, a.kind === "copy" ? a.storageClass : a.kind]));
    expect(placed).toEqual(Object.fromEntries(rows.map(([path, , , cls]) => [path, cls])));
    await catalog.close();
  });

  it("plans a transition for a replica in the wrong class, and leaves archived ones where they are", async () => {
    const { config, catalog, ids } = await world(
      [{ name: "seed", from: "scratch", place: [{ to: "archive", tiering: "seed" }] }],
      kind,
    );
    const entries = [
      file("cold.dat", NOW, { idleDays: 40, hash: HASH("1") }),
      file("fresh.dat", NOW, { idleDays: 0, hash: HASH("2") }),
      file("archived.dat", NOW, { idleDays: 0, hash: HASH("3") }),
    ];
    await scanRows(catalog, ids.get("scratch") as number, entries);
    const byPath = await fileIds(catalog);
    const archive = ids.get("archive") as number;
    await recordReplicas(catalog, [
      replica(byPath.get("cold.dat") as number, archive, "cold.dat", { hash: HASH("1") }),
      replica(byPath.get("fresh.dat") as number, archive, "fresh.dat", { hash: HASH("2") }),
      replica(byPath.get("archived.dat") as number, archive, "archived.dat", {
        hash: HASH("3"),
        storageClass: "GLACIER",
      }),
    ]);
    const actions = await collectActions(planPolicies(catalog, config, { now: NOW }));
    expect(actions.map((a) => [a.kind, a.file.path, a.kind === "transition" ? a.toClass : ""])).toEqual([
      ["transition", "cold.dat", "STANDARD_IA"],
    ]);
    await catalog.close();
  });

  it("chooses classes by expected cost: access rate from atime, the restore latency limit", async () => {
    const cost = (extra: object) => [
      { name: "cost", from: "scratch", place: [{ to: "cloud", tiering: "cost", ...extra }] },
    ];
    const { root, catalog, ids } = await world(cost({}), kind);
    const idle = (days: number) => Math.round((NOW - days * DAY_MS) * 1000);
    await scanRows(catalog, ids.get("scratch") as number, [
      // Written 200 days ago and never read since (atime = mtime): archive it.
      { ...file("never-read.dat", NOW), size: 50 * 1024 ** 3, atimeUs: idle(200), mtimeUs: idle(200) },
      // 1,000 bytes read today: the IA and Glacier classes bill 128 KiB or 40 KiB of it, and reads.
      { ...file("tiny-hot.txt", NOW), size: 1000, atimeUs: idle(0.5), mtimeUs: idle(100) },
      // Already in STANDARD, 5 GiB never read: worth moving down despite the transition.
      {
        ...file("cold-replica.dat", NOW, { hash: HASH("9") }),
        size: 5 * 1024 ** 3,
        atimeUs: idle(90),
        mtimeUs: idle(90),
      },
    ]);
    const byPath = await fileIds(catalog);
    await recordReplicas(catalog, [
      {
        ...replica(byPath.get("cold-replica.dat") as number, ids.get("cloud") as number, "cold-replica.dat"),
        hash: HASH("9"),
        size: 5 * 1024 ** 3,
      },
    ]);
    const classes = async (extra: object) =>
      Object.fromEntries(
        (await collectActions(planPolicies(catalog, configWith(root, cost(extra)), { now: NOW }))).map((a) => [
          a.file.path,
          a.kind === "copy" ? a.storageClass : a.kind === "transition" ? `→ ${a.toClass}` : a.kind,
        ]),
      );
    expect(await classes({})).toEqual({
      "never-read.dat": "DEEP_ARCHIVE",
      "tiny-hot.txt": "STANDARD",
      "cold-replica.dat": "→ DEEP_ARCHIVE",
    });
    // Deep Archive restores take 12 hours at best; Glacier's expedited tier, minutes.
    expect(await classes({ maxRestoreLatency: "1h" })).toEqual({
      "never-read.dat": "GLACIER",
      "tiny-hot.txt": "STANDARD",
      "cold-replica.dat": "→ GLACIER",
    });
    await catalog.close();
  });

  it("releases only files whose required copies are present, verified and of the same content", async () => {
    const { config, catalog, ids } = await world(
      [
        // biome-ignore lint/suspicious/noThenProperty: the policy language's word
        { name: "free", from: "scratch", place: [{ to: "archive" }, { to: "offsite" }], copies: 2, then: "release" },
      ],
      kind,
    );
    const names = ["ok", "corrupt", "unverified", "one-copy", "hash-unknown"];
    await scanRows(
      catalog,
      ids.get("scratch") as number,
      names.map((name) => file(name, NOW, name === "hash-unknown" ? {} : { hash: HASH("c") })),
    );
    const byPath = await fileIds(catalog);
    const at = (name: string) => ids.get(name) as number;
    const both = (name: string, over: Parameters<typeof replica>[3] = {}) => [
      replica(byPath.get(name) as number, at("archive"), name, { hash: HASH("c") }),
      replica(byPath.get(name) as number, at("offsite"), name, { hash: HASH("c"), ...over }),
    ];
    await recordReplicas(catalog, [
      ...both("ok"),
      ...both("corrupt", { hash: HASH("d") }),
      ...both("unverified", { verifiedAt: null }),
      ...both("one-copy").slice(0, 1),
      ...both("hash-unknown").map((r) => ({ ...r, sourceMtimeUs: file("x", NOW).mtimeUs })),
    ]);
    const actions = await collectActions(planPolicies(catalog, config, { now: NOW }));
    const summary = actions.map((a) => `${a.kind} ${a.file.path}${a.kind === "copy" ? ` → ${a.to}` : ""}`);
    // A file whose hash is unknown (the scan saw it change) is copied, compared by content first.
    expect(summary.sort()).toEqual([
      "copy corrupt → offsite",
      "copy hash-unknown → archive",
      "copy hash-unknown → offsite",
      "copy one-copy → offsite",
      "release ok",
    ]);
    const release = actions.find((a) => a.kind === "release");
    expect(release?.kind === "release" && release.requires.map((r) => r.at).sort()).toEqual(["archive", "offsite"]);
    expect(release?.monthlyCostDelta).toBeLessThan(0);
    await catalog.close();
  });

  it("announces a purge, waits out the grace period, and purges only files unread since", async () => {
    const { config, catalog, ids } = await world(
      [
        {
          name: "purge",
          from: "scratch",
          place: [{ to: "archive" }],
          // biome-ignore lint/suspicious/noThenProperty: the policy language's word
          then: "purge",
          purge: { after: "30d", grace: "14d", notices: "/var/notices" },
        },
      ],
      kind,
    );
    const names = { announce: 40, "in-grace": 40, due: 60, "read-since": 1, young: 10 };
    await scanRows(
      catalog,
      ids.get("scratch") as number,
      Object.entries(names).map(([name, idleDays]) => file(name, NOW, { idleDays, hash: HASH("e"), uid: 1234 })),
    );
    const byPath = await fileIds(catalog);
    await recordReplicas(
      catalog,
      Object.keys(names).map((name) =>
        replica(byPath.get(name) as number, ids.get("archive") as number, name, { hash: HASH("e") }),
      ),
    );
    const notice = (name: string, idleDaysThen: number, deleteAfter: number) => ({
      policy: "purge",
      file_id: byPath.get(name) as number,
      uid: 1234,
      atime_us: Math.round((NOW - idleDaysThen * DAY_MS) * 1000),
      announced_at: NOW - 20 * DAY_MS,
      delete_after: deleteAfter,
    });
    await catalog.db
      .insertInto("purge_notices")
      .values([
        notice("in-grace", 40, NOW + DAY_MS),
        notice("due", 60, NOW - DAY_MS),
        // Announced while idle 40 days; read yesterday: the notice no longer holds.
        notice("read-since", 40, NOW - DAY_MS),
      ])
      .execute();
    const actions = await collectActions(planPolicies(catalog, config, { now: NOW }));
    expect(actions.map((a) => `${a.kind} ${a.file.path}`).sort()).toEqual(["notify announce", "purge due"]);
    const notify = actions.find((a) => a.kind === "notify");
    expect(notify).toMatchObject({ uid: 1234, deleteAfter: NOW + 14 * DAY_MS, noticeDir: "/var/notices" });
    const purge = actions.find((a) => a.kind === "purge");
    expect(purge).toMatchObject({ deleteAfter: NOW - DAY_MS, requires: [{ at: "archive" }] });
    await catalog.close();
  });

  it("prunes replicas of files deleted at the source, only when asked", async () => {
    const policy = { name: "mirror", from: "scratch", place: [{ to: "archive" }] };
    const { root, catalog, ids } = await world([policy], kind);
    await scanRows(catalog, ids.get("scratch") as number, [file("kept", NOW, { hash: HASH("f") }), file("gone", NOW)]);
    const byPath = await fileIds(catalog);
    await recordReplicas(catalog, [
      replica(byPath.get("kept") as number, ids.get("archive") as number, "kept", { hash: HASH("f") }),
      replica(byPath.get("gone") as number, ids.get("archive") as number, "gone"),
    ]);
    await catalog.db.updateTable("files").set({ state: "deleted" }).where("path", "=", "gone").execute();
    const plan = async (prune: boolean, force = false) =>
      (await collectActions(planPolicies(catalog, configWith(root, [{ ...policy, prune }]), { now: NOW, force }))).map(
        (a: PolicyAction) => `${a.kind} ${a.file.path}`,
      );
    expect(await plan(false)).toEqual([]);
    // One of two objects is past defaults.maxDeleteShare: refused, unless forced.
    await expect(plan(true)).rejects.toThrow(/mirror: prune: refusing to delete 1 of 2 objects/);
    expect(await plan(true, true)).toEqual(["delete gone"]);
    await catalog.close();
  });
});

describe("the planner at scale", () => {
  it("pages through the catalog: the first action comes after one page of 1,000 files, not all 20,000", async () => {
    const { config, catalog, ids } = await world([
      { name: "all", from: "scratch", place: [{ to: "archive", class: "STANDARD" }] },
    ]);
    const entries = Array.from({ length: 20_000 }, (_, i) => file(`d${i % 50}/f${i}.dat`, NOW, { inode: i }));
    await scanRows(catalog, ids.get("scratch") as number, entries);
    const pages: number[] = [];
    const counting = { ...catalog, db: catalog.db.withPlugin(limitCounter(pages)) };
    const actions = planPolicies(counting, config, { now: NOW })[Symbol.asyncIterator]();
    const first = await actions.next();
    expect(first.done).toBe(false);
    expect(pages).toEqual([1000]);
    let total = 1;
    while (!(await actions.next()).done) total += 1;
    expect(total).toBe(20_000);
    expect(pages.length).toBe(21);
    expect(Math.max(...pages)).toBe(1000);
    await catalog.close();
  });
});

/** Records the LIMIT of every limited SELECT: the planner's pages. */
function limitCounter(pages: number[]): KyselyPlugin {
  return {
    transformQuery(args: PluginTransformQueryArgs) {
      const node = args.node as { kind: string; limit?: { limit: { value?: unknown } } };
      if (node.kind === "SelectQueryNode" && node.limit) pages.push(Number(node.limit.limit.value));
      return args.node;
    },
    transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      return Promise.resolve(args.result);
    },
  };
}
