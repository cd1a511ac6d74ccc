import { type Readable, Transform, type TransformCallback } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { offerPositionalReads, positionalReadsOf } from "../backends/bodies.js";
import { parseSize } from "../config/units.js";

/**
 * A token bucket: `take(n)` waits until n tokens have accrued at the current rate. The rate is
 * read at each take, so a timetable can change it while transfers run. Burst is one second's
 * worth, so a slow start does not bank unlimited credit.
 */
export class TokenBucket {
  private tokens: number;
  private last = Date.now();

  constructor(private readonly rate: () => number) {
    this.tokens = Math.min(rate(), Number.MAX_SAFE_INTEGER);
  }

  async take(n: number): Promise<void> {
    for (;;) {
      const perSecond = this.rate();
      if (!Number.isFinite(perSecond)) return;
      const now = Date.now();
      this.tokens = Math.min(perSecond, this.tokens + ((now - this.last) / 1000) * perSecond);
      this.last = now;
      // A request larger than a second's worth goes through once the bucket is full.
      const needed = Math.min(n, perSecond);
      if (this.tokens >= needed) {
        this.tokens -= n;
        return;
      }
      await sleep(Math.max(1, ((needed - this.tokens) / perSecond) * 1000));
    }
  }
}

export interface TimetableEntry {
  /** Minutes after midnight, local time. */
  at: number;
  /** Bytes per second; Infinity for "off". */
  bytesPerSecond: number;
}

/**
 * Parses rclone's bandwidth timetable: `10M` (always), or `08:00,100M 20:00,off` (from 08:00
 * 100 MiB/s, from 20:00 unlimited, wrapping at midnight). Returns undefined when malformed.
 */
export function parseBandwidth(text: string): TimetableEntry[] | undefined {
  const parts = text.trim().split(/\s+/);
  if (parts.length === 1 && !parts[0]?.includes(",")) {
    const rate = rateOf(parts[0] as string);
    return rate === undefined ? undefined : [{ at: 0, bytesPerSecond: rate }];
  }
  const entries: TimetableEntry[] = [];
  for (const part of parts) {
    const match = /^(\d{1,2}):(\d{2}),(.+)$/.exec(part);
    const rate = match ? rateOf(match[3] as string) : undefined;
    if (!match || rate === undefined || Number(match[1]) > 23 || Number(match[2]) > 59) return undefined;
    entries.push({ at: Number(match[1]) * 60 + Number(match[2]), bytesPerSecond: rate });
  }
  return entries.sort((a, b) => a.at - b.at);
}

/** The rate in force at `now`: the last entry at or before it, wrapping from the day's last. */
export function rateAt(timetable: readonly TimetableEntry[], now: Date): number {
  const minute = now.getHours() * 60 + now.getMinutes();
  const current = [...timetable].reverse().find((e) => e.at <= minute) ?? timetable.at(-1);
  return current?.bytesPerSecond ?? Number.POSITIVE_INFINITY;
}

function rateOf(text: string): number | undefined {
  if (text === "off") return Number.POSITIVE_INFINITY;
  const bytes = parseSize(text);
  return bytes === undefined || bytes === 0 ? undefined : bytes;
}

/**
 * The pipe between a source and its target: counts bytes for progress and, under a bandwidth
 * cap, passes them on no faster than the shared bucket allows. (Counting is done here, not by a
 * "data" listener, which would switch the stream to flowing mode and lose bytes.)
 */
export class MeteredStream extends Transform {
  /** A source that can be read by offset, piped in only once this stream is read. */
  private unpiped: Readable | undefined;

  constructor(private readonly meter: { bucket?: TokenBucket; onBytes?: (count: number) => void }) {
    super();
  }

  /**
   * Meters `source`, which then reaches the writer only through this stream: its stream piped in,
   * its failures passed on, and its reads by offset, if it offers them, passed on metered. Such a
   * source is piped in only when this stream is first read, so a writer that takes the bytes by
   * offset (a small body read whole, the parts of a multipart upload) reads none of them twice.
   */
  drawFrom(source: Readable): this {
    source.on("error", (err) => this.destroy(err));
    if (this.meterPositionalReads(source)) this.unpiped = source;
    else source.pipe(this);
    return this;
  }

  override _read(size: number): void {
    const source = this.unpiped;
    this.unpiped = undefined;
    source?.pipe(this);
    super._read(size);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.meter.onBytes?.(chunk.length);
    if (!this.meter.bucket) {
      callback(null, chunk);
      return;
    }
    this.meter.bucket.take(chunk.length).then(
      () => callback(null, chunk),
      (err: Error) => callback(err),
    );
  }

  /**
   * Passes on `source`'s reads by offset (a file's), metered as the stream is: a multipart write
   * that reads its parts that way is paced and counted the same. Letting go of this stream lets
   * go of the source (its file). Bytes the source holds already (a small file read whole) are
   * passed on as they are, counted now, unless a bandwidth cap must pace them.
   */
  private meterPositionalReads(source: Readable): boolean {
    const reads = positionalReadsOf(source);
    if (!reads) return false;
    this.once("close", () => source.destroy());
    const held = this.meter.bucket ? undefined : reads.held;
    if (held) this.meter.onBytes?.(held.length);
    offerPositionalReads(this, {
      ...(held ? { held } : {}),
      readAt: async (buffer, length, position) => {
        const count = await reads.readAt(buffer, length, position);
        this.meter.onBytes?.(count);
        await this.meter.bucket?.take(count);
        return count;
      },
      changed: () => reads.changed(),
    });
    return true;
  }
}
