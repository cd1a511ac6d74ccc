import { utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { Context } from "../../src/cli/context.js";
import { scanInto } from "../../src/cli/scan.js";
import { type ApplyReport, applyPolicies } from "../../src/engine/apply.js";
import type { PolicyAction } from "../../src/policy/actions.js";
import { planPolicies } from "../../src/policy/planner.js";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";

/** A config, a scratch tree and an open context: what the apply tests work in. */
export interface Workspace {
  dir: string;
  tree: string;
  ctx: Context;
  scan(): Promise<void>;
  /** The plan the policies make now, whole (the tests' plans are small). */
  plan(): Promise<PolicyAction[]>;
  close(): Promise<void>;
}

export const DAY_MS = 86_400_000;

/** Three files under old/ for a release policy, and one it leaves alone. */
export const CONTENT: Record<string, string> = {
  "old/a.dat": "alpha ".repeat(3000),
  "old/b.dat": "bravo ".repeat(2000),
  "old/c.dat": "charlie ".repeat(1000),
  "new/d.dat": "delta, still in use",
};

/** Releases old/** once copied to `archive` in STANDARD_IA. */
export const RELEASE_OLD = `
  - name: release-old
    from: [scratch]
    match: { path: ["old/**"] }
    place: [{ to: archive, class: STANDARD_IA }]
    then: release`;

/**
 * Writes `strata.yaml` (catalog, `scratch` = ./tree, the given locations, defaults and
 * policies, each a YAML fragment indented as a mapping's body) and opens a context on it.
 */
export async function workspace(yaml: { locations: string; policies: string; defaults?: string; catalog?: string }) {
  const dir = tempDir("strata-apply-");
  const config = join(dir, "strata.yaml");
  writeFileSync(
    config,
    [
      `catalog: ${yaml.catalog ?? "cat.db"}`,
      "locations:",
      "  scratch:",
      "    url: ./tree",
      yaml.locations,
      "defaults:",
      "  retries: 1",
      yaml.defaults ?? "",
      "policies:",
      yaml.policies,
      "",
    ].join("\n"),
  );
  const ctx = await Context.open({ config, json: false, quiet: true, verbose: false });
  const tree = join(dir, "tree");
  const ws: Workspace = {
    dir,
    tree,
    ctx,
    async scan() {
      await scanInto(ctx, await ctx.location("scratch"));
    },
    async plan() {
      const actions: PolicyAction[] = [];
      for await (const action of planPolicies(ctx.catalog, ctx.loaded.config, { now: Date.now() })) {
        actions.push(action);
      }
      return actions;
    },
    close: () => ctx.close(),
  };
  return ws;
}

/** Writes files (path → content) with their atime and mtime `ageDays` in the past. */
export function agedTree(root: string, files: Record<string, string | Buffer>, ageDays: number): void {
  writeTree(root, files);
  const seconds = (Date.now() - ageDays * DAY_MS) / 1000;
  for (const path of Object.keys(files)) utimesSync(join(root, path), seconds, seconds);
}

/**
 * The round each apply suite starts with, whatever the archive: CONTENT aged 40 days, scanned,
 * planned as three copies, applied without a failure, then nothing left to plan. Returns the report.
 */
export async function applyAgedContent(ws: Workspace): Promise<ApplyReport> {
  agedTree(ws.tree, CONTENT, 40);
  await ws.scan();
  expect(kinds(await ws.plan())).toEqual({ copy: 3 });
  const report = await applyPolicies(ws.ctx);
  expect(report.failures).toEqual([]);
  expect(await ws.plan()).toEqual([]);
  return report;
}

/** Actions by kind: { copy: 3, release: 2 }. */
export function kinds(actions: readonly PolicyAction[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of actions) out[a.kind] = (out[a.kind] ?? 0) + 1;
  return out;
}

export async function* stream<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}
