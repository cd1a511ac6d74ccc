import picomatch from "picomatch";

/** Which files a sync (or later a policy) considers: globs, sizes and ages. */
export interface FileFilter {
  include: string[];
  exclude: string[];
  minSize?: number;
  maxSize?: number;
  /** Only files whose mtime is at least this old (ms). */
  minAgeMs?: number;
  /** Only files whose mtime is at most this old (ms). */
  maxAgeMs?: number;
}

export const NO_FILTER: FileFilter = { include: [], exclude: [] };

/**
 * Globs match the path relative to the location root. A pattern without a slash matches a
 * name at any depth (`*.nc`), as users of rsync and rclone expect; with a slash it is anchored.
 */
export function pathMatcher(filter: FileFilter): (path: string) => boolean {
  const compile = (patterns: string[]) =>
    patterns.length === 0
      ? undefined
      : (picomatch(patterns, { dot: true, basename: false }).bind(null) as (p: string) => boolean);
  const included = compile(filter.include.map(anchored));
  const excluded = compile(filter.exclude.map(anchored));
  return (path) => (included ? included(path) : true) && !(excluded?.(path) ?? false);
}

function anchored(pattern: string): string {
  return pattern.includes("/") ? pattern : `**/${pattern}`;
}

/** The paths a glob can match, as a catalog query narrows by before picomatch decides. */
export type PathRange = { from: string; below: string } | { equals: string };

/**
 * `projects/**` can match only under `projects/`, `runs/a.txt` only itself; `*.nc` (any depth),
 * `{a,b}/**` and negations anywhere (undefined). Paths sort bytewise in the catalog, so the
 * subtree of `dir` is `"dir/" <= path < "dir0"`.
 */
export function globRange(pattern: string): PathRange | undefined {
  const { base, isGlob, negated } = picomatch.scan(anchored(pattern), { unescape: true });
  if (negated || base === "") return undefined;
  return isGlob ? { from: `${base}/`, below: `${base}0` } : { equals: base };
}
