import { hostname, userInfo } from "node:os";
import type { EventRow } from "../catalog/journal.js";
import type { ActionKind, EventOutcome } from "../catalog/schema.js";

/**
 * One event per action carried out (a stale-skipped action writes none): what happened to
 * which file where, how many bytes, in which run, under which policy, on which host, by whom.
 * The engine writes them in the Recorder's batches, beside the outcomes they go with.
 */
export interface EngineEvent {
  kind: ActionKind;
  fileId: number | null;
  /** The source of a copy; the replica's location; the POSIX tree released or purged. */
  locationId: number | null;
  /** Where the bytes went: a copy's or a restore's target. */
  targetLocationId?: number | null;
  bytes: number;
  /** The policy's name; absent for sync, restore and verify. */
  policy?: string;
  outcome: EventOutcome;
  detail?: Record<string, unknown>;
}

/** Who runs this process, asked once: the OS user name, or the uid where it has none. */
const ORIGIN = { host: hostname(), user: currentUser() };

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    // A uid without a passwd entry (containers): the number is all there is.
    return String(process.getuid?.() ?? "unknown");
  }
}

/** The row an event becomes, stamped now with this run, host and user. */
export function eventRow(runId: number, event: EngineEvent): EventRow {
  return {
    at: Date.now(),
    kind: event.kind,
    location_id: event.locationId,
    target_location_id: event.targetLocationId ?? null,
    file_id: event.fileId,
    run_id: runId,
    bytes: event.bytes,
    policy: event.policy ?? null,
    host: ORIGIN.host,
    user: ORIGIN.user,
    outcome: event.outcome,
    detail: event.detail === undefined ? null : JSON.stringify(event.detail),
  };
}
