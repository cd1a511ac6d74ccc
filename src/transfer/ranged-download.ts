import { pipeline, type Readable } from "node:stream";
import { RANGED_WRITE_MIN } from "../backends/atomic-file.js";
import {
  type Backend,
  BackendError,
  type ByteRange,
  type ObjectInfo,
  type ObjectReader,
  type RangeSink,
  TransientError,
} from "../backends/backend.js";
import type { CopyRequest } from "./copy-request.js";
import { runPool } from "./pool.js";
import { MeteredStream } from "./rate-limit.js";

/**
 * Large objects come down as several ranged reads at once, each written at its offset into the
 * target's temp file (POSIX, the embedded store): over a long fat link one TCP stream is held
 * back by its window and the round trip, and a store serves each request at its own pace;
 * several ranges at once add up. The target hashes the file in order as the ranges land (see atomic-file.ts), so
 * the SHA-256 of the whole is checked without reading anything twice over the network, and the
 * file appears, renamed into place, only once whole and checked.
 *
 * Ranges are 8 MiB, grown so no object needs more than 10,000: small enough that `streams`
 * readers stay busy to the end of a 64 MiB object, large enough that requests cost little.
 */
const RANGE_SIZE = 8 * 1024 * 1024;
const MAX_RANGES = 10_000;

export type RangedTarget = Backend & Required<Pick<Backend, "writeRanges">>;

export interface RangePlan {
  target: RangedTarget;
  ranges: ByteRange[];
}

/** How a copy of `size` bytes goes in ranges, or undefined when it goes in one stream. */
export function planRanges(target: Backend, size: number, streams = 1): RangePlan | undefined {
  if (!canWriteRanges(target) || streams < 2 || size < RANGED_WRITE_MIN) return undefined;
  const rangeSize = Math.max(RANGE_SIZE, Math.ceil(size / MAX_RANGES));
  const ranges: ByteRange[] = [];
  for (let start = 0; start < size; start += rangeSize) {
    ranges.push({ start, end: Math.min(size, start + rangeSize) - 1 });
  }
  return { target, ranges };
}

function canWriteRanges(target: Backend): target is RangedTarget {
  return typeof target.writeRanges === "function";
}

export interface RangedCopy extends RangePlan, Omit<CopyRequest, "target"> {
  /** The answer to the read of the first range, which told what the object is. */
  first: ObjectReader;
}

/** Copies an object in ranges read in parallel; returns what the target stored, hash checked. */
export async function copyInRanges(copy: RangedCopy): Promise<ObjectInfo> {
  if (copy.first.info.size !== copy.size) {
    copy.first.body.destroy();
    throw new BackendError(
      `${JSON.stringify(copy.sourceKey)}: the object is ${copy.first.info.size} bytes, ${copy.size} expected`,
      copy.source.url,
      false,
    );
  }
  const info = {
    size: copy.size,
    attributes: copy.attributes,
    ...(copy.storageClass ? { storageClass: copy.storageClass } : {}),
    ...(copy.tags ? { tags: copy.tags } : {}),
    ...(copy.expectedHash ? { expectedSha256: copy.expectedHash } : {}),
    // Journaled, a copy killed mid-way keeps its whole ranges for the next run of this version.
    ...(copy.journal ? { journal: copy.journal, resumable: resumableAs(copy) } : {}),
    ...(copy.trust ? { trust: copy.trust } : {}),
  };
  // Should the target refuse before reading (a bad path, no permission), the first answer is let go.
  return copy.target
    .writeRanges(copy.targetKey, info, (sink) => fetchRanges(copy, sink))
    .finally(() => copy.first.body.destroy());
}

function resumableAs(copy: RangedCopy): { rangeSize: number; sourceVersion: string } {
  const [first] = copy.ranges;
  return { rangeSize: first ? first.end - first.start + 1 : copy.size, sourceVersion: versionOf(copy.first.info) };
}

/**
 * Reads the ranges, `streams` at a time, into the sink, but for those it holds already (a
 * resumed copy), and tells it of each range once whole. The first failure stops the others (their
 * bodies are destroyed) and is thrown once every reader has let go of the sink.
 */
async function fetchRanges(copy: RangedCopy, sink: RangeSink): Promise<void> {
  const version = versionOf(copy.first.info);
  const active = new Set<Readable>();
  let failure: unknown;
  const [firstRange] = copy.ranges;
  const held = new Set(sink.stored.map((range) => range.start));
  const missing = copy.ranges.filter((range) => !held.has(range.start));
  // The first range was asked for before the sink was known; held already, its answer is let go.
  if (firstRange && held.has(firstRange.start)) copy.first.body.destroy();
  async function* ranges() {
    yield* missing;
  }
  const fail = (err: unknown) => {
    failure ??= err;
    for (const body of active) body.destroy();
  };
  // Readers at once: the streams asked for, never more than there are ranges.
  await runPool(ranges(), Math.max(1, Math.min(copy.streams ?? 1, missing.length)), async (range) => {
    if (failure !== undefined) return;
    const reader = range === firstRange ? copy.first : await copy.source.read(copy.sourceKey, range).catch(fail);
    if (!reader) return;
    active.add(reader.body);
    try {
      if (failure !== undefined) return;
      if (versionOf(reader.info) !== version) {
        throw new TransientError(copy.source.url, `${JSON.stringify(copy.sourceKey)}: changed while it was being read`);
      }
      await receive(copy, reader.body, range, sink);
      await sink.completed(range);
    } catch (err) {
      fail(err);
    } finally {
      active.delete(reader.body);
      reader.body.destroy();
    }
  });
  if (failure !== undefined) throw failure;
}

/** Writes one range's body at its offset, failing as soon as it runs past the range or short of it. */
async function receive(copy: RangedCopy, body: Readable, range: ByteRange, sink: RangeSink): Promise<void> {
  const metered = new MeteredStream({
    ...(copy.bandwidth ? { bucket: copy.bandwidth } : {}),
    ...(copy.onBytes ? { onBytes: copy.onBytes } : {}),
  });
  // Unlike pipe(), a pipeline ends the reader with an error when the body is destroyed without one.
  pipeline(body, metered, () => undefined);
  let position = range.start;
  for await (const chunk of metered) {
    const bytes = chunk as Buffer;
    if (position + bytes.length > range.end + 1) {
      throw new BackendError(
        `${JSON.stringify(copy.sourceKey)}: the read of bytes ${range.start}-${range.end} answered more`,
        copy.source.url,
        false,
      );
    }
    await sink.write(bytes, position);
    position += bytes.length;
  }
  if (position !== range.end + 1) {
    throw new TransientError(
      copy.source.url,
      `${JSON.stringify(copy.sourceKey)}: the read of bytes ${range.start}-${range.end} ended at ${position}`,
    );
  }
}

/** What tells two answers apart when the object changed between them. */
function versionOf(info: ObjectInfo): string {
  return `${info.size}/${info.etag ?? ""}/${info.modifiedUs}`;
}
