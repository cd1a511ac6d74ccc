import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { strata } from "./cli.js";
import { type RgwWithBuckets, rgwLocationYaml } from "./rgw-server.js";
import { tempDir } from "./tmp.js";

export interface RgwProjectOptions {
  bucket: string;
  /** The name of the POSIX location over ./tree. */
  source?: string;
  /** Where the archive's S3 client connects: RGW itself unless a proxy stands in between. */
  endpoint?: string;
  s3?: Record<string, string | number>;
  /** Lines added to the archive location (its codec, dedup, …). */
  archive?: string[];
  /** Lines after the locations (defaults, policies). */
  extra?: string[];
}

/**
 * A work dir whose config has a POSIX location over ./tree and `archive` on RGW under a prefix of
 * its own, so tests in one bucket never see each other's objects; `run` is the CLI there.
 */
export function rgwProject(rgw: RgwWithBuckets, options: RgwProjectOptions) {
  const source = options.source ?? "scratch";
  const work = tempDir(`strata-${source}-rgw-`);
  const prefix = randomBytes(4).toString("hex");
  const endpoint = options.endpoint ?? rgw.endpoint;
  const archive = rgwLocationYaml("archive", `s3://${options.bucket}/${prefix}`, endpoint, {
    ...(options.s3 ? { s3: options.s3 } : {}),
  });
  writeFileSync(
    join(work, "strata.yaml"),
    [
      "catalog: cat.db",
      "locations:",
      `  ${source}:`,
      "    url: ./tree",
      ...archive,
      ...(options.archive ?? []),
      ...(options.extra ?? []),
      "",
    ].join("\n"),
  );
  const run = (...args: string[]) => strata(args, { cwd: work, env: rgw.env });
  return { work, prefix, tree: join(work, "tree"), key: (path: string) => `${prefix}/${path}`, run };
}
