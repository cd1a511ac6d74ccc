import type { Backend } from "../backends/backend.js";
import type { AttributeTrust } from "../backends/metadata.js";
import { ByteBudget } from "../transfer/byte-budget.js";
import { type CopyRequest, type CopyResult, copyVerified } from "../transfer/copy.js";
import { FilesInFlight, type TransferSetting } from "../transfer/flight.js";
import { rateAt, type TimetableEntry, TokenBucket } from "../transfer/rate-limit.js";
import { type RetryPolicy, withRetry } from "../transfer/retry.js";
import { gainsFromStreams, StreamPlanner, type StreamSetting } from "../transfer/streams.js";

/** A location as a transfer sees it: its backend, and its id in the catalog. */
export interface Endpoint {
  backend: Backend;
  locationId: number;
}

/**
 * How a run moves bytes, whatever command started it: files in flight, parts or ranges in
 * flight per large file, the one cap on buffered bytes, the bandwidth cap. (The request-rate cap
 * per cloud location is the backend's own: the caller opens locations rate-limited.)
 */
export interface TransferSettings {
  /** Actions in flight at once, or "auto": chosen file by file (see FilesInFlight). */
  transfers: TransferSetting;
  /** The one cap on bytes buffered by all transfers in flight together. */
  maxBuffer: number;
  /** Parts or ranges in flight per large file (default "auto": see StreamPlanner). */
  streams?: StreamSetting;
  /** The bandwidth cap shared by all transfers: a rate, or a timetable of rates. */
  bwlimit?: readonly TimetableEntry[];
  /** What a target that writes files may take of the attributes beyond permission bits. */
  trust?: AttributeTrust;
}

/** One run's instruments: built once, shared by every action of the run. */
export class Toolkit {
  readonly budget: ByteBudget;
  private readonly planner: StreamPlanner;
  private readonly flight: FilesInFlight;
  readonly bandwidth: TokenBucket | undefined;

  constructor(
    readonly settings: TransferSettings,
    readonly retry: RetryPolicy,
  ) {
    this.budget = new ByteBudget(settings.maxBuffer);
    this.planner = new StreamPlanner(settings.streams ?? "auto", this.budget);
    this.flight = new FilesInFlight(settings.transfers);
    const timetable = settings.bwlimit;
    this.bandwidth = timetable ? new TokenBucket(() => rateAt(timetable, new Date())) : undefined;
  }

  /** The size of the run's pool of actions: with one `source` for the whole run, sized for it. */
  lanes(source?: Backend): number {
    return this.flight.lanes(source);
  }

  /** The settings every verified copy of this run takes: streams, the bandwidth cap, trust. */
  private copyExtras(streams: number): Pick<CopyRequest, "streams" | "bandwidth" | "trust"> {
    return {
      streams,
      ...(this.bandwidth ? { bandwidth: this.bandwidth } : {}),
      ...(this.settings.trust ? { trust: this.settings.trust } : {}),
    };
  }

  /**
   * One verified copy with the whole toolkit, retried on transient errors (a multipart upload
   * resumes): started when "auto" has room for its kind of file, its bytes held in the one
   * budget, with the streams the planner grants.
   */
  copy(
    request: Omit<CopyRequest, "streams" | "bandwidth" | "trust">,
  ): Promise<{ value: CopyResult; attempts: number }> {
    const file = { source: request.source, large: gainsFromStreams(request.target, request.size) };
    return this.flight.hold(file, () =>
      this.planner.hold(request.size, request.target, (streams) =>
        withRetry(this.retry, () => copyVerified({ ...request, ...this.copyExtras(streams) })),
      ),
    );
  }
}
