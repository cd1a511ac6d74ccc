import { expect } from "vitest";
import { openCatalog } from "../../src/catalog/db.js";
import type { FileRow, LocationRow, ReplicaRow } from "../../src/catalog/schema.js";
import { SIZE_BUCKET_BOUNDS } from "../../src/catalog/summaries.js";
import { AGE_CLASSES, type DuRow, sizeClass } from "../../src/query/du.js";
import type { CliResult } from "../support/cli.js";

/**
 * du computed the slow, obvious way: every files and replicas row of the catalog, read directly
 * and summed in plain TypeScript, to hold `strata du --json` against. Only the labels of the
 * size and age classes (data, not arithmetic) come from the code under test.
 */

const PERIOD_US = 30 * 86_400 * 1_000_000;

export interface Rows {
  locations: LocationRow[];
  files: FileRow[];
  replicas: ReplicaRow[];
}

export async function catalogRows(url: string): Promise<Rows> {
  const catalog = await openCatalog(url);
  try {
    const { db } = catalog;
    return {
      locations: await db.selectFrom("locations").selectAll().execute(),
      files: await db.selectFrom("files").selectAll().execute(),
      replicas: await db.selectFrom("replicas").selectAll().execute(),
    };
  } finally {
    await catalog.close();
  }
}

type Sum = DuRow;

const counted = (f: FileRow) => f.kind === "file" && f.state !== "deleted";
const isCopy = (r: ReplicaRow) => r.state !== "lost";
const isVerified = (r: ReplicaRow) => (r.state === "present" || r.state === "archived") && r.verified_at !== null;

class Table {
  readonly sums = new Map<string, Sum>();
  constructor(private readonly withFiles = true) {}

  get(name: string): Sum {
    let sum = this.sums.get(name);
    if (!sum) {
      sum = {
        name,
        files: this.withFiles ? 0 : null,
        bytes: this.withFiles ? 0 : null,
        copies: 0,
        verified: 0,
        stored_bytes: 0,
        // The brute force knows no shared objects: its catalogs have none.
        deduplicated_bytes: 0,
        at: {},
        oldest_access_us: null,
      };
      this.sums.set(name, sum);
    }
    return sum;
  }

  addFile(name: string, f: FileRow): void {
    const sum = this.get(name);
    sum.files = (sum.files ?? 0) + 1;
    sum.bytes = (sum.bytes ?? 0) + Number(f.size);
    const start = Math.trunc(Number(f.atime_us) / PERIOD_US) * PERIOD_US;
    if (sum.oldest_access_us === null || start < sum.oldest_access_us) sum.oldest_access_us = start;
  }

  addReplica(name: string, at: string, r: ReplicaRow): void {
    const sum = this.get(name);
    const there = sum.at[at] ?? { copies: 0, verified: 0, stored_bytes: 0, deduplicated_bytes: 0 };
    sum.at[at] = there;
    for (const target of [sum, there]) {
      target.copies += 1;
      target.verified += isVerified(r) ? 1 : 0;
      target.stored_bytes += Number(r.stored_size ?? r.size);
    }
  }

  byName(): Record<string, Sum> {
    return Object.fromEntries([...this.sums.values()].map((s) => [s.name, { ...s, at: sortedKeys(s.at) }]));
  }
}

function sortedKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export interface Request {
  operands: { location: string; path: string }[];
  depth?: number;
  by?: string;
}

/** What `strata du` must answer to `request`, by name. */
export function bruteDu(rows: Rows, request: Request): Record<string, Sum> {
  const locationName = new Map(rows.locations.map((l) => [Number(l.id), l.name]));
  const locationId = new Map(rows.locations.map((l) => [l.name, Number(l.id)]));
  const replicasOf = new Map<number, ReplicaRow[]>();
  for (const r of rows.replicas) replicasOf.set(Number(r.file_id), [...(replicasOf.get(Number(r.file_id)) ?? []), r]);
  const operands =
    request.operands.length > 0 ? request.operands : rows.locations.map((l) => ({ location: l.name, path: "" }));
  const at = (r: ReplicaRow) => locationName.get(Number(r.location_id)) as string;
  const regular = rows.files.filter((f) => f.kind === "file");

  if (request.by === undefined) {
    const table = new Table();
    for (const op of operands) {
      table.get(`${op.location}:${op.path}`);
      for (const f of regular) {
        if (Number(f.location_id) !== locationId.get(op.location)) continue;
        if (op.path !== "" && !f.path.startsWith(`${op.path}/`)) continue;
        const parents = (op.path === "" ? f.path : f.path.slice(op.path.length + 1)).split("/").slice(0, -1);
        for (let level = 0; level <= Math.min(request.depth ?? 0, parents.length); level++) {
          const dir = [...(op.path === "" ? [] : [op.path]), ...parents.slice(0, level)].join("/");
          const name = `${op.location}:${dir}`;
          if (counted(f)) table.addFile(name, f);
          for (const r of (replicasOf.get(Number(f.id)) ?? []).filter(isCopy)) table.addReplica(name, at(r), r);
        }
      }
    }
    return table.byName();
  }

  const inOperands = (f: FileRow) =>
    operands.some(
      (op) =>
        Number(f.location_id) === locationId.get(op.location) && (op.path === "" || f.path.startsWith(`${op.path}/`)),
    );
  const table = new Table(request.by !== "class");
  const nowPeriod = Math.trunc((Date.now() * 1000) / PERIOD_US);
  for (const f of regular.filter(inOperands)) {
    const replicas = (replicasOf.get(Number(f.id)) ?? []).filter(isCopy);
    if (request.by === "class") {
      for (const r of replicas) table.addReplica(r.storage_class ?? "(none)", at(r), r);
      continue;
    }
    if (request.by === "location") {
      if (counted(f)) table.addFile(locationName.get(Number(f.location_id)) as string, f);
      for (const r of replicas) table.addReplica(at(r), at(r), r);
      continue;
    }
    let names: string[];
    if (request.by === "owner") names = [String(f.uid)];
    else if (request.by === "group") names = [String(f.gid)];
    else if (request.by === "size") {
      const bucket = SIZE_BUCKET_BOUNDS.filter((bound) => Number(f.size) >= bound).length;
      names = [sizeClass(bucket)];
    } else if (request.by === "age") {
      const elapsed = nowPeriod - Math.trunc(Number(f.atime_us) / PERIOD_US);
      names = [(AGE_CLASSES.find((c) => elapsed < c.periods) ?? AGE_CLASSES[AGE_CLASSES.length - 1])?.label as string];
    } else if (request.by === "state") {
      const all = replicasOf.get(Number(f.id)) ?? [];
      names = f.state === "missing" ? [] : [f.state];
      if (all.some((r) => r.state === "archived")) names.push("archived");
      if (all.some((r) => r.state === "restoring")) names.push("restoring");
      const held = all.some((r) => ["present", "archived", "restoring"].includes(r.state));
      if (f.state === "missing" || (f.state !== "present" && !held)) names.push("lost");
    } else {
      // tag:KEY: the value of that key in files.tags; untagged files are in no row.
      const key = (request.by as string).slice("tag:".length);
      const tags = tagsOf(f);
      if (!(key in tags)) continue;
      const name = String(tags[key]);
      if (counted(f)) {
        const sum = table.get(name);
        sum.files = (sum.files ?? 0) + 1;
        sum.bytes = (sum.bytes ?? 0) + Number(f.size);
      }
      for (const r of replicas) {
        const sum = table.get(name);
        sum.copies += 1;
        sum.verified += isVerified(r) ? 1 : 0;
        sum.stored_bytes += Number(r.stored_size ?? r.size);
      }
      continue;
    }
    for (const name of names) {
      if (counted(f)) table.addFile(name, f);
      for (const r of replicas) table.addReplica(name, at(r), r);
    }
  }
  return table.byName();
}

/** files.tags as an object; anything but one JSON object is no tags. */
function tagsOf(f: FileRow): Record<string, unknown> {
  try {
    const tags: unknown = JSON.parse(f.tags ?? "{}");
    return typeof tags === "object" && tags !== null && !Array.isArray(tags) ? (tags as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** `strata du --json`'s rows by name (the output's order is checked apart). */
export function duRows(result: CliResult): Record<string, Sum> {
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  const { rows } = JSON.parse(result.stdout) as { rows: Sum[] };
  return Object.fromEntries(rows.map((r) => [r.name, r]));
}

/** The argv of `strata du` for a request. */
export function duArgs(request: Request): string[] {
  return [
    "--json",
    "du",
    ...request.operands.map((op) => (op.path === "" ? op.location : `${op.location}:${op.path}`)),
    ...(request.depth !== undefined ? ["-d", String(request.depth)] : []),
    ...(request.by !== undefined ? ["--by", request.by] : []),
  ];
}
