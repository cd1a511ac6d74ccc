/**
 * Issue 12, history: `strata log` over the events the engine wrote for a real sequence of
 * commands (sync, verify, apply releasing, restore, sync --delete) on a temp tree and the
 * embedded store, on SQLite and PostgreSQL. Each file's history is exactly the events its
 * commands must have left, in order, with the run each command recorded, this host and user;
 * --run, --since and --kind filter; events past `history.retention` are pruned by the next
 * changing run and never by a read-only command.
 */
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import type { HistoryEntry } from "../../src/query/history.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";

const DAY_MS = 86_400_000;

/** An event as `--json` prints it: the time as ISO text. */
type Shown = Omit<HistoryEntry, "at"> & { at: string };

async function work(kind: (typeof CATALOG_KINDS)[number], more: string[] = []) {
  const dir = tempDir("strata-log-");
  const catalog = await freshCatalogUrl(kind, dir);
  writeTree(join(dir, "tree"), { "a.txt": "alpha", "b.txt": "bravo!", "old/r.dat": "to be released" });
  writeFileSync(
    join(dir, "strata.yaml"),
    [
      `catalog: ${catalog}`,
      "locations:",
      "  scratch: { url: ./tree }",
      "  archive: { url: local:store }",
      "policies:",
      "  - name: release-old",
      "    from: [scratch]",
      '    match: { path: ["old/**"] }',
      "    place: [{ to: archive }]",
      "    then: release",
      ...more,
      "",
    ].join("\n"),
  );
  const run = async (...args: string[]) => {
    const result = await strata(args, { cwd: dir });
    expect(result.code, `strata ${args.join(" ")}: ${result.stderr}`).toBe(0);
    return result;
  };
  const log = async (...args: string[]): Promise<Shown[]> =>
    JSON.parse((await run("--json", "log", ...args)).stdout).events;
  /** What the catalog holds, read beside the CLI. */
  const inCatalog = async <T>(read: (db: Awaited<ReturnType<typeof openCatalog>>) => Promise<T>): Promise<T> => {
    const db = await openCatalog(catalog);
    try {
      return await read(db);
    } finally {
      await db.close();
    }
  };
  const lastRun = () =>
    inCatalog(async (db) =>
      Number(
        (
          await db.db
            .selectFrom("runs")
            .select((eb) => eb.fn.max("id").as("n"))
            .executeTakeFirst()
        )?.n ?? 0,
      ),
    );
  return { dir, catalog, run, log, inCatalog, lastRun };
}

/** An event as the tests compare it: what, where, which file, which run, which policy. */
function described(e: Shown): string {
  const where = e.target ? `${e.location}→${e.target}` : e.location;
  const file = e.file ? `${e.file.location}:${e.file.path}` : "-";
  return `${e.kind} ${e.outcome} ${where} ${file} run ${e.runId} ${e.policy ?? "-"}`;
}

describe.each(CATALOG_KINDS)("strata log (%s catalog)", (kind) => {
  it("shows each file's history in order, with its runs, host and user; --run, --since and --kind filter", async () => {
    const { dir, run, log, lastRun } = await work(kind);
    const started = Date.now();
    await run("sync", "scratch", "archive");
    const sync = await lastRun();
    await run("verify", "archive");
    const verify = await lastRun();
    await run("apply");
    const apply = await lastRun();
    const beforeRestore = Date.now();
    await run("restore", "scratch:old/r.dat");
    const restore = await lastRun();
    rmSync(join(dir, "tree", "a.txt"));
    await run("sync", "--delete", "--force", "scratch", "archive");
    const prune = await lastRun();
    expect(new Set([sync, verify, apply, restore, prune]).size).toBe(5);

    const released = await log("scratch:old/r.dat");
    expect(released.map(described)).toEqual([
      `copy done scratch→archive scratch:old/r.dat run ${sync} -`,
      `verify passed archive scratch:old/r.dat run ${verify} -`,
      `release done scratch scratch:old/r.dat run ${apply} release-old`,
      `restore done archive→scratch scratch:old/r.dat run ${restore} -`,
    ]);
    const times = released.map((e) => Date.parse(e.at));
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(times[0]).toBeGreaterThanOrEqual(started);
    for (const e of released) expect([e.host, e.user]).toEqual([hostname(), userInfo().username]);
    expect(released[0]?.bytes).toBe("to be released".length);

    expect((await log("scratch:a.txt")).map(described)).toEqual([
      `copy done scratch→archive scratch:a.txt run ${sync} -`,
      `verify passed archive scratch:a.txt run ${verify} -`,
      `delete done archive scratch:a.txt run ${prune} -`,
    ]);
    // A directory: every file beneath it; a store's key: the file it holds a copy of.
    expect((await log("scratch:old")).map(described)).toEqual(released.map(described));
    expect((await log("archive:old/r.dat")).map(described)).toEqual(released.map(described));
    expect((await log("archive:old")).map(described)).toEqual(released.map(described));

    expect((await log("--run", String(apply))).map(described)).toEqual([
      `release done scratch scratch:old/r.dat run ${apply} release-old`,
    ]);
    expect((await log("--since", new Date(beforeRestore).toISOString())).map(described)).toEqual([
      `restore done archive→scratch scratch:old/r.dat run ${restore} -`,
      `delete done archive scratch:a.txt run ${prune} -`,
    ]);
    expect((await log("--since", "1h", "--kind", "verify")).map(described).sort()).toEqual(
      ["a.txt", "b.txt", "old/r.dat"].map((p) => `verify passed archive scratch:${p} run ${verify} -`),
    );
    const everything = await log();
    expect(everything).toHaveLength(3 + 3 + 1 + 1 + 1);
    expect(everything.slice(-2).map(described)).toEqual([
      `restore done archive→scratch scratch:old/r.dat run ${restore} -`,
      `delete done archive scratch:a.txt run ${prune} -`,
    ]);
    expect((await log("--limit", "1")).map(described)).toEqual([`delete done archive scratch:a.txt run ${prune} -`]);

    const human = await run("log", "scratch:old/r.dat");
    expect(human.stdout.trim().split("\n")).toHaveLength(4);
    expect(human.stdout).toMatch(/release done {2}scratch {2}scratch:old\/r\.dat .* run \d+ {2}policy release-old/);
  });

  it("refuses a bad --since, --kind, --run or location: exit 2, naming it; reading leaves no catalog behind", async () => {
    const { dir, catalog, log } = await work(kind);
    expect(await log("scratch:a.txt")).toEqual([]);
    if (kind === "sqlite") expect(existsSync(catalog)).toBe(false);
    const cases: [string[], RegExp][] = [
      [["--since", "yesterday"], /yesterday/],
      [["--kind", "copies"], /copies/],
      [["--run", "x"], /'x'/],
      [["nowhere:a.txt"], /nowhere:a\.txt/],
    ];
    for (const [args, named] of cases) {
      const result = await strata(["log", ...args], { cwd: dir });
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).toMatch(named);
    }
  });

  it("prunes events past history.retention at the end of a changing run, never in a read-only one", async () => {
    const { dir, run, log, inCatalog } = await work(kind, ["history: { retention: 30d }"]);
    await run("sync", "scratch", "archive");
    const now = Date.now();
    const old = { kind: "copy" as const, bytes: 0, host: "elsewhere", user: "someone", outcome: "done" as const };
    await inCatalog((db) =>
      db.db
        .insertInto("events")
        .values([
          { ...old, at: now - 400 * DAY_MS, detail: JSON.stringify({ note: "very old" }) },
          { ...old, at: now - 40 * DAY_MS, detail: JSON.stringify({ note: "past retention" }) },
          { ...old, at: now - 20 * DAY_MS, detail: JSON.stringify({ note: "within retention" }) },
        ])
        .execute(),
    );
    const notes = async () => (await log("--since", "1000d")).map((e) => e.detail?.note).filter((n) => n !== undefined);
    expect(await notes()).toEqual(["very old", "past retention", "within retention"]);
    // Read-only commands keep everything.
    await run("ls", "scratch");
    expect(await notes()).toEqual(["very old", "past retention", "within retention"]);
    // A sync with nothing to do records no run: a changed file gives it one.
    writeFileSync(join(dir, "tree", "a.txt"), "alpha, changed");
    await run("sync", "scratch", "archive");
    expect(await notes()).toEqual(["within retention"]);
    // The runs' own events are untouched.
    expect((await log("scratch:a.txt")).map((e) => e.kind)).toEqual(["copy", "copy"]);
  });

  it("keeps everything with retention forever, and refuses a retention that is not a duration", async () => {
    const { dir, run, log, inCatalog } = await work(kind, ["history: { retention: forever }"]);
    await run("sync", "scratch", "archive");
    await inCatalog((db) =>
      db.db
        .insertInto("events")
        .values({
          kind: "copy",
          bytes: 0,
          host: "h",
          user: "u",
          outcome: "done",
          at: Date.now() - 5000 * DAY_MS,
          detail: null,
        })
        .execute(),
    );
    writeFileSync(join(dir, "tree", "a.txt"), "alpha, changed");
    await run("sync", "scratch", "archive");
    expect(await log("--since", "6000d")).toHaveLength(3 + 1 + 1);
    writeFileSync(join(dir, "strata.yaml"), `catalog: cat.db\nhistory: { retention: soon }\n`);
    const refused = await strata(["log"], { cwd: dir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/history\.retention/);
  });
});
