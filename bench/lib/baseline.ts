import { existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { sh } from "./setup.js";
import type { BaselineTool } from "./tools.js";

/**
 * `--baseline REV`: an older build of Strata, timed as one more tool beside the current one on
 * the same workloads, so "no slower than before" is measured in one run on one machine.
 */
export interface Baseline {
  tool: BaselineTool;
  /** The revision as given, and the commit it names. */
  rev: string;
  commit: string;
  /** Its source tree and build, inside the bench's temp dir. */
  dir: string;
  /** "shared": the repository's node_modules serve it (its lockfile asks nothing they lack). */
  modules: "shared" | "npm ci";
  built: string;
}

/**
 * Extracts REV's tree with `git archive` (not a worktree: nothing is registered in the repository
 * that a killed bench would leave behind) into `work`, gives it node_modules and builds it.
 */
export function prepareBaseline(repo: string, rev: string, work: string, log: (line: string) => void): Baseline {
  const commit = sh(["git", "rev-parse", "--verify", "--end-of-options", `${rev}^{commit}`], { cwd: repo }).trim();
  const short = sh(["git", "rev-parse", "--short", commit], { cwd: repo }).trim();
  const dir = join(work, `baseline-${short}`);
  mkdirSync(dir, { recursive: true });
  const tar = `${dir}.tar`;
  sh(["git", "archive", "--format=tar", `--output=${tar}`, commit], { cwd: repo });
  sh(["tar", "-xf", tar, "-C", dir]);
  rmSync(tar);

  const shared = lockSatisfiedBy(readLock(join(dir, "package-lock.json")), readLock(join(repo, "package-lock.json")));
  if (shared) {
    symlinkSync(join(repo, "node_modules"), join(dir, "node_modules"));
  } else {
    log(`baseline ${short}: its lockfile asks for packages this checkout lacks; npm ci`);
    // `npm ci` builds it too, through the prepare script.
    sh(["npm", "ci", "--no-audit", "--no-fund"], { cwd: dir, timeoutMs: 30 * 60_000 });
  }
  const bundle = join(dir, "dist", "bundle", "strata.js");
  if (!existsSync(bundle)) {
    log(`baseline ${short}: npm run build`);
    sh(["npm", "run", "build"], { cwd: dir });
  }
  return {
    tool: `strata-${short}`,
    rev,
    commit,
    dir,
    modules: shared ? "shared" : "npm ci",
    built: statSync(bundle).mtime.toISOString(),
  };
}

type Lock = { packages?: Record<string, { version?: string }> };

function readLock(path: string): Lock {
  return JSON.parse(readFileSync(path, "utf8")) as Lock;
}

/** Every package `wanted` installs, `installed` has at the same path and version. */
export function lockSatisfiedBy(wanted: Lock, installed: Lock): boolean {
  const have = installed.packages ?? {};
  return Object.entries(wanted.packages ?? {}).every(
    ([path, entry]) => path === "" || have[path]?.version === entry.version,
  );
}
