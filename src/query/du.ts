import { type RawBuilder, type SqlBool, sql } from "kysely";
import { printablePath } from "../backends/keys.js";
import type { CatalogDb } from "../catalog/db.js";
import { deduplicatedUnder } from "../catalog/dedup.js";
import { AGE_PERIOD_US, agePeriod, FLAG, SIZE_BUCKET_BOUNDS } from "../catalog/summaries.js";
import { UsageError } from "../config/errors.js";
import { formatBytes } from "../config/units.js";

/**
 * `strata du`: usage read from the summary tables the catalog's triggers keep (never from the
 * files table), so the rows read are bounded by directories or buckets, not by files.
 */

export const GROUPINGS = ["owner", "group", "class", "state", "location", "age", "size"] as const;
export type Grouping = (typeof GROUPINGS)[number] | { tag: string };

/** A place to sum: a location's whole tree (path "") or the subtree under path. */
export interface DuOperand {
  locationId: number;
  location: string;
  path: string;
}

export interface CopiesAt {
  copies: number;
  verified: number;
  stored_bytes: number;
  /** Bytes of copies that share an object another copy there holds (`dedup: true`), not in stored_bytes. */
  deduplicated_bytes: number;
}

/** One line of du's answer. */
export interface DuRow {
  /** LOCATION:PATH for a directory; the group's name for --by. */
  name: string;
  /** Counted files (regular, not deleted) and their logical bytes; null where a row has none (--by class). */
  files: number | null;
  bytes: number | null;
  /** Copies (replicas not lost), verified copies and stored bytes, summed and per replica location. */
  copies: number;
  verified: number;
  stored_bytes: number;
  deduplicated_bytes: number;
  at: Record<string, CopiesAt>;
  /**
   * The start of the 30-day period holding the oldest access time of the counted files (the
   * summaries keep access times to that precision), as µs since the epoch; null without files.
   */
  oldest_access_us: number | null;
}

interface FileTotals {
  files: number;
  bytes: number;
  oldestPeriod: number | null;
}

/** The rows a request reads, added into one line. */
class Accumulator {
  private files = 0;
  private bytes = 0;
  private oldestPeriod: number | null = null;
  private hasFiles = false;
  private readonly at = new Map<string, CopiesAt>();

  constructor(readonly name: string) {}

  addFiles(totals: FileTotals): void {
    this.hasFiles = true;
    this.files += totals.files;
    this.bytes += totals.bytes;
    if (totals.oldestPeriod !== null && (this.oldestPeriod === null || totals.oldestPeriod < this.oldestPeriod)) {
      this.oldestPeriod = totals.oldestPeriod;
    }
  }

  addCopies(location: string, copies: CopiesAt): void {
    const sum = this.at.get(location) ?? { copies: 0, verified: 0, stored_bytes: 0, deduplicated_bytes: 0 };
    sum.copies += copies.copies;
    sum.verified += copies.verified;
    sum.stored_bytes += copies.stored_bytes;
    sum.deduplicated_bytes += copies.deduplicated_bytes;
    this.at.set(location, sum);
  }

  /**
   * Copies at a location that share another's bytes: the stored bytes the summaries counted for
   * them come off stored, and their logical bytes are the deduplicated ones.
   */
  addDeduplicated(location: string, shared: { bytes: number; storedBytes: number }): void {
    this.addCopies(location, {
      copies: 0,
      verified: 0,
      stored_bytes: -shared.storedBytes,
      deduplicated_bytes: shared.bytes,
    });
  }

  row(withFiles = true): DuRow {
    const at = Object.fromEntries([...this.at.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const total = (key: keyof CopiesAt) => [...this.at.values()].reduce((sum, c) => sum + c[key], 0);
    return {
      name: this.name,
      files: withFiles || this.hasFiles ? this.files : null,
      bytes: withFiles || this.hasFiles ? this.bytes : null,
      copies: total("copies"),
      verified: total("verified"),
      stored_bytes: total("stored_bytes"),
      deduplicated_bytes: total("deduplicated_bytes"),
      at,
      oldest_access_us: this.oldestPeriod === null ? null : this.oldestPeriod * AGE_PERIOD_US,
    };
  }
}

/** Rows by name; listed by `order` (a class's rank, a uid), then by name. */
class Groups {
  private readonly groups = new Map<string, { order: number; sum: Accumulator }>();

  get(name: string, order = 0): Accumulator {
    let group = this.groups.get(name);
    if (!group) {
      group = { order, sum: new Accumulator(name) };
      this.groups.set(name, group);
    }
    return group.sum;
  }

  rows(withFiles = true): DuRow[] {
    return [...this.groups.values()]
      .sort((a, b) => a.order - b.order || byName(a.sum, b.sum))
      .map((g) => g.sum.row(withFiles));
  }
}

const num = (value: unknown): number => Number(value ?? 0);

function copyTotals(row: { copies: unknown; verified: unknown; stored_bytes: unknown }): CopiesAt {
  return {
    copies: num(row.copies),
    verified: num(row.verified),
    stored_bytes: num(row.stored_bytes),
    deduplicated_bytes: 0,
  };
}

/** The measures of every copies table, summed. */
const COPY_SUMS = [
  sql<number>`SUM(copies)`.as("copies"),
  sql<number>`SUM(verified)`.as("verified"),
  sql<number>`SUM(stored_bytes)`.as("stored_bytes"),
];

/** The bucket columns each --by groups on. */
const BUCKET_COLUMNS = {
  owner: ["uid"],
  group: ["gid"],
  state: ["state", "flags"],
  age: ["age_period"],
  size: ["size_bucket"],
  location: ["location_id"],
} as const;

const STATE_ORDER = ["present", "released", "archived", "restoring", "lost", "deleted"];

/**
 * A summary row's `dir` is `path` or below it: "a/b" itself, and "a/b/" up to "a/b0" ('0'
 * follows '/'), exactly the subtree in byte order. Said as one range of the table's key from
 * "a/b" to "a/b0", then narrowed to the two parts of it that are the subtree ("a/b-x" lies between
 * and is not): an OR of the two ranges would make SQLite scan the whole location instead.
 */
function inSubtree(path: string): RawBuilder<SqlBool> {
  return sql<SqlBool>`(dir >= ${path} AND dir < ${`${path}0`} AND (dir = ${path} OR dir >= ${`${path}/`}))`;
}

export class DuQuery {
  /** `dedupLocationIds`: the locations configured with `dedup: true`, whose shared copies du counts. */
  constructor(
    private readonly catalog: CatalogDb,
    private readonly locationNames: ReadonlyMap<number, string>,
    private readonly dedupLocationIds: ReadonlySet<number> = new Set(),
  ) {}

  private locationName(id: number): string {
    return this.locationNames.get(id) ?? `#${id}`;
  }

  /** Subtree totals of each operand, or with `depth` > 0 of every directory down to that depth below it. */
  async subtrees(operands: readonly DuOperand[], depth: number): Promise<DuRow[]> {
    const rows: DuRow[] = [];
    for (const operand of operands) {
      // Summed under each directory's stored path; only the rows answered are given printable names.
      const groups = new Groups();
      groups.get(operand.path);
      // Without -d the database adds the subtree up: one row back, however many directories.
      const perDir = depth > 0 ? "dir" : "subtree";
      for (const { dir, totals } of await this.dirTotals(operand, perDir)) {
        for (const ancestor of ancestorsWithin(operand.path, dir, depth)) groups.get(ancestor).addFiles(totals);
      }
      for (const { key: dir, replicaLocation, copies } of await this.dirCopies(operand, perDir)) {
        for (const ancestor of ancestorsWithin(operand.path, dir, depth)) {
          groups.get(ancestor).addCopies(this.locationName(replicaLocation), copies);
        }
      }
      // Kept for the operand as a whole only: the summaries do not know which copies share
      // objects, so this reads the replicas, and only where a location deduplicates.
      if (this.dedupLocationIds.size > 0) {
        const shared = await deduplicatedUnder(this.catalog, operand.locationId, operand.path, this.dedupLocationIds);
        for (const { locationId, ...bytes } of shared) {
          groups.get(operand.path).addDeduplicated(this.locationName(locationId), bytes);
        }
      }
      rows.push(...groups.rows().map(inLocation(operand)).sort(byName));
    }
    return rows;
  }

  /** The directories holding the most logical bytes directly (their own files, not their subdirectories'). */
  async topDirectories(operands: readonly DuOperand[], top: number): Promise<DuRow[]> {
    const rows: DuRow[] = [];
    for (const operand of operands) {
      const groups = new Groups();
      for (const { dir, totals } of await this.dirTotals(operand, "dir")) groups.get(dir).addFiles(totals);
      for (const { key: dir, replicaLocation, copies } of await this.dirCopies(operand, "dir")) {
        groups.get(dir).addCopies(this.locationName(replicaLocation), copies);
      }
      rows.push(...topRows(groups.rows(), top).map(inLocation(operand)));
    }
    return topRows(rows, top);
  }

  /** --by: one row per owner, group, state word, age class, size class, location, storage class or tag value. */
  async grouped(operands: readonly DuOperand[], by: Grouping, nowUs: number): Promise<DuRow[]> {
    if (by === "class") return this.byClass(operands);
    const partial = operands.find((o) => o.path !== "");
    if (partial) {
      throw new UsageError(
        `${partial.location}:${partial.path}: --by ${typeof by === "string" ? by : `tag:${by.tag}`} sums whole ` +
          "locations (its summaries are kept per location, not per directory); give the location alone",
      );
    }
    const ids = [...new Set(operands.map((o) => o.locationId))];
    if (ids.length === 0) return [];
    return typeof by === "string" ? this.byBucket(ids, by, nowUs) : this.byTag(ids, by.tag);
  }

  private async byBucket(ids: number[], by: Exclude<Grouping, "class" | { tag: string }>, nowUs: number) {
    const columns = BUCKET_COLUMNS[by];
    const groupNames = (row: Record<string, unknown>): { name: string; order: number }[] => {
      switch (by) {
        case "owner":
          return [{ name: String(row.uid), order: num(row.uid) }];
        case "group":
          return [{ name: String(row.gid), order: num(row.gid) }];
        case "state":
          return stateWords(String(row.state), num(row.flags)).map((name) => ({
            name,
            order: STATE_ORDER.indexOf(name),
          }));
        case "age": {
          const label = ageClass(num(row.age_period), nowUs);
          return [{ name: label, order: AGE_CLASSES.findIndex((c) => c.label === label) }];
        }
        case "size":
          return [{ name: sizeClass(num(row.size_bucket)), order: num(row.size_bucket) }];
        case "location":
          return [{ name: this.locationName(num(row.location_id)), order: 0 }];
      }
    };
    const groups = new Groups();
    const files = await this.catalog.db
      .selectFrom("usage_buckets")
      .select((eb) => [
        ...columns.map((c) => sql.ref(c).as(c)),
        eb.fn.sum<number>("files").as("files"),
        eb.fn.sum<number>("bytes").as("bytes"),
        eb.fn.min<number>("age_period").as("oldest"),
      ])
      .where("location_id", "in", ids)
      .groupBy(columns.map((c) => sql.ref(c)))
      .execute();
    for (const row of files) {
      const totals = { files: num(row.files), bytes: num(row.bytes), oldestPeriod: num(row.oldest) };
      for (const { name, order } of groupNames(row)) groups.get(name, order).addFiles(totals);
    }
    // By location, copies go to the location holding them; otherwise to their file's group.
    const copyColumns = by === "location" ? [] : columns;
    const copies = await this.catalog.db
      .selectFrom("usage_bucket_copies")
      .select([...copyColumns.map((c) => sql.ref(c).as(c)), "replica_location_id", ...COPY_SUMS])
      .where("location_id", "in", ids)
      .groupBy([...copyColumns.map((c) => sql.ref(c)), sql.ref("replica_location_id")])
      .execute();
    for (const row of copies) {
      const at = this.locationName(num(row.replica_location_id));
      const names = by === "location" ? [{ name: at, order: 0 }] : groupNames(row);
      for (const { name, order } of names) groups.get(name, order).addCopies(at, copyTotals(row));
    }
    return groups.rows();
  }

  /** Copies per storage class ("(none)" where the store has no classes); a class has no files of its own. */
  private async byClass(operands: readonly DuOperand[]): Promise<DuRow[]> {
    const groups = new Groups();
    for (const operand of operands) {
      for (const { key, replicaLocation, copies } of await this.dirCopies(operand, "storage_class")) {
        groups.get(key === "" ? "(none)" : key).addCopies(this.locationName(replicaLocation), copies);
      }
    }
    return groups.rows(false);
  }

  /** Files per value of one tag; their copies are summed over every location, not kept per location. */
  private async byTag(ids: number[], key: string): Promise<DuRow[]> {
    const rows = await this.catalog.db
      .selectFrom("usage_tags")
      .select((eb) => [
        "tag_value",
        eb.fn.sum<number>("files").as("files"),
        eb.fn.sum<number>("bytes").as("bytes"),
        ...COPY_SUMS,
      ])
      .where("location_id", "in", ids)
      .where("tag_key", "=", key)
      .groupBy("tag_value")
      .orderBy("tag_value")
      .execute();
    return rows.map((r) => ({
      name: r.tag_value,
      files: num(r.files),
      bytes: num(r.bytes),
      ...copyTotals(r),
      at: {},
      oldest_access_us: null,
    }));
  }

  /** Files under an operand, per directory or ("subtree") all together, named as the operand's path. */
  private dirTotals(operand: DuOperand, per: "dir" | "subtree") {
    let query = this.catalog.db
      .selectFrom("usage_dirs")
      .select((eb) => [
        this.keyColumn(operand, per).as("dir"),
        eb.fn.sum<number>("files").as("files"),
        eb.fn.sum<number>("bytes").as("bytes"),
        eb.fn.min<number>("age_period").as("oldest"),
      ])
      .where("location_id", "=", operand.locationId);
    if (operand.path !== "") query = query.where(inSubtree(operand.path));
    return (per === "dir" ? query.groupBy("dir") : query)
      .execute()
      .then((rows) =>
        rows.map((r) => ({
          dir: r.dir,
          totals: { files: num(r.files), bytes: num(r.bytes), oldestPeriod: r.oldest === null ? null : num(r.oldest) },
        })),
      )
      .then((rows) => rows.filter((r) => r.totals.files > 0));
  }

  private keyColumn(operand: DuOperand, per: "dir" | "storage_class" | "subtree") {
    // The parameter's type spelt out: PostgreSQL cannot guess it from a bare select-list value.
    return per === "subtree" ? sql<string>`CAST(${operand.path} AS text)` : sql.ref<string>(per);
  }

  /** The copies under an operand, per replica location and per directory, storage class, or all together. */
  private async dirCopies(operand: DuOperand, per: "dir" | "storage_class" | "subtree") {
    let query = this.catalog.db
      .selectFrom("usage_dir_copies")
      .select([this.keyColumn(operand, per).as("key"), "replica_location_id", ...COPY_SUMS])
      .where("location_id", "=", operand.locationId);
    if (operand.path !== "") query = query.where(inSubtree(operand.path));
    const groups = per === "subtree" ? [] : [sql.ref(per)];
    const rows = await query.groupBy([...groups, "replica_location_id"]).execute();
    return rows.map((r) => ({ key: r.key, replicaLocation: num(r.replica_location_id), copies: copyTotals(r) }));
  }
}

/** The ids of the catalog's locations that the config says deduplicate. */
export function dedupLocationIds(
  rows: readonly { id: number; name: string }[],
  configured: Readonly<Record<string, { dedup?: boolean | undefined }>>,
): Set<number> {
  return new Set(rows.filter((l) => configured[l.name]?.dedup === true).map((l) => l.id));
}

/** A directory's row, named LOCATION:PATH with the path made printable. */
function inLocation(operand: DuOperand): (row: DuRow) => DuRow {
  return (row) => ({ ...row, name: `${operand.location}:${printablePath(row.name)}` });
}

/** `dir` and its ancestors up to `depth` levels below `root` (dir is at or below root). */
export function ancestorsWithin(root: string, dir: string, depth: number): string[] {
  const rest = dir === root ? [] : (root === "" ? dir : dir.slice(root.length + 1)).split("/");
  const names = [root];
  for (let level = 1; level <= Math.min(depth, rest.length); level++) {
    const below = rest.slice(0, level).join("/");
    names.push(root === "" ? below : `${root}/${below}`);
  }
  return names;
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** The `top` rows with the most logical bytes (then stored bytes), largest first. */
export function topRows(rows: DuRow[], top: number): DuRow[] {
  return [...rows]
    .sort((a, b) => (b.bytes ?? 0) - (a.bytes ?? 0) || b.stored_bytes - a.stored_bytes || byName(a, b))
    .slice(0, top);
}

/** --by age: classes of time since the last access, in whole 30-day periods. */
export const AGE_CLASSES: readonly { label: string; periods: number }[] = [
  { label: "< 1 month", periods: 1 },
  { label: "1-3 months", periods: 3 },
  { label: "3-6 months", periods: 6 },
  { label: "6-12 months", periods: 12 },
  { label: "1-2 years", periods: 24 },
  { label: "2-5 years", periods: 60 },
  { label: "5+ years", periods: Number.POSITIVE_INFINITY },
];

/** The age class of an access period, counted in whole periods before the current one. */
export function ageClass(period: number, nowUs: number): string {
  const elapsed = agePeriod(nowUs) - period;
  return (AGE_CLASSES.find((c) => elapsed < c.periods) ?? (AGE_CLASSES.at(-1) as { label: string })).label;
}

export function sizeClass(bucket: number): string {
  const lower = bucket === 0 ? undefined : SIZE_BUCKET_BOUNDS[bucket - 1];
  const upper = SIZE_BUCKET_BOUNDS[bucket];
  if (lower === undefined) return "empty";
  if (upper === undefined) return `>= ${formatBytes(lower)}`;
  return `${formatBytes(lower)} - ${formatBytes(upper)}`;
}

/** The -state words a bucket's files match (a file may match several); deleted files count only by their copies. */
export function stateWords(state: string, flags: number): string[] {
  const words = state === "missing" ? [] : [state];
  if (flags & FLAG.archived) words.push("archived");
  if (flags & FLAG.restoring) words.push("restoring");
  if (flags & FLAG.lost) words.push("lost");
  return words;
}
