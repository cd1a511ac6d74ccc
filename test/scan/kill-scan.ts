import { sql } from "kysely";
import { expect } from "vitest";
import { type CatalogKind, kyselyAt } from "../support/catalogs.js";
import { finished, spawnStrata } from "../support/cli.js";

/**
 * Runs `strata --catalog url ...args` and SIGKILLs it once the running scan has committed rows
 * (the catalog must be migrated already): a kill between two of the writer's commits.
 */
export async function killScanOnceCommitted(
  kind: CatalogKind,
  url: string,
  args: string[],
  cwd: string,
): Promise<void> {
  const db = kyselyAt(kind, url);
  try {
    const victim = spawnStrata(["--catalog", url, ...args], { cwd });
    let exited = false;
    const outcome = finished(victim).finally(() => (exited = true));
    while (!exited && (await rowsOfRunningScan(db)) === 0) await new Promise((r) => setTimeout(r, 10));
    victim.kill("SIGKILL");
    const { signal, stderr } = await outcome;
    expect(signal, `the scan was killed before it finished: ${stderr}`).toBe("SIGKILL");
  } finally {
    await db.destroy();
  }
}

/** Rows the running scan has committed so far, as another connection sees them. */
async function rowsOfRunningScan(db: ReturnType<typeof kyselyAt>): Promise<number> {
  const { rows } = await sql<{ n: number | string }>`SELECT count(*) AS n FROM files
    WHERE seen_scan_id = (SELECT max(id) FROM scans WHERE status = 'running')`.execute(db);
  return Number(rows[0]?.n ?? 0);
}
