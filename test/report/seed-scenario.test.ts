import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import { CATALOG_KINDS } from "../support/catalogs.js";
import { strata } from "../support/cli.js";
import { BEFORE_LAST_RUN, makeSeedWorkspace, SINCE_LAST_RUN } from "../support/seed-scenario.js";
import { tempDir } from "../support/tmp.js";

describe.each(CATALOG_KINDS)("the seed scenario's workspace on %s", (kind) => {
  it("is scanned, has a finished run with copies, three months of scan history and a plan to do", async () => {
    const workspace = await makeSeedWorkspace(tempDir(), kind);
    // The files over 1 GB are sparse: the tree takes (almost) no disk.
    expect(statSync(join(workspace.scratch, "projectX/raw/run-004.h5")).blocks).toBeLessThan(16);

    const catalog = await openCatalog(workspace.catalogUrl);
    try {
      const scans = await catalog.db
        .selectFrom("scans")
        .innerJoin("locations", "locations.id", "scans.location_id")
        .select(["scans.finished_at", "scans.files", "scans.bytes"])
        .where("locations.name", "=", "scratch")
        .where("scans.status", "=", "done")
        .orderBy("scans.finished_at")
        .execute();
      expect(scans.length).toBeGreaterThanOrEqual(5);
      const first = scans[0]?.finished_at as number;
      const last = scans.at(-1)?.finished_at as number;
      expect((last - first) / 86_400_000).toBeGreaterThanOrEqual(89);
      // The last real scan saw every file written, excluded ones too (the policy excludes, not the scan).
      const everyFile = [...BEFORE_LAST_RUN, ...SINCE_LAST_RUN];
      expect(Number(scans.at(-1)?.bytes)).toBe(everyFile.reduce((sum, file) => sum + file.size, 0));

      const copied = BEFORE_LAST_RUN.filter((file) => !file.excluded);
      const copies = await catalog.db
        .selectFrom("events")
        .innerJoin("runs", "runs.id", "events.run_id")
        .innerJoin("files", "files.id", "events.file_id")
        .select(["files.path", "events.bytes", "events.policy", "events.target_location_id"])
        .where("events.kind", "=", "copy")
        .where("events.outcome", "=", "done")
        .where("runs.finished_at", "is not", null)
        .execute();
      expect(new Set(copies.map((event) => event.policy))).toEqual(new Set(["scratch-to-s3"]));
      expect(copies.every((event) => event.target_location_id !== null)).toBe(true);
      expect(copies.map((event) => event.path).sort()).toEqual(copied.map((file) => file.path).sort());
      expect(copies.reduce((sum, event) => sum + Number(event.bytes), 0)).toBe(
        copied.reduce((sum, file) => sum + file.size, 0),
      );
    } finally {
      await catalog.close();
    }

    // What arrived since the last run, less the excluded, is the plan: each file copied once.
    const plan = await strata(["--json", "plan"], { cwd: workspace.cwd });
    expect(plan.stderr).toBe("");
    const planned = (JSON.parse(plan.stdout).actions as { kind: string; file: { path: string } }[]).map(
      (action) => `${action.kind} ${action.file.path}`,
    );
    const pending = SINCE_LAST_RUN.filter((file) => !file.excluded).map((file) => `copy ${file.path}`);
    expect(planned.sort()).toEqual(pending.sort());
  }, 120_000);
});
