import type { FileRow, ReplicaRow } from "../../src/catalog/schema.js";

/**
 * A deterministic synthetic catalog: the files and replicas a scratch filesystem of N files and
 * its archive would hold, with HPC-like shape. Projects hold users, users hold runs, runs hold
 * steps of a few dozen outputs; owners follow a long tail (a few users own most files); sizes are
 * mostly small with a heavy tail (about 4% over 1 GiB); access times lag modification times, so
 * many files have not been read for months. Every file has one replica in the archive, a share of
 * them a second one in a cold tier; a share of the archived files is released (a stub on disk).
 * The same seed always gives the same rows.
 */

/** Microseconds: the "now" of the generated catalog, fixed so that runs are comparable. */
export const GENERATED_NOW_US = Date.UTC(2026, 11, 1) * 1000;
const YEAR_US = 365 * 86_400 * 1_000_000;

export const LOCATIONS = [
  { id: 1, name: "scratch", url: "file:///lustre/scratch", kind: "posix", default_class: null },
  { id: 2, name: "archive", url: "s3://archive/scratch", kind: "s3", default_class: "STANDARD" },
  { id: 3, name: "cold", url: "az://cold/scratch", kind: "azure", default_class: "Archive" },
] as const;

/** The columns of a files row the generator chooses; the location and scan ids are the loader's. */
export type SyntheticFile = Omit<
  FileRow,
  "location_id" | "first_scan_id" | "seen_scan_id" | "changed_scan_id" | "deleted_scan_id"
>;

/** The columns of a replicas row the generator chooses; the rest keep their defaults (null). */
export type SyntheticReplica = Omit<
  ReplicaRow,
  "id" | "codec" | "pack_id" | "pack_offset" | "pack_length" | "stored_size" | "etag"
>;

export interface SyntheticOptions {
  files: number;
  /** Share of files with a second replica in the cold tier. */
  secondReplicaShare: number;
  seed: number;
}

const EXTENSIONS: ReadonlyArray<{ ext: string; type: string | null; weight: number }> = [
  { ext: "h5", type: "hdf5", weight: 18 },
  { ext: "nc", type: "netcdf", weight: 14 },
  { ext: "dat", type: null, weight: 16 },
  { ext: "log", type: "text", weight: 12 },
  { ext: "fastq.gz", type: "fastq", weight: 8 },
  { ext: "tif", type: "tiff", weight: 8 },
  { ext: "csv", type: "csv", weight: 10 },
  { ext: "json", type: "json", weight: 6 },
  { ext: "bin", type: null, weight: 8 },
];
const EXTENSION_WEIGHT = EXTENSIONS.reduce((sum, e) => sum + e.weight, 0);

/** xorshift32: fast and good enough to shape data; the seed fixes every row. */
class Random {
  private state: number;
  constructor(seed: number) {
    this.state = (seed * 0x9e3779b1) >>> 0 || 1;
  }
  next(): number {
    let s = this.state;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.state = s >>> 0;
    return this.state / 0x1_0000_0000;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  hex(chars: number): string {
    let out = "";
    while (out.length < chars) out += ((this.next() * 0x1_0000_0000) >>> 0).toString(16).padStart(8, "0");
    return out.slice(0, chars);
  }
}

/** A user's uid: a long tail, so the first users own most of the files (as on real scratch). */
function ownerOf(random: Random): number {
  return 10_000 + Math.floor(500 * random.next() ** 3);
}

/** Mostly small, with a heavy tail: 100 B .. 10 GB, log-scaled, skewed low. */
function sizeOf(random: Random): number {
  return Math.round(100 * Math.exp(random.next() ** 3 * Math.log(1e8)));
}

function extensionOf(random: Random): (typeof EXTENSIONS)[number] {
  let pick = random.next() * EXTENSION_WEIGHT;
  for (const e of EXTENSIONS) {
    pick -= e.weight;
    if (pick < 0) return e;
  }
  return EXTENSIONS[0] as (typeof EXTENSIONS)[number];
}

/**
 * The rows, in path order within each directory, `batch` files at a time (directories
 * included), each file followed in `replicas` by its copies. Memory stays flat: one batch at a
 * time.
 */
export function* syntheticCatalog(
  options: SyntheticOptions,
  batch = 10_000,
): Generator<{ files: SyntheticFile[]; replicas: SyntheticReplica[] }> {
  const random = new Random(options.seed);
  let files: SyntheticFile[] = [];
  let replicas: SyntheticReplica[] = [];
  let id = 0;
  let regular = 0;
  const directory = (path: string, uid: number, gid: number, mtime: number) => {
    id += 1;
    files.push({
      id,
      path,
      kind: "dir",
      size: 4096,
      mtime_us: mtime,
      atime_us: mtime,
      ctime_us: mtime,
      mode: 0o40755,
      uid,
      gid,
      inode: id,
      hash: null,
      file_type: null,
      tags: null,
      state: "present",
      stub_size: null,
      stub_mtime_us: null,
      stub_inode: null,
    });
  };
  const file = (dir: string, index: number, uid: number, gid: number, runStart: number) => {
    id += 1;
    regular += 1;
    const extension = extensionOf(random);
    const size = sizeOf(random);
    const mtime = runStart + Math.floor(random.next() * 86_400_000_000);
    const atime = mtime + Math.floor(random.next() ** 2 * (GENERATED_NOW_US - mtime));
    const hash = random.hex(64);
    const released = random.next() < 0.1;
    files.push({
      id,
      path: `${dir}/out_${String(index).padStart(5, "0")}.${extension.ext}`,
      kind: "file",
      size,
      mtime_us: mtime,
      atime_us: atime,
      ctime_us: mtime,
      mode: 0o100644,
      uid,
      gid,
      inode: id,
      hash,
      file_type: extension.type,
      tags: random.next() < 0.05 ? JSON.stringify({ campaign: `c${random.int(1, 20)}` }) : null,
      state: released ? "released" : "present",
      stub_size: released ? 420 : null,
      stub_mtime_us: released ? GENERATED_NOW_US : null,
      stub_inode: released ? id : null,
    });
    const replica = (location_id: number, storage_class: string, state: SyntheticReplica["state"]) =>
      replicas.push({
        file_id: id,
        location_id,
        key: files[files.length - 1]?.path as string,
        size,
        hash,
        storage_class,
        state,
        source_size: size,
        source_mtime_us: mtime,
        created_at: Math.floor(mtime / 1000) + 3_600_000,
        verified_at: random.next() < 0.8 ? Math.floor(GENERATED_NOW_US / 1000) : null,
      });
    replica(2, random.next() < 0.3 ? "GLACIER" : "STANDARD", "present");
    if (random.next() < options.secondReplicaShare) replica(3, "Archive", "archived");
  };

  for (let project = 0; regular < options.files; project++) {
    const gid = 5_000 + project;
    const projectDir = `proj${String(project).padStart(4, "0")}`;
    directory(projectDir, 0, gid, GENERATED_NOW_US - 5 * YEAR_US);
    const users = random.int(2, 12);
    for (let u = 0; u < users && regular < options.files; u++) {
      const uid = ownerOf(random);
      const userDir = `${projectDir}/u${uid}-${u}`;
      directory(userDir, uid, gid, GENERATED_NOW_US - 4 * YEAR_US);
      const runs = random.int(1, 40);
      for (let r = 0; r < runs && regular < options.files; r++) {
        const runStart = GENERATED_NOW_US - Math.floor(random.next() * 5 * YEAR_US);
        const runDir = `${userDir}/run-${String(r).padStart(3, "0")}`;
        directory(runDir, uid, gid, runStart);
        const steps = random.int(1, 12);
        for (let s = 0; s < steps && regular < options.files; s++) {
          const stepDir = `${runDir}/step${String(s).padStart(2, "0")}`;
          directory(stepDir, uid, gid, runStart);
          const outputs = random.int(1, 80);
          for (let f = 0; f < outputs && regular < options.files; f++) {
            file(stepDir, f, random.next() < 0.95 ? uid : ownerOf(random), gid, runStart);
            if (files.length >= batch) {
              yield { files, replicas };
              files = [];
              replicas = [];
            }
          }
        }
      }
    }
  }
  if (files.length > 0) yield { files, replicas };
}
