/**
 * `codec: auto` on a generated mixed research tree (tables, logs, float64 arrays, gzip files,
 * noise): its stored bytes against the best single codec chosen per file by brute force, and its
 * throughput against the `zstd -3` CLI using both cores on the same files. Prints the ratios;
 * not part of bench/run.ts or RESULTS.md (run it on an idle machine).
 *
 *   node --import tsx bench/codec-auto.ts [--mib 128]
 */
import { execFileSync } from "node:child_process";
import { createReadStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { codecSetting } from "../src/codec/choose.js";
import { type Codec, codecNamed, zstdCodec } from "../src/codec/codec.js";
import { inPieces } from "../src/codec/frame-stream.js";
import { formatBytes } from "../src/config/units.js";
import { compressInto } from "../src/transfer/compress.js";
import { Spool } from "../src/transfer/spool.js";
import { csvTable, float64Field } from "../test/support/research-data.js";

const mibArg = process.argv.indexOf("--mib");
const totalMiB = mibArg > 0 ? Number(process.argv[mibArg + 1]) : 128;
const MiB = 1024 * 1024;

/** Shares of the tree by kind, and how one file of each kind is made. */
const KINDS: { name: string; share: number; make(bytes: number, seed: number): Buffer }[] = [
  { name: "csv", share: 0.3, make: (bytes, seed) => csvTable(Math.ceil(bytes / 40) + seed).subarray(0, bytes) },
  {
    name: "log",
    share: 0.15,
    make: (bytes, seed) => {
      const lines: string[] = [];
      for (let i = 0, size = 0; size < bytes; i++) {
        const line = `2026-12-05T10:${String(i % 60).padStart(2, "0")}:00Z rank ${(i * 7 + seed) % 64} step ${i} dt=${(0.001 * (i % 17)).toFixed(3)} ok`;
        lines.push(line);
        size += line.length + 1;
      }
      return Buffer.from(lines.join("\n")).subarray(0, bytes);
    },
  },
  { name: "f64", share: 0.3, make: (bytes) => float64Field(Math.ceil(bytes / 8)).subarray(0, bytes) },
  { name: "gz", share: 0.15, make: (bytes, seed) => gzipSync(csvTable(Math.ceil((bytes * 4) / 40) + seed)) },
  { name: "noise", share: 0.1, make: (bytes) => Buffer.from(Array.from({ length: bytes }, () => Math.random() * 256)) },
];

function generate(dir: string): void {
  for (const kind of KINDS) {
    const bytes = kind.share * totalMiB * MiB;
    const files = Math.max(1, Math.round(bytes / (8 * MiB)));
    mkdirSync(join(dir, kind.name), { recursive: true });
    for (let i = 0; i < files; i++)
      writeFileSync(join(dir, kind.name, `${i}.dat`), kind.make(Math.floor(bytes / files), i));
  }
}

function* filesUnder(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* filesUnder(path);
    else yield path;
  }
}

/** Each codec at its default level: brute force's choice per file is the smallest of these. */
const CODECS = [codecNamed("none"), codecNamed("gzip"), codecNamed("lz4"), zstdCodec(3)];
/** zstd's slow levels too, for how far a size-at-any-cost choice would go. */
const WITH_LEVELS = [...CODECS, zstdCodec(9), zstdCodec(19)];

/** Stored bytes of `path` under each codec, in 4 MiB frames as Strata stores them. */
async function storedBytesEach(path: string, codecs: readonly Codec[]): Promise<number[]> {
  return Promise.all(
    codecs.map(async (codec) => {
      let stored = 0;
      for await (const piece of inPieces(createReadStream(path))) stored += (await codec.compress(piece)).length;
      return stored;
    }),
  );
}

const dir = mkdtempSync(join(tmpdir(), "strata-codec-bench-"));
try {
  generate(dir);
  const files = [...filesUnder(dir)];
  const logical = files.reduce((sum, f) => sum + readFileSync(f).length, 0);

  const auto = codecSetting("auto");
  const started = performance.now();
  let autoBytes = 0;
  // Two files at once, as two transfers would: the threads take the frames of both.
  for (let i = 0; i < files.length; i += 2) {
    const pair = files.slice(i, i + 2).map(async (file) => {
      const spool = new Spool();
      try {
        await compressInto(spool, createReadStream(file), auto);
        autoBytes += spool.size;
      } finally {
        await spool.dispose();
      }
    });
    await Promise.all(pair);
  }
  const autoSeconds = (performance.now() - started) / 1000;

  const cliStarted = performance.now();
  execFileSync("zstd", ["-3", "-T2", "-q", "-c", ...files], { maxBuffer: 4 * totalMiB * MiB });
  const cliSeconds = (performance.now() - cliStarted) / 1000;

  let bruteBytes = 0;
  let bruteLevelsBytes = 0;
  for (const file of files) {
    const sizes = await storedBytesEach(file, WITH_LEVELS);
    bruteBytes += Math.min(...sizes.slice(0, CODECS.length));
    bruteLevelsBytes += Math.min(...sizes);
  }

  const rate = (seconds: number) => `${formatBytes(logical / seconds)}/s`;
  console.log(`tree: ${files.length} files, ${formatBytes(logical)}`);
  console.log(`auto:        ${formatBytes(autoBytes)} stored, ${rate(autoSeconds)}`);
  console.log(`brute force: ${formatBytes(bruteBytes)} stored (best of none, gzip, lz4, zstd -3 per file)`);
  console.log(`with levels: ${formatBytes(bruteLevelsBytes)} stored (zstd -9 and -19 also tried)`);
  console.log(`zstd -3 -T2: ${rate(cliSeconds)}`);
  console.log(`auto stored / brute force: ${(autoBytes / bruteBytes).toFixed(3)} (target ≤ 1.05)`);
  console.log(`auto stored / brute force with levels: ${(autoBytes / bruteLevelsBytes).toFixed(3)}`);
  console.log(`auto throughput / zstd -3: ${(cliSeconds / autoSeconds).toFixed(2)} (target ≥ 0.8)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
