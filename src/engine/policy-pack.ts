import type { CatalogDb } from "../catalog/db.js";
import { replicaAt } from "../catalog/replicas.js";
import type { FileRow } from "../catalog/schema.js";
import type { CopyPolicyAction, PolicyAction } from "../policy/actions.js";
import type { RetryPolicy } from "../transfer/retry.js";
import { Packer, type PackRun } from "./pack.js";
import type { ApplyLocation } from "./policy-run.js";
import type { Recorder } from "./recorder.js";

/**
 * A placement's `pack: { below, size, codec }` in a policy run: the small files its copies would
 * write one object each go into packs instead, through the very Packer sync uses (pack.ts), so
 * the kill-safe order, the journal of "pack" actions and the reconcile of a killed run are the
 * same. One Packer per source, target, storage class and pack settings: a pack is written from
 * one location into one place.
 */

/** What packing needs of the apply run it is part of. */
export interface PackingRun {
  readonly catalog: CatalogDb;
  readonly retry: RetryPolicy;
  readonly runId: number;
  readonly recorder: Recorder;
  resolve(name: string): Promise<ApplyLocation>;
  /** The file as the catalog holds it, if it is still the version the action was planned for and may be copied. */
  current(action: PolicyAction): Promise<FileRow | undefined>;
  onBytes(count: number): void;
  /** A packed copy's outcome, counted in the run's report as a copy. */
  heard(
    action: CopyPolicyAction,
    outcome: Parameters<PackRun["heard"]>[0],
    detail: { bytes?: number; error?: string },
  ): void;
}

interface PlacePacker {
  packer: Packer;
  /** The actions whose files are gathered for this packer's next pack, by path (one source: paths are unique). */
  waiting: Map<string, CopyPolicyAction>;
}

export class PolicyPackers {
  private readonly packers = new Map<string, Promise<PlacePacker>>();

  constructor(private readonly run: PackingRun) {}

  /**
   * The actions not packed, as they come; copies to a placement with `pack:` of files below its
   * threshold that the target holds no copy of yet go to that place's packer, which writes a
   * pack whenever one is full. At the end, every packer's last pack is written.
   */
  async *diverted(actions: AsyncIterable<PolicyAction>): AsyncGenerator<PolicyAction> {
    for await (const action of actions) {
      if (action.kind === "copy" && action.pack && (await this.take(action))) continue;
      yield action;
    }
    for (const place of this.packers.values()) await (await place).packer.flush();
  }

  /** Gathers the action's file for a pack; false leaves it to the whole-object copy (which says why it is stale). */
  private async take(action: CopyPolicyAction): Promise<boolean> {
    const file = await this.run.current(action);
    if (!file) return false;
    const place = await this.packerFor(action);
    const target = await this.run.resolve(action.to);
    // A file with a copy there already (changed since) is copied whole over it, as sync does.
    const held = await replicaAt(this.run.catalog, file.id, target.row.id);
    if (!place.packer.accepts(file, held?.hash ?? null)) return false;
    place.waiting.set(file.path, action);
    await place.packer.add(file);
    return true;
  }

  private packerFor(action: CopyPolicyAction): Promise<PlacePacker> {
    const name = JSON.stringify([action.file.location, action.to, action.storageClass, action.pack]);
    let place = this.packers.get(name);
    if (!place) {
      place = this.makePacker(action);
      this.packers.set(name, place);
    }
    return place;
  }

  private async makePacker(action: CopyPolicyAction): Promise<PlacePacker> {
    const { run } = this;
    const source = await run.resolve(action.file.location);
    const target = await run.resolve(action.to);
    const waiting = new Map<string, CopyPolicyAction>();
    const packRun: PackRun = {
      catalog: run.catalog,
      runId: run.runId,
      source: { backend: source.backend, locationId: source.row.id },
      target: {
        backend: target.backend,
        locationId: target.row.id,
        tags: target.settings.tags,
        ...(action.storageClass ? { storageClass: action.storageClass } : {}),
        ...(target.settings.dedup ? { dedup: true } : {}),
      },
      retry: run.retry,
      recorder: run.recorder,
      onBytes: (n) => run.onBytes(n),
      heard: (outcome, path, detail) => {
        const settled = waiting.get(path);
        waiting.delete(path);
        if (settled) run.heard(settled, outcome, detail);
      },
    };
    const pack = action.pack as NonNullable<CopyPolicyAction["pack"]>;
    return { packer: new Packer(packRun, pack), waiting };
  }
}
