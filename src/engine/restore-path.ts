import picomatch from "picomatch";
import { descriptorOf } from "../backends/all.js";
import { filesWithReplicas } from "../catalog/replicas.js";
import { UsageError } from "../config/errors.js";
import type { Locations } from "./locations.js";
import { type FileOutcome, type RestoreCandidate, restoreFiles, withRestoreRun } from "./restore.js";
import type { TransferSettings } from "./toolkit.js";

/** A path restores itself and its subtree; a glob matches paths; both narrow the catalog query. */
export function restoreSelector(pattern: string): { prefix: string; matches: (path: string) => boolean } {
  const scan = picomatch.scan(pattern);
  if (!scan.isGlob) {
    return { prefix: pattern, matches: (p) => pattern === "" || p === pattern || p.startsWith(`${pattern}/`) };
  }
  const isMatch = picomatch(pattern, { dot: true });
  return { prefix: scan.base === "" ? "" : `${scan.base}/`, matches: (p) => isMatch(p) };
}

/** What a restore in place did, counted by outcome. */
export interface PathRestoreReport {
  matched: number;
  restored: { files: number; bytes: number };
  inPlace: number;
  thawing: number;
  failed: { path: string; error: string }[];
}

/**
 * Restores the files at `path` in POSIX location `location` into their own place, as
 * `strata restore LOCATION:path` does: under the location's lease, one journaled restore run,
 * archived copies asked to thaw (a later restore or the daemon finishes them).
 */
export async function restorePathInPlace(
  locations: Locations,
  retryPolicy: Parameters<Locations["configuredOnly"]>[0],
  settings: TransferSettings,
  request: { location: string; path: string; days: number },
): Promise<PathRestoreReport> {
  const location = await locations.location(request.location);
  if (!descriptorOf(location.parsed.kind).fileTree) {
    throw new UsageError(`${location.name} is not a POSIX location: files are restored in place only into one`);
  }
  const { prefix, matches } = restoreSelector(request.path);
  const report: PathRestoreReport = {
    matched: 0,
    restored: { files: 0, bytes: 0 },
    inPlace: 0,
    thawing: 0,
    failed: [],
  };
  async function* candidates(): AsyncGenerator<RestoreCandidate> {
    const held = filesWithReplicas(locations.catalog, location.row.id, prefix, ["present", "archived", "restoring"]);
    for await (const { file, replicas } of held) {
      if (!matches(file.path)) continue;
      report.matched += 1;
      if (replicas.length > 0) yield { file, replicas };
      else report.failed.push({ path: file.path, error: "no replica" });
    }
  }
  const tally = (path: string, outcome: FileOutcome) => {
    if (outcome.kind === "restored") {
      report.restored.files += 1;
      report.restored.bytes += outcome.bytes;
    } else if (outcome.kind === "in-place") report.inPlace += 1;
    else if (outcome.kind === "thawing") report.thawing += 1;
    else if (outcome.kind === "failed") report.failed.push({ path, error: outcome.error });
  };
  const target = { dir: null, backend: location.backend, locationId: location.row.id };
  const command = `restore ${location.name}:${request.path}`;
  const deps = { catalog: locations.catalog, retryPolicy, location: (name: string) => locations.location(name) };
  await locations.holding([location.name], command, () =>
    withRestoreRun(deps, command, settings, (inRun) =>
      restoreFiles(
        inRun,
        candidates(),
        { target, thaw: { days: request.days }, dryRun: false, transfers: settings.transfers },
        (file, outcome) => tally(file.path, outcome),
      ),
    ),
  );
  if (report.matched === 0) throw new UsageError(`${request.path || "(root)"}: no file in ${location.name} matches`);
  return report;
}
