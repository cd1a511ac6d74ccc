import type { FileStat } from "../catalog/files.js";
import type { FileKind } from "../catalog/schema.js";
import { FILE_TYPES, fileTypeOf } from "../codec/file-type.js";
import type { StubRecord } from "../codec/stub.js";

/**
 * Scanned entries on their way from a walker (or a listing) to the catalog writer thread, packed
 * column by column: one array of paths and three typed arrays (transferred, not copied) instead of
 * an object per entry, which cost more to clone between threads than to write. The rare extras
 * (a stub's record, an object store's hash) travel beside them by index.
 */
export interface EntryBatch {
  paths: string[];
  /** Per entry, its kind's index in KINDS. */
  kinds: Uint8Array;
  /**
   * Per file, 1 + its type's index in FILE_TYPES, 0 for none: found by the walkers, which wait
   * for the catalog writer about half the time, rather than by the writer, which never waits.
   */
  types: Uint8Array;
  /** NUMBERS per entry, in NUMBER_FIELDS order. */
  numbers: Float64Array;
  stubs: [index: number, stub: StubRecord][];
  hashes: [index: number, hash: string][];
}

/** Entries per message from a walker or a listing: enough to amortise a message, few enough to keep the writer fed. */
export const ENTRIES_PER_MESSAGE = 2048;

const KINDS: readonly FileKind[] = ["file", "dir", "symlink", "other"];
const NUMBER_FIELDS = ["size", "mtimeUs", "atimeUs", "ctimeUs", "mode", "uid", "gid", "inode"] as const;
const NUMBERS = NUMBER_FIELDS.length;
const FILE = KINDS.indexOf("file");
const TYPE_CODE = new Map<string | null, number>(FILE_TYPES.map((type, index) => [type, index + 1]));

type NumberField = (typeof NUMBER_FIELDS)[number];
/** What a walker or a listing knows of an entry, before the catalog decides what it means. */
export type ScannedEntry = Pick<FileStat, "path" | "kind" | NumberField | "hash" | "stub">;

/** Fills one batch at a time; `take` hands the full batch over and starts the next. */
export class EntryBatchBuilder {
  private paths: string[] = [];
  private kinds: Uint8Array;
  private types: Uint8Array;
  private numbers: Float64Array;
  private stubs: EntryBatch["stubs"] = [];
  private hashes: EntryBatch["hashes"] = [];

  constructor(readonly capacity: number) {
    this.kinds = new Uint8Array(capacity);
    this.types = new Uint8Array(capacity);
    this.numbers = new Float64Array(capacity * NUMBERS);
  }

  get length(): number {
    return this.paths.length;
  }

  get full(): boolean {
    return this.paths.length >= this.capacity;
  }

  add(entry: ScannedEntry): void {
    const index = this.paths.length;
    this.paths.push(entry.path);
    this.kinds[index] = KINDS.indexOf(entry.kind);
    this.types[index] = entry.kind === "file" ? (TYPE_CODE.get(fileTypeOf(entry.path)) ?? 0) : 0;
    const base = index * NUMBERS;
    for (let field = 0; field < NUMBERS; field++) {
      this.numbers[base + field] = entry[NUMBER_FIELDS[field] as NumberField];
    }
    if (entry.stub) this.stubs.push([index, entry.stub]);
    if (entry.hash) this.hashes.push([index, entry.hash]);
  }

  /** The batch so far (its typed arrays cut to its length, ready to transfer), and a fresh one begun. */
  take(): EntryBatch {
    const length = this.paths.length;
    const batch: EntryBatch = {
      paths: this.paths,
      kinds: this.kinds.slice(0, length),
      types: this.types.slice(0, length),
      numbers: this.numbers.slice(0, length * NUMBERS),
      stubs: this.stubs,
      hashes: this.hashes,
    };
    this.paths = [];
    this.stubs = [];
    this.hashes = [];
    return batch;
  }
}

/** The buffers to transfer with a batch rather than copy. */
export function batchTransferList(batch: EntryBatch): ArrayBuffer[] {
  return [batch.kinds.buffer as ArrayBuffer, batch.types.buffer as ArrayBuffer, batch.numbers.buffer as ArrayBuffer];
}

/** The batch's entries as the catalog takes them. */
export function unpackBatch(batch: EntryBatch): FileStat[] {
  const { paths, kinds, types, numbers } = batch;
  const entries = new Array<FileStat>(paths.length);
  for (let i = 0, base = 0; i < paths.length; i++, base += NUMBERS) {
    entries[i] = {
      path: paths[i] as string,
      kind: KINDS[kinds[i] as number] as FileKind,
      size: numbers[base] as number,
      mtimeUs: numbers[base + 1] as number,
      atimeUs: numbers[base + 2] as number,
      ctimeUs: numbers[base + 3] as number,
      mode: numbers[base + 4] as number,
      uid: numbers[base + 5] as number,
      gid: numbers[base + 6] as number,
      inode: numbers[base + 7] as number,
      fileType: FILE_TYPES[(types[i] as number) - 1] ?? null,
    };
  }
  for (const [index, stub] of batch.stubs) (entries[index] as FileStat).stub = stub;
  for (const [index, hash] of batch.hashes) (entries[index] as FileStat).hash = hash;
  return entries;
}

/** Entries and bytes in files of a batch, for a progress line. */
export function batchTotals(batch: EntryBatch): { entries: number; bytes: number } {
  let bytes = 0;
  for (let i = 0; i < batch.kinds.length; i++)
    if (batch.kinds[i] === FILE) bytes += batch.numbers[i * NUMBERS] as number;
  return { entries: batch.paths.length, bytes };
}
