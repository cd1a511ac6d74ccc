import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * A restore target inside a "jail" directory full of things a hostile key would reach for: a
 * file beside the target (what `..\uF700/x` names), a directory outside it, and a symlink inside
 * the target that leads there. `outside()` describes everything in the jail but the target, so
 * a test compares it before and after: equal means nothing landed outside.
 */
export interface Jail {
  jail: string;
  target: string;
  outside(): string[];
  /** Files under the target with a setuid, setgid or sticky bit, as "path mode". */
  specialFiles(): string[];
}

export function makeJail(parent: string): Jail {
  const jail = join(parent, "jail");
  const target = join(jail, "target");
  const elsewhere = join(jail, "elsewhere");
  mkdirSync(target, { recursive: true });
  mkdirSync(elsewhere);
  writeFileSync(join(jail, "x"), "beside the target\n");
  writeFileSync(join(elsewhere, "x"), "outside the target\n");
  symlinkSync(elsewhere, join(target, "link"));
  return {
    jail,
    target,
    outside: () => describeTree(Buffer.from(jail), Buffer.from(target)),
    specialFiles: () =>
      describeTree(Buffer.from(target), undefined).filter((line) => / file [1-7][0-7]{3} /.test(line)),
  };
}

/** One line per entry under `root` (but `skip`): path, kind, mode, and what a file holds or a link points at. */
function describeTree(root: Buffer, skip: Buffer | undefined): string[] {
  const lines: string[] = [];
  const walk = (dir: Buffer) => {
    for (const name of readdirSync(dir, { encoding: "buffer" })) {
      const path = Buffer.concat([dir, Buffer.from("/"), name]);
      if (skip?.equals(path)) continue;
      const stats = lstatSync(path);
      const shown = JSON.stringify(path.subarray(root.length).toString("latin1"));
      const mode = (stats.mode & 0o7777).toString(8).padStart(4, "0");
      if (stats.isSymbolicLink()) lines.push(`${shown} link ${mode} ${readlinkSync(path, "buffer").toString("hex")}`);
      else if (stats.isDirectory()) {
        lines.push(`${shown} dir ${mode}`);
        walk(path);
      } else lines.push(`${shown} file ${mode} ${stats.uid} ${readFileSync(path).toString("hex")}`);
    }
  };
  walk(root);
  return lines.sort();
}

/**
 * A strata.yaml with the location `planted` (the store hostile keys were put in, local:planted
 * unless its YAML lines are given) and `mirror`, an embedded store to restore from.
 */
export function writePlantedConfig(work: string, planted = ["  planted:", "    url: local:planted"]): void {
  const yaml = ["catalog: cat.db", "locations:", ...planted, "  mirror:", "    url: local:mirror", ""];
  writeFileSync(join(work, "strata.yaml"), yaml.join("\n"));
}

/** The paths a `--json` sync or restore reports as failed, sorted. */
export function failedPaths(stdout: string): string[] {
  const report = JSON.parse(stdout) as { result?: { failures: { path: string }[] }; failures?: { path: string }[] };
  return (report.result?.failures ?? report.failures ?? []).map((f) => f.path).sort();
}
