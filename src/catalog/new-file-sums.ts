import { CompiledQuery, type Kysely } from "kysely";
import type { CatalogSchema } from "./schema.js";
import { agePeriod, SIZE_BUCKET_BOUNDS } from "./summaries.js";

/**
 * du's summaries of a scan's new rows, summed in memory by the writer that holds them.
 *
 * The summary triggers (summaries.ts) are the definition of a file's contribution. This is its
 * special case for the rows the scan's bulk path inserts whole (files.ts, `insertNew`): state
 * 'present', no tags, no replicas yet. Such a row adds only to usage_dirs (its directory and
 * access period) and usage_buckets (owner, size bucket, access period, flags 0: present, not
 * lost). Grouping them in SQL cost a 1,000,000-entry scan about 1.5 s of its writer thread (the
 * directory of every path computed, every batch sorted by key); here it is a map per batch.
 * test/catalog/new-file-sums.test.ts holds these sums to the triggers' on the same rows.
 */

/** What the sums read of a new row. */
export interface NewFile {
  path: string;
  kind: string;
  size: number;
  atimeUs: number;
  uid: number;
  gid: number;
}

interface Sum {
  keys: (string | number)[];
  files: number;
  bytes: number;
}

/** Rows per statement: short enough for the catalog's statement cache (db.ts keeps SQL under 2,000 characters). */
const ROWS_PER_STATEMENT = 40;

/**
 * Adds the contributions of `files`, all new rows at `locationId` inserted whole by the bulk path.
 * Returns false, having written nothing, when a sum of bytes passes 2^53 (petabytes of sparse
 * files in one directory), where a double would round what SQLite adds exactly: the caller then
 * sums those rows in SQL.
 */
export async function addNewFileSums(
  db: Kysely<CatalogSchema>,
  locationId: number,
  files: Iterable<NewFile>,
): Promise<boolean> {
  const dirs = new Map<string, Sum>();
  const buckets = new Map<string, Sum>();
  // A scan's entries come directory by directory, mostly of one owner: the previous file's sums
  // are taken again without building a key (two key strings per file were garbage on the
  // writer thread, the scan's pace).
  let dir = "";
  let dirSum: Sum | undefined;
  let bucketSum: Sum | undefined;
  for (const file of files) {
    if (file.kind !== "file") continue;
    const period = agePeriod(file.atimeUs);
    const end = dirEnd(file.path);
    if (dirSum === undefined || dirSum.keys[2] !== period || end !== dir.length || !file.path.startsWith(dir)) {
      dir = file.path.slice(0, end);
      dirSum = sumOf(dirs, `${period}/${dir}`, [locationId, dir, period]);
    }
    const bucket = sizeBucket(file.size);
    if (bucketSum === undefined || !sameBucket(bucketSum.keys, file, bucket, period)) {
      const keys = [locationId, file.uid, file.gid, "present", 0, bucket, period];
      bucketSum = sumOf(buckets, `${file.uid}:${file.gid}:${bucket}:${period}`, keys);
    }
    dirSum.files += 1;
    dirSum.bytes += file.size;
    bucketSum.files += 1;
    bucketSum.bytes += file.size;
  }
  if (![...dirs.values(), ...buckets.values()].every((sum) => Number.isSafeInteger(sum.bytes))) return false;
  await upsertSums(db, "usage_dirs", ["location_id", "dir", "age_period"], dirs);
  await upsertSums(
    db,
    "usage_buckets",
    ["location_id", "uid", "gid", "state", "flags", "size_bucket", "age_period"],
    buckets,
  );
  return true;
}

/** A path's directory as sqliteDirName spells it: up to its last '/', trailing slashes trimmed ('' at the top). */
export function dirName(path: string): string {
  return path.slice(0, dirEnd(path));
}

/** Where a path's directory ends. */
function dirEnd(path: string): number {
  let end = path.lastIndexOf("/");
  while (end > 0 && path.charCodeAt(end - 1) === 0x2f) end--;
  return Math.max(end, 0);
}

/** The size bucket as the triggers' CASE finds it: the first bound the size is under, else past the last. */
function sizeBucket(size: number): number {
  const index = SIZE_BUCKET_BOUNDS.findIndex((bound) => size < bound);
  return index === -1 ? SIZE_BUCKET_BOUNDS.length : index;
}

/** Whether bucket keys (in upsertSums' order) are the file's. */
function sameBucket(keys: (string | number)[], file: NewFile, bucket: number, period: number): boolean {
  return keys[1] === file.uid && keys[2] === file.gid && keys[5] === bucket && keys[6] === period;
}

/** The sum kept under `key`, new (at zero) if none is yet. */
function sumOf(sums: Map<string, Sum>, key: string, keys: (string | number)[]): Sum {
  let sum = sums.get(key);
  if (sum === undefined) {
    sum = { keys, files: 0, bytes: 0 };
    sums.set(key, sum);
  }
  return sum;
}

/** Multi-row upserts that add each sum to its row, as the triggers' ON CONFLICT does. */
async function upsertSums(
  db: Kysely<CatalogSchema>,
  table: "usage_dirs" | "usage_buckets",
  keyNames: string[],
  sums: Map<string, Sum>,
): Promise<void> {
  const all = [...sums.values()];
  const row = `(${Array.from({ length: keyNames.length + 2 }, () => "?").join(", ")})`;
  for (let start = 0; start < all.length; start += ROWS_PER_STATEMENT) {
    const chunk = all.slice(start, start + ROWS_PER_STATEMENT);
    const statement =
      `INSERT INTO ${table} (${keyNames.join(", ")}, files, bytes) VALUES ${chunk.map(() => row).join(", ")} ` +
      `ON CONFLICT (${keyNames.join(", ")}) DO UPDATE SET files = ${table}.files + excluded.files, bytes = ${table}.bytes + excluded.bytes`;
    const values = chunk.flatMap((sum) => [...sum.keys, sum.files, sum.bytes]);
    await db.executeQuery(CompiledQuery.raw(statement, values));
  }
}
