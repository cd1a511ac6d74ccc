import { execFileSync } from "node:child_process";
import {
  createReadStream,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { chooseCodec, codecSetting } from "../../src/codec/choose.js";
import { type Codec, codecNamed, zstdCodec } from "../../src/codec/codec.js";
import { inPieces } from "../../src/codec/frame-stream.js";
import { compressOffThread } from "../../src/codec/worker-pool.js";
import { compressInto } from "../../src/transfer/compress.js";
import { Spool } from "../../src/transfer/spool.js";
import { csvTable, float64Field } from "../../test/support/research-data.js";

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
  // A gzip of readings with instrument noise: the smooth csvTable gzips into a stream whose
  // blocks repeat beyond deflate's 32 KiB window, which gzip then shrinks again by 16%; no real
  // .gz does that, and brute force would win on an artefact of the generator.
  { name: "gz", share: 0.15, make: (bytes, seed) => gzipSync(noisyReadings(Math.ceil((bytes * 4) / 40), seed)) },
  {
    name: "noise",
    share: 0.1,
    make: (bytes, seed) => {
      const random = xorshift(seed + 1);
      return Buffer.from(Array.from({ length: bytes }, () => Math.floor(random() * 256)));
    },
  },
];

/** A table of `rows` readings (time, temperature, pressure) with noise from a seeded generator. */
function noisyReadings(rows: number, seed: number): Buffer {
  const random = xorshift(seed + 1);
  const lines = ["t,temperature,pressure"];
  for (let i = 0; i < rows; i++) {
    const temperature = 280 + Math.sin(i / 50) * 12 + (random() - 0.5) * 0.2;
    lines.push(`${i * 0.25},${temperature.toFixed(4)},${(1000 + (random() - 0.5) * 8).toFixed(3)}`);
  }
  return Buffer.from(`${lines.join("\n")}\n`);
}

/** Numbers in [0, 1) from a seed: the same tree on every run. */
function xorshift(seed: number): () => number {
  let state = (seed * 0x9e3779b1) >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
}

function generate(dir: string, totalMiB: number): void {
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

/** What `auto` stored and how fast, against brute force and the `zstd -3 -T2` CLI. */
export interface CodecAutoFigures {
  files: number;
  logicalBytes: number;
  autoBytes: number;
  autoSeconds: number;
  /** Best of none, gzip, lz4 and zstd -3 per file. */
  bruteBytes: number;
  /** Also zstd -9 and -19. */
  bruteLevelsBytes: number;
  cliSeconds: number;
}

/**
 * `codec: auto` on a generated mixed research tree of `totalMiB` (tables, logs, float64 arrays,
 * gzip files, noise): its stored bytes against the best single codec chosen per file by brute
 * force, and its throughput against the `zstd -3` CLI using both cores on the same files.
 */
export async function measureCodecAuto(totalMiB: number, tmp = tmpdir()): Promise<CodecAutoFigures> {
  const dir = mkdtempSync(join(tmp, "strata-codec-bench-"));
  try {
    generate(dir, totalMiB);
    const files = [...filesUnder(dir)];
    const logicalBytes = files.reduce((sum, f) => sum + statSync(f).size, 0);

    const auto = codecSetting("auto");
    // What a process pays once happens before the clock starts: the compression threads start
    // (here, from sources, each also loads tsx, which the built CLI does not) and file-type's
    // detectors load and warm up (about 0.5 s on a busy 2-core machine). Throughput is the
    // steady state, as a CLI compressing a tree of gigabytes sees it.
    await Promise.all([0, 1].map(() => compressOffThread(zstdCodec(3), Buffer.alloc(MiB))));
    for (const file of files) await chooseCodec(auto, readFileSync(file).subarray(0, 64 * 1024));
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
    return { files: files.length, logicalBytes, autoBytes, autoSeconds, bruteBytes, bruteLevelsBytes, cliSeconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
