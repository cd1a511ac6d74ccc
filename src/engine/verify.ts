import type { Backend } from "../backends/backend.js";
import { NeedsRestoreError } from "../backends/backend.js";
import type { CatalogDb } from "../catalog/db.js";
import { fileById } from "../catalog/files.js";
import { markVerified, replicasToVerify } from "../catalog/replicas.js";
import type { ReplicaRow } from "../catalog/schema.js";
import { hashObject } from "../transfer/copy.js";
import { filesInFlight, type TransferSetting } from "../transfer/flight.js";
import { runPool } from "../transfer/pool.js";
import type { RetryPolicy } from "../transfer/retry.js";
import type { EngineEvent } from "./events.js";
import { memberPlaceOf, readPackMember } from "./pack-store.js";
import { JournaledRun } from "./run.js";
import { Toolkit } from "./toolkit.js";

export interface VerifyDeps {
  catalog: CatalogDb;
  retryPolicy: RetryPolicy;
  location(name: string): Promise<{ backend: Backend }>;
}

export interface VerifyOptions {
  /** Only replicas at this location; default all. */
  locationId?: number;
  /** Replicas read at once. */
  transfers: TransferSetting;
  maxBuffer: number;
}

/** A replica as verify reads it. */
export type Replica = Pick<
  ReplicaRow,
  "id" | "file_id" | "location_id" | "key" | "hash" | "size" | "pack_id" | "pack_offset" | "pack_length" | "codec"
> & {
  location_name: string;
};

/** What reading one replica back came to: archived ones cannot be read without a thaw. */
export type Verdict = { kind: "passed" } | { kind: "bad"; problem: string } | { kind: "archived" };

/**
 * Reads replicas back and checks each against its recorded SHA-256, as one journaled run: a
 * verify action per replica, pending before it is read; a replica that reads back right is
 * marked verified, one that does not is marked lost (the next plan copies it again). Each
 * replica read leaves one event, passed or failed; an archived one is skipped.
 */
export async function verifyReplicas(
  deps: VerifyDeps,
  options: VerifyOptions,
  heard: (replica: Replica, verdict: Verdict) => void,
): Promise<void> {
  const { catalog } = deps;
  const toolkit = new Toolkit(options, deps.retryPolicy);
  const run = await JournaledRun.start(catalog, "verify", toolkit);
  const replicas = run.journaled(replicasToVerify(catalog, options.locationId), (r) => ({
    kind: "verify",
    fileId: r.file_id,
    sourceLocationId: null,
    targetLocationId: r.location_id,
    key: r.key,
    bytes: r.size,
  }));
  try {
    // Verify reads and hashes whole replicas: bound by CPU and disks as uploads are, so "auto" is theirs.
    await runPool(replicas, filesInFlight(options.transfers, "tree"), async ({ item: replica, actionId }) => {
      const verdict = await verifyOne(deps, replica);
      heard(replica, verdict);
      if (verdict.kind === "archived") return run.skipped(actionId, "archived: not readable without a restore");
      const event = (outcome: "passed" | "failed", detail: Record<string, unknown>): EngineEvent => ({
        kind: "verify",
        fileId: replica.file_id,
        locationId: replica.location_id,
        bytes: replica.size,
        outcome,
        detail: { key: replica.key, ...detail },
      });
      if (verdict.kind === "passed") return run.done(actionId, 1, event("passed", {}));
      return run.failed(actionId, verdict.problem, 1, event("failed", { error: verdict.problem }));
    });
  } finally {
    await run.finish({ verify: options.locationId ?? "all" });
  }
}

async function verifyOne(deps: VerifyDeps, r: Replica): Promise<Verdict> {
  const { backend } = await deps.location(r.location_name);
  let verdict: Verdict;
  try {
    const member = memberPlaceOf(r);
    if (member) {
      // A member reads back right when its frame, read alone, holds its path, size and SHA-256.
      await readPackMember(backend, member, {
        path: await memberPath(deps.catalog, r.file_id),
        size: r.size,
        sha256: r.hash,
      });
      verdict = { kind: "passed" };
    } else {
      const sha256 = await hashObject(backend, r.key);
      verdict =
        sha256 === r.hash ? { kind: "passed" } : { kind: "bad", problem: `sha256 ${sha256}, expected ${r.hash}` };
    }
  } catch (err) {
    if (err instanceof NeedsRestoreError) return { kind: "archived" };
    verdict = { kind: "bad", problem: (err as Error).message };
  }
  await markVerified(deps.catalog, r.id, verdict.kind === "passed" ? { ok: true, at: Date.now() } : { ok: false });
  return verdict;
}

async function memberPath(catalog: CatalogDb, fileId: number): Promise<string> {
  const file = await fileById(catalog, fileId);
  if (!file) throw new Error(`file ${fileId} is no longer in the catalog`);
  return file.path;
}
