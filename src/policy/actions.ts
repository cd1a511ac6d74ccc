/**
 * The plan's vocabulary: what a policy run may do to one file. The planner emits these from
 * catalog queries, `strata plan --out` writes them, and `strata apply` carries out exactly these,
 * so each action holds everything apply needs and the version of the file it was planned for:
 * an action whose file changed since is skipped as stale, never applied to the new content.
 */

import type { CodecName } from "../codec/codec.js";

export type PolicyActionKind = "copy" | "transition" | "restore" | "release" | "notify" | "purge" | "delete";

/** The file an action is about, as the catalog knew it when the plan was made. */
export interface PlannedVersion {
  fileId: number;
  /** The name of the location the file lives in (the policy's `from`). */
  location: string;
  path: string;
  size: number;
  mtimeUs: number;
  /** SHA-256 of the content when known. */
  hash: string | null;
}

interface ActionBase {
  policy: string;
  file: PlannedVersion;
  /** Bytes this action moves or frees. */
  bytes: number;
  /** Change of the monthly bill once done, in USD (negative saves). */
  monthlyCostDelta: number;
  /** Charges paid once: requests, early deletion, retrieval, egress, in USD. */
  oneTimeCost: number;
}

/** A new replica of the file at `to`, in `storageClass`. */
export interface CopyPolicyAction extends ActionBase {
  kind: "copy";
  to: string;
  key: string;
  storageClass: string | null;
  /** The placement's `codec:` when it has one; absent: the target location's. */
  codec?: string;
  /** The placement's `pack:`, on copies of files below its threshold: the file goes into a pack. */
  pack?: PackPlacement;
}

/** `pack: { below, size, codec }` of a placement, in bytes. */
export interface PackPlacement {
  below: number;
  size: number;
  codec: CodecName;
}

/** An existing replica changes storage class in place. */
export interface TransitionPolicyAction extends ActionBase {
  kind: "transition";
  at: string;
  replicaId: number;
  key: string;
  fromClass: string | null;
  toClass: string;
}

/** An archived replica is thawed so it can be read. */
export interface RestorePolicyAction extends ActionBase {
  kind: "restore";
  at: string;
  replicaId: number;
  key: string;
  tier: "expedited" | "standard" | "bulk";
  days: number;
}

/**
 * The POSIX source's data is replaced by a stub. `requires` lists the replicas that must be
 * present and verified by checksum (against `file.hash`) at apply time, or nothing is released.
 */
export interface ReleasePolicyAction extends ActionBase {
  kind: "release";
  requires: { at: string; replicaId: number }[];
}

/** A purge candidate's owner is told, a grace period before the file may be deleted. */
export interface NotifyPolicyAction extends ActionBase {
  kind: "notify";
  uid: number;
  gid: number;
  /** Epoch milliseconds before which the purge must not happen. */
  deleteAfter: number;
  /** Where per-owner notice files are written, and the webhook to call, from the policy. */
  noticeDir: string | null;
  webhook: string | null;
}

/** A file announced at least its grace period ago, and still unread since, is deleted. */
export interface PurgePolicyAction extends ActionBase {
  kind: "purge";
  noticeId: number;
  deleteAfter: number;
  /**
   * The policy's verified copies, checked at apply time as for a release. When absent (plans
   * written before this field), every present replica of this version is checked, and at least
   * one is needed.
   */
  requires?: { at: string; replicaId: number }[];
}

/** A replica no policy wants any more is removed. */
export interface DeletePolicyAction extends ActionBase {
  kind: "delete";
  at: string;
  replicaId: number;
  key: string;
}

export type PolicyAction =
  | CopyPolicyAction
  | TransitionPolicyAction
  | RestorePolicyAction
  | ReleasePolicyAction
  | NotifyPolicyAction
  | PurgePolicyAction
  | DeletePolicyAction;

/** Per policy and action kind: what `strata plan` prints. */
export interface PlanTotal {
  policy: string;
  kind: PolicyActionKind;
  files: number;
  bytes: number;
  monthlyCostDelta: number;
  oneTimeCost: number;
}
