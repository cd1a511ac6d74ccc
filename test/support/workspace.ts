import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { type CliResult, strata } from "./cli.js";
import { tempDir } from "./tmp.js";
import { writeTree } from "./trees.js";

/** A temp directory with a strata.yaml, a tree of files at ./tree, and the CLI run there. */
export interface Workspace {
  dir: string;
  config: string;
  run(...args: string[]): Promise<CliResult>;
}

export function workspaceWith(label: string, configLines: string[], files: Record<string, Buffer>): Workspace {
  const dir = tempDir(label);
  const config = join(dir, "strata.yaml");
  writeFileSync(config, [...configLines, ""].join("\n"));
  writeTree(join(dir, "tree"), files);
  return { dir, config, run: (...args) => strata(["--config", config, ...args], { cwd: dir }) };
}

/** The exit code, with stderr in the message when it is not the one expected. */
export function expectExit(result: CliResult, what: string, code = 0): void {
  expect(`${what}: exit ${result.code}`, result.stderr).toBe(`${what}: exit ${code}`);
}

/**
 * Policy `copy` (a/** and b/** of scratch to the POSIX tree backup, nightly) over a/ only, and
 * archive, a local store for syncs. `blockB()` adds b/ and puts a file where backup's b/ must be
 * made: the next run's copies of b/ fail, and the run ends partial.
 */
export function copyPolicyWorkspace(catalog: string, label: string): Workspace & { blockB(): void } {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 6; i++) files[`a/f${i}.dat`] = Buffer.alloc(700 * (i + 1), i);
  const ws = workspaceWith(
    label,
    [
      `catalog: ${catalog}`,
      "locations:",
      "  scratch:",
      "    url: ./tree",
      "  backup:",
      "    url: ./backup",
      "  archive:",
      "    url: local:store",
      "policies:",
      "  - name: copy",
      "    from: [scratch]",
      '    match: { path: ["a/**", "b/**"] }',
      "    place: [{ to: backup }]",
      '    schedule: "0 3 * * *"',
    ],
    files,
  );
  mkdirSync(join(ws.dir, "backup"));
  return {
    ...ws,
    blockB() {
      writeTree(join(ws.dir, "tree"), { "b/g.dat": Buffer.alloc(123, 1) });
      writeFileSync(join(ws.dir, "backup", "b"), "in the way");
    },
  };
}
