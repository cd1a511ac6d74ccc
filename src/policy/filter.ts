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
  const anywhere = (patterns: string[]) => patterns.map((p) => (p.includes("/") ? p : `**/${p}`));
  const included = compile(anywhere(filter.include));
  const excluded = compile(anywhere(filter.exclude));
  return (path) => (included ? included(path) : true) && !(excluded?.(path) ?? false);
}
