import { type SqlBool, sql } from "kysely";
import type { CatalogDb } from "../catalog/db.js";
import type { ActionKind, EventOutcome } from "../catalog/schema.js";
import { ACTION_KINDS } from "../policy/planner.js";

/** Every kind an event can have: the policies' action kinds, and verify (and pack, reserved). */
export const EVENT_KINDS: readonly ActionKind[] = [...ACTION_KINDS, "verify", "pack"];

/** Which events to show; every condition given must hold. */
export interface HistoryQuery {
  /**
   * The events of the files at this place (one file, or every file beneath a directory, or a
   * whole location), and of the files whose copies are there (a store's keys).
   */
  files?: { locationId: number; path: string };
  runId?: number;
  /** Only events after this id: a follower (the server's live run stream) asks for what is new. */
  afterId?: number;
  /** Only events at or after this time (ms since the epoch). */
  sinceMs?: number;
  kinds?: readonly ActionKind[];
  /** The most recent this many, still shown oldest first. */
  limit?: number;
}

/** One event as `strata log` shows it: names instead of ids, the detail parsed. */
export interface HistoryEntry {
  id: number;
  /** ms since the epoch. */
  at: number;
  kind: ActionKind;
  outcome: EventOutcome;
  /** The source of a copy, the replica's location, the tree released or purged. */
  location: string | null;
  /** Where the bytes went (a copy's or restore's target). */
  target: string | null;
  /** The file it is about, as its location name and path. */
  file: { location: string; path: string } | null;
  runId: number | null;
  policy: string | null;
  host: string;
  user: string;
  bytes: number;
  detail: Record<string, unknown> | null;
}

/** Events read per query when streaming a whole history. */
const PAGE = 1000;

/**
 * The events matching `query`, oldest first, streamed a page at a time (a run of millions of
 * copies is never held in memory); with a limit, the newest that many. Served by the indexes
 * on `events` (`at`, `file_id`, `run_id, id`), and for a place by the files' (location, path)
 * and the replicas' (location, key) indexes.
 * Reads only.
 */
export async function* history(catalog: CatalogDb, query: HistoryQuery): AsyncGenerator<HistoryEntry> {
  if (query.limit !== undefined) {
    const newest = await matching(catalog, query)
      .orderBy("e.at", "desc")
      .orderBy("e.id", "desc")
      .limit(query.limit)
      .execute();
    yield* newest.reverse().map(entryOf);
    return;
  }
  let after: { at: number; id: number } | undefined;
  for (;;) {
    let page = matching(catalog, query);
    if (after) {
      const { at, id } = after;
      page = page.where((eb) => eb.or([eb("e.at", ">", at), eb.and([eb("e.at", "=", at), eb("e.id", ">", id)])]));
    }
    const rows = await page.orderBy("e.at").orderBy("e.id").limit(PAGE).execute();
    yield* rows.map(entryOf);
    const last = rows.at(-1);
    if (!last || rows.length < PAGE) return;
    after = { at: Number(last.at), id: last.id };
  }
}

function matching(catalog: CatalogDb, query: HistoryQuery) {
  let select = catalog.db
    .selectFrom("events as e")
    .leftJoin("locations as src", "src.id", "e.location_id")
    .leftJoin("locations as dst", "dst.id", "e.target_location_id")
    .leftJoin("files as f", "f.id", "e.file_id")
    .leftJoin("locations as fl", "fl.id", "f.location_id")
    .select([
      "e.id",
      "e.at",
      "e.kind",
      "e.outcome",
      "src.name as location",
      "dst.name as target",
      "fl.name as file_location",
      "f.path as file_path",
      "e.run_id",
      "e.policy",
      "e.host",
      "e.user",
      "e.bytes",
      "e.detail",
    ]);
  const { files } = query;
  if (files) {
    const { locationId, path } = files;
    // "dir" up to "dir0" in byte order, the range an index serves, then "dir" itself or "dir/…":
    // a string from "dir/" up to "dir0" ('0' follows '/') starts with "dir/".
    const beneath = (column: "files.path" | "replicas.key") => {
      const ref = sql.ref(column);
      return path === ""
        ? sql<SqlBool>`1 = 1`
        : sql<SqlBool>`(${ref} >= ${path} AND ${ref} < ${`${path}0`} AND (${ref} = ${path} OR ${ref} >= ${`${path}/`}))`;
    };
    // The files there, and the files whose copies are there: a store's keys name the files they copy.
    select = select.where((eb) =>
      eb.or([
        eb(
          "e.file_id",
          "in",
          eb.selectFrom("files").select("id").where("location_id", "=", locationId).where(beneath("files.path")),
        ),
        eb(
          "e.file_id",
          "in",
          eb
            .selectFrom("replicas")
            .select("file_id")
            .where("location_id", "=", locationId)
            .where(beneath("replicas.key")),
        ),
      ]),
    );
  }
  if (query.runId !== undefined) select = select.where("e.run_id", "=", query.runId);
  if (query.afterId !== undefined) select = select.where("e.id", ">", query.afterId);
  if (query.sinceMs !== undefined) select = select.where("e.at", ">=", query.sinceMs);
  if (query.kinds && query.kinds.length > 0) select = select.where("e.kind", "in", query.kinds);
  return select;
}

type Row = Awaited<ReturnType<ReturnType<typeof matching>["execute"]>>[number];

function entryOf(r: Row): HistoryEntry {
  return {
    id: r.id,
    at: Number(r.at),
    kind: r.kind,
    outcome: r.outcome,
    location: r.location,
    target: r.target,
    file: r.file_location !== null && r.file_path !== null ? { location: r.file_location, path: r.file_path } : null,
    runId: r.run_id,
    policy: r.policy,
    host: r.host,
    user: r.user,
    bytes: Number(r.bytes),
    detail: r.detail === null ? null : (JSON.parse(r.detail) as Record<string, unknown>),
  };
}
