import { Migrator } from "kysely";
import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { migrations } from "../../src/catalog/migrations.js";
import { CATALOG_KINDS, type CatalogKind, freshCatalogUrl, kyselyAt } from "../support/catalogs.js";
import { strata } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";
import { bruteDu, catalogRows, duArgs, duRows, type Request } from "./du-brute.js";

const BEFORE_DU = "0007_engine_events";
const DAY_US = 86_400_000_000;

/** A catalog as the release before du left it: every file state, kind, tag form and replica state. */
async function writeRowsAtPreviousMigration(kind: CatalogKind, url: string): Promise<void> {
  const db = kyselyAt(kind, url);
  try {
    const { error } = await new Migrator({ db, provider: migrations(kind) }).migrateTo(BEFORE_DU);
    if (error) throw error;
    const location = async (name: string, url: string) =>
      (
        await db
          .insertInto("locations")
          .values({ name, url, kind: name === "scratch" ? "posix" : "local", created_at: 0 })
          .returning("id")
          .executeTakeFirstOrThrow()
      ).id;
    const scratch = await location("scratch", "file:///data/scratch");
    const projects = await location("projects", "file:///data/projects");
    const archive = await location("archive", "local:///store");
    const tape = await location("tape", "local:///tape");
    const now = Date.now() * 1000;
    const states = ["present", "present", "released", "missing", "deleted"] as const;
    const kinds = ["file", "file", "file", "file", "file", "file", "dir", "symlink"] as const;
    const tags = [null, '{"project":"a"}', '{"project":"b","x":"1"}', "[1,2]", "broken{", '{"other":"z"}'];
    for (let i = 0; i < 120; i++) {
      const file = await db
        .insertInto("files")
        .values({
          location_id: i % 4 === 0 ? projects : scratch,
          path: [`top${i}`, `a/f${i}`, `a/b/f${i}`, `a/b/c/f${i}`, `z/f${i}`, `a b/é${i}`][i % 6] as string,
          kind: kinds[i % kinds.length] as (typeof kinds)[number],
          size: (i * 7919) % 100_000,
          mtime_us: 0,
          atime_us: now - (i % 9) * 70 * DAY_US,
          ctime_us: 0,
          mode: 0o644,
          uid: 1000 + (i % 3),
          gid: 50 + (i % 2),
          inode: i,
          tags: tags[i % tags.length] as string | null,
          state: states[i % states.length] as (typeof states)[number],
          first_scan_id: 1,
          seen_scan_id: 1,
          changed_scan_id: 1,
        })
        .returning("id")
        .executeTakeFirstOrThrow();
      const replicaStates = ["present", "archived", "restoring", "lost", "released", "replacing"] as const;
      for (const [j, at] of [archive, tape].entries()) {
        if ((i + j) % 3 === 0) continue;
        await db
          .insertInto("replicas")
          .values({
            file_id: file.id,
            location_id: at,
            key: `k${i}`,
            size: ((i * 7919) % 100_000) + j,
            hash: "h",
            storage_class: j === 1 ? "GLACIER" : i % 2 ? "STANDARD" : null,
            state: replicaStates[(i + j) % replicaStates.length] as (typeof replicaStates)[number],
            source_size: 0,
            source_mtime_us: 0,
            created_at: 0,
            verified_at: i % 4 === 1 ? null : 5,
          })
          .execute();
      }
    }
  } finally {
    await db.destroy();
  }
}

const REQUESTS: Request[] = [
  { operands: [] },
  { operands: [{ location: "scratch", path: "" }], depth: 3 },
  {
    operands: [
      { location: "scratch", path: "a/b" },
      { location: "projects", path: "" },
    ],
    depth: 1,
  },
  { operands: [{ location: "scratch", path: "a" }], by: "class" },
  ...["owner", "group", "class", "state", "location", "age", "size", "tag:project", "tag:x"].map((by) => ({
    operands: [],
    by,
  })),
];

describe.each(CATALOG_KINDS)("the du migration fills the summaries from existing rows (%s catalog)", (kind) => {
  it("du after migrating equals the sums over the rows, and stays so as rows change", async () => {
    const dir = tempDir("strata-du-migrate-");
    const url = await freshCatalogUrl(kind, dir);
    await writeRowsAtPreviousMigration(kind, url);
    const du = (request: Request) => strata(["--catalog", url, ...duArgs(request)], { cwd: dir });
    const compare = async (step: string) => {
      const rows = await catalogRows(url);
      for (const request of REQUESTS) {
        expect(duRows(await du(request)), `${step}: ${duArgs(request).join(" ")}`).toEqual(bruteDu(rows, request));
      }
    };
    // The first command to open the catalog migrates it.
    await compare("after the migration");

    const catalog = await openCatalog(url);
    try {
      const { db } = catalog;
      await db.deleteFrom("replicas").where("state", "=", "archived").execute();
      await db.updateTable("replicas").set({ verified_at: null }).where("storage_class", "=", "GLACIER").execute();
      await db.updateTable("files").set({ state: "present" }).where("state", "=", "missing").execute();
      await db.updateTable("files").set({ tags: '{"project":"c"}' }).where("tags", "is", null).execute();
      await db
        .updateTable("files")
        .set({ atime_us: Date.now() * 1000 })
        .where("uid", "=", 1001)
        .execute();
    } finally {
      await catalog.close();
    }
    await compare("after changes");
  }, 120_000);
});
