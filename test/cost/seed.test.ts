import { describe, expect, it } from "vitest";
import { descriptorOf, type SeedClasses } from "../../src/backends/all.js";
import {
  accessRateEstimate,
  MAX_ACCESSES_PER_MONTH,
  NEVER_READ_ACCESSES_PER_MONTH,
  seedClass,
} from "../../src/cost/index.js";

/** The seed rule's classes of a backend, as its descriptor gives them. */
const seedClassesOf = (kind: string) => descriptorOf(kind).seedClasses as SeedClasses;

const NOW_MS = Date.UTC(2026, 10, 24, 2, 0, 0);
const NOW_US = NOW_MS * 1000;
const S = 1_000_000; // µs
const DAY = 86_400 * S;

describe("seedClass: the seed's rule exactly", () => {
  // [label, size in bytes, µs since last access, expected: aws, azure, gcs]
  const cases: [string, number, number, [string, string, string]][] = [
    ["big, idle just over a day", 1e9 + 1, DAY + 1, ["GLACIER", "Archive", "ARCHIVE"]],
    ["big, idle exactly one day", 1e9 + 1, DAY, ["STANDARD", "Hot", "STANDARD"]],
    ["exactly 1e9 bytes, idle 2 days", 1e9, 2 * DAY, ["STANDARD", "Hot", "STANDARD"]],
    ["exactly 1e9 bytes, idle 31 days", 1e9, 31 * DAY, ["STANDARD_IA", "Cool", "NEARLINE"]],
    ["big, idle 31 days", 5e9, 31 * DAY, ["GLACIER", "Archive", "ARCHIVE"]],
    ["big, read just now", 5e9, 0, ["STANDARD", "Hot", "STANDARD"]],
    ["small, idle exactly 30 days", 10, 30 * DAY, ["STANDARD", "Hot", "STANDARD"]],
    ["small, idle 30 days and 1 µs", 10, 30 * DAY + 1, ["STANDARD_IA", "Cool", "NEARLINE"]],
    ["small, idle a year", 10, 365 * DAY, ["STANDARD_IA", "Cool", "NEARLINE"]],
    ["empty file, idle 2 days", 0, 2 * DAY, ["STANDARD", "Hot", "STANDARD"]],
  ];
  const providers = ["s3", "azure", "gcs"].map(seedClassesOf);
  it.each(cases)("%s", (_label, size, idleUs, expected) => {
    const classes = providers.map((provider) => seedClass({ size, atimeUs: NOW_US - idleUs }, NOW_MS, provider));
    expect(classes).toEqual(expected);
    // The embedded store uses S3's names.
    expect(seedClass({ size, atimeUs: NOW_US - idleUs }, NOW_MS, seedClassesOf("local"))).toBe(expected[0]);
  });
});

describe("accessRateEstimate", () => {
  const written = NOW_US - 400 * DAY;
  const cases: [string, number, number, number][] = [
    ["never read since written (atime = mtime)", written, written, NEVER_READ_ACCESSES_PER_MONTH],
    ["atime before mtime (rewritten since the last read)", written - DAY, written, NEVER_READ_ACCESSES_PER_MONTH],
    ["read an hour ago: capped at once a day", NOW_US - 3600 * S, written, MAX_ACCESSES_PER_MONTH],
    ["read exactly a day ago", NOW_US - DAY, written, 30],
    ["read 10 days ago: 30/10", NOW_US - 10 * DAY, written, 3],
    ["read 60 days ago: 30/60", NOW_US - 60 * DAY, written, 0.5],
    ["read 10000 days ago: floored at the never-read rate", NOW_US - 10_000 * DAY, written - 20_000 * DAY, 0.01],
    ["atime in the future (clock skew)", NOW_US + DAY, written, MAX_ACCESSES_PER_MONTH],
  ];
  it.each(cases)("%s", (_label, atimeUs, mtimeUs, expected) => {
    expect(accessRateEstimate({ atimeUs, mtimeUs }, NOW_MS)).toBeCloseTo(expected, 12);
  });
});
