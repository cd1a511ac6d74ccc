import type { Backend } from "../backends/backend.js";
import type { ByteBudget } from "./byte-budget.js";

/** Parts in flight per large file: a fixed number, or "auto" (see StreamPlanner). */
export type StreamSetting = number | "auto";

/** The most streams "auto" gives one file: past eight, a file gains little on any link we measured. */
const AUTO_MAX = 8;
/** Streams "auto" spreads over all large files in flight, so many of them do not open hundreds of connections. */
const AUTO_TOTAL = 16;
/** The share of the budget "auto" leaves to small files, so one large file cannot starve them. */
const SMALL_FILES_SHARE = 0.25;

/** Whether a file of `size` is large for `target`: it would buffer more with two streams than with one. */
export function gainsFromStreams(target: Backend, size: number): boolean {
  return target.writeBuffer(size, 2) > target.writeBuffer(size, 1);
}

/**
 * Decides, file by file, how many parts (upload) or ranges (download) are in flight, and holds
 * the bytes that costs in the one budget while the file is copied.
 *
 * "auto": a file gains from streams when its target would buffer more with two than with one
 * (a multipart upload, a ranged download); others get one. A large file gets as many as fit,
 * at most 8:
 * - by connections: 16 spread over the large files in flight (itself included): alone or with
 *   one other it gets 8, with three others 4;
 * - by memory: what it buffers with that many (the target's `writeBuffer`) must fit in three
 *   quarters of the budget less what large files in flight already hold; a quarter stays free
 *   for small files.
 * So a lone 2 GiB upload to S3 with 16 MiB parts runs 8 parts in flight (144 MiB of a 256 MiB
 * budget), a second one beside it 2, the next ones 1 until the first finishes; a download to
 * POSIX buffers little per range, so there only the connection rule applies.
 */
export class StreamPlanner {
  private largeFiles = 0;
  private largeBytes = 0;

  constructor(
    private readonly setting: StreamSetting,
    private readonly budget: ByteBudget,
  ) {}

  /** Runs `copy` with the streams chosen for a file of `size`, holding their bytes in the budget. */
  async hold<T>(size: number, target: Backend, copy: (streams: number) => Promise<T>): Promise<T> {
    const large = gainsFromStreams(target, size);
    const streams = this.streamsFor(size, target, large);
    const buffer = target.writeBuffer(size, streams);
    if (large) {
      this.largeFiles += 1;
      this.largeBytes += buffer;
    }
    const held = await this.budget.acquire(buffer);
    try {
      return await copy(streams);
    } finally {
      this.budget.release(held);
      if (large) {
        this.largeFiles -= 1;
        this.largeBytes -= buffer;
      }
    }
  }

  private streamsFor(size: number, target: Backend, large: boolean): number {
    if (this.setting !== "auto") return this.setting;
    if (!large) return 1;
    const room = this.budget.capacity * (1 - SMALL_FILES_SHARE) - this.largeBytes;
    let streams = Math.min(AUTO_MAX, Math.max(1, Math.floor(AUTO_TOTAL / (this.largeFiles + 1))));
    while (streams > 1 && target.writeBuffer(size, streams) > room) streams -= 1;
    return streams;
  }
}
