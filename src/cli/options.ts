import { type Command, InvalidArgumentError, Option } from "commander";
import type { AttributeTrust } from "../backends/metadata.js";
import { UsageError } from "../config/errors.js";
import { MAX_TRANSFERS } from "../config/schema.js";
import { parseDuration, parseSize } from "../config/units.js";
import type { TransferSettings } from "../engine/toolkit.js";
import type { TransferSetting } from "../transfer/flight.js";
import { parseBandwidth, type TimetableEntry } from "../transfer/rate-limit.js";
import type { StreamSetting } from "../transfer/streams.js";
import type { Context } from "./context.js";

/** Commander argument parsers: a bad value names its flag and exits 2 before anything runs. */

export function wholeNumber(min: number, max: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

export function size(text: string): number {
  const bytes = parseSize(text);
  if (bytes === undefined) throw new InvalidArgumentError("must be a size such as 512KiB, 100MB or 1GiB");
  return bytes;
}

export function duration(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new InvalidArgumentError("must be a duration such as 90s, 12h or 30d");
  return ms;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function tag(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const match = /^([A-Za-z0-9_.:-]{1,128})=(.{0,256})$/.exec(value);
  if (!match) throw new InvalidArgumentError("must be key=value (key: letters, digits, _ . : -)");
  return { ...previous, [match[1] as string]: match[2] as string };
}

export function positiveNumber(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("must be a number above 0");
  return n;
}

export function bandwidth(text: string): TimetableEntry[] {
  const timetable = parseBandwidth(text);
  if (!timetable)
    throw new InvalidArgumentError('must be a rate such as 10M, or a timetable such as "08:00,100M 20:00,off"');
  return timetable;
}

/** Files in flight: a whole number, or "auto" (chosen file by file for the work). */
export function transfers(text: string): TransferSetting {
  if (text === "auto") return "auto";
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > MAX_TRANSFERS) {
    throw new InvalidArgumentError(`must be "auto" or a whole number from 1 to ${MAX_TRANSFERS}`);
  }
  return n;
}

/** Parts or ranges in flight per large file: a whole number, or "auto". */
export function streams(text: string): StreamSetting {
  const n = Number(text);
  if (text === "auto") return "auto";
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new InvalidArgumentError('must be "auto" or a whole number from 1 to 64');
  }
  return n;
}

/** The flags that let a command writing files take privileges from recorded attributes. */
export interface TrustFlags {
  preserveSpecialBits: boolean;
  preserveRootOwner: boolean;
}

export function preserveSpecialBitsOption(): Option {
  return new Option(
    "--preserve-special-bits",
    "keep setuid, setgid and sticky bits recorded with files (on root's files only with --preserve-root-owner)",
  ).default(false);
}

export function preserveRootOwnerOption(): Option {
  return new Option(
    "--preserve-root-owner",
    "as root: trust an owner of root recorded with files, so they stay root's and may keep special bits",
  ).default(false);
}

/** What the flags allow; --preserve-root-owner means nothing but as root, so elsewhere it is a mistake. */
export function trustFrom(flags: TrustFlags): AttributeTrust {
  if (flags.preserveRootOwner && process.geteuid?.() !== 0) {
    throw new UsageError("--preserve-root-owner: only root can give files to root");
  }
  return { specialBits: flags.preserveSpecialBits, rootOwner: flags.preserveRootOwner };
}

/** The flags of every command that moves bytes: sync, apply, daemon, restore, all with one meaning. */
export interface TransferFlags {
  transfers?: TransferSetting;
  streams?: StreamSetting;
  maxBuffer?: number;
  bwlimit?: TimetableEntry[];
  tps?: number;
}

/** Adds --transfers, --streams, --max-buffer, --bwlimit and --tps; `what` is what --transfers counts. */
export function transferOptions(command: Command, what = "files in flight"): Command {
  return command
    .option("--transfers <n>", `${what}, 1-${MAX_TRANSFERS} or "auto" (default: defaults.transfers)`, transfers)
    .option(
      "--streams <n>",
      'parts or ranges in flight per large file, 1-64 or "auto" (default: defaults.streams)',
      streams,
    )
    .option("--max-buffer <size>", "bytes all transfers may buffer together (default: defaults.maxBuffer)", size)
    .option("--bwlimit <timetable>", 'bandwidth cap: "10M", or a timetable "08:00,100M 20:00,off"', bandwidth)
    .option("--tps <n>", "requests per second at most, per cloud location", positiveNumber);
}

/**
 * The engine's transfer settings from the flags, the config's defaults filling what is not
 * given. --tps takes effect on the locations the context opens from now on (call this first).
 */
export function transferSettings(ctx: Context, flags: TransferFlags, trust?: AttributeTrust): TransferSettings {
  ctx.tps = flags.tps;
  return {
    transfers: flags.transfers ?? ctx.defaults.transfers,
    maxBuffer: flags.maxBuffer ?? ctx.defaults.maxBuffer,
    streams: flags.streams ?? ctx.defaults.streams,
    ...(flags.bwlimit ? { bwlimit: flags.bwlimit } : {}),
    ...(trust ? { trust } : {}),
  };
}
