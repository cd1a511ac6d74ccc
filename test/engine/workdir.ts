import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../support/tmp.js";
import { writeTree } from "../support/trees.js";

/** The config lines of one policy copying all of scratch to the location `archive`. */
export const KEEP_ALL = ["policies:", "  - name: keep-all", "    from: [scratch]", "    place: [{ to: archive }]"];

/**
 * A temp work dir with `files` under ./tree and a strata.yaml: catalog cat.db, the location
 * scratch = ./tree, then `lines` (more locations, defaults, policies), as the engine tests run in.
 */
export function workDir(files: Record<string, string | Buffer>, lines: string[]): string {
  const dir = tempDir("strata-engine-");
  writeTree(join(dir, "tree"), files);
  writeFileSync(
    join(dir, "strata.yaml"),
    ["catalog: cat.db", "locations:", "  scratch: { url: ./tree }", ...lines, ""].join("\n"),
  );
  return dir;
}
