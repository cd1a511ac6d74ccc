import { UsageError } from "../config/errors.js";
import { formatBytes } from "../config/units.js";

/** Deletes a plan would make at one location, against the copies the source has there. */
export interface DeleteShare {
  /** Who asks, as the message starts: "--delete", "nightly: prune". */
  what: string;
  deletes: number;
  bytes: number;
  /** Objects at the location that belong to the source, the deletes among them. */
  held: number;
  at: string;
  limit: number;
  /** The setting the limit comes from, named in the message. */
  limitName: string;
}

/**
 * A plan may not empty a destination by accident: past the share it is refused whole, with
 * one message, until forced. `sync --delete` and pruning policies answer to the same rule.
 */
export function refuseDeleteShare(share: DeleteShare): void {
  if (share.deletes === 0) return;
  const ratio = share.deletes / Math.max(share.held, 1);
  if (ratio <= share.limit) return;
  throw new UsageError(
    `${share.what}: refusing to delete ${share.deletes.toLocaleString("en")} of ` +
      `${share.held.toLocaleString("en")} objects ` +
      `(${(ratio * 100).toFixed(0)}%, ${formatBytes(share.bytes)}) at ${share.at}; ` +
      `the limit is ${(share.limit * 100).toFixed(0)}% (${share.limitName}). Check the source, or add --force`,
  );
}
