import type { Rows } from "./du-brute.js";

/**
 * A location's capacity computed the slow, obvious way: every files and replicas row, read
 * directly, grouped per location, class and state in plain TypeScript, keyed
 * JSON.stringify([location, class, state]).
 */

export type Key = string;
export type Totals = { files: number; logicalBytes: number; storedBytes: number };

export function bruteCapacity(rows: Rows): Map<Key, Totals> {
  const names = new Map(rows.locations.map((l) => [l.id, l.name]));
  const fileById = new Map(rows.files.map((f) => [f.id, f]));
  const sums = new Map<Key, Totals>();
  const add = (location: number, storageClass: string, state: string, t: Totals) => {
    const key = JSON.stringify([names.get(location), storageClass, state]);
    const sum = sums.get(key) ?? { files: 0, logicalBytes: 0, storedBytes: 0 };
    sums.set(key, {
      files: sum.files + t.files,
      logicalBytes: sum.logicalBytes + t.logicalBytes,
      storedBytes: sum.storedBytes + t.storedBytes,
    });
  };
  for (const f of rows.files) {
    if (f.kind !== "file" || f.state === "deleted") continue;
    add(f.location_id, "", f.state, {
      files: 1,
      logicalBytes: f.size,
      storedBytes: f.state === "present" ? f.size : 0,
    });
  }
  for (const r of rows.replicas) {
    if (!fileById.has(r.file_id)) throw new Error(`replica ${r.id} of no file`);
    add(r.location_id, r.storage_class ?? "", r.state, {
      files: 1,
      logicalBytes: r.source_size,
      storedBytes: r.stored_size ?? r.size,
    });
  }
  return sums;
}
