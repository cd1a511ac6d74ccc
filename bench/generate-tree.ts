/**
 * A deterministic generator of HPC-like trees: many small files, some medium, a few large,
 * text and binary, some duplicates, spread over run/step directories. The same arguments
 * always give the same bytes.
 *
 *   node --import tsx bench/generate-tree.ts DIR [--files N] [--small-min 1] [--small-max 64KiB]
 *        [--medium-share 0.05] [--medium-max 4MiB] [--large N] [--large-size 64MiB]
 *        [--duplicate-share 0.02] [--per-dir 1000] [--seed 1]
 */
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseSize } from "../src/config/units.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    files: { type: "string", default: "10000" },
    "small-min": { type: "string", default: "1" },
    "small-max": { type: "string", default: "64KiB" },
    "medium-share": { type: "string", default: "0.05" },
    "medium-max": { type: "string", default: "4MiB" },
    large: { type: "string", default: "0" },
    "large-size": { type: "string", default: "64MiB" },
    "duplicate-share": { type: "string", default: "0.02" },
    "per-dir": { type: "string", default: "1000" },
    seed: { type: "string", default: "1" },
  },
});

const root = positionals[0];
if (!root) throw new Error("usage: generate-tree.ts DIR [options]");
const size = (name: string) => {
  const bytes = parseSize(values[name as keyof typeof values] as string);
  if (bytes === undefined) throw new Error(`--${name}: not a size`);
  return bytes;
};
const files = Number(values.files);
const smallMin = size("small-min");
const smallMax = size("small-max");
const mediumMax = size("medium-max");
const mediumShare = Number(values["medium-share"]);
const duplicateShare = Number(values["duplicate-share"]);
const perDir = Number(values["per-dir"]);

let state = Number(values.seed) * 0x9e3779b1 || 1;
function random(): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 0x1_0000_0000;
}

// One pool of random bytes, sliced at random offsets: fast, and every file differs.
const pool = Buffer.alloc(16 * 1024 * 1024);
for (let i = 0; i < pool.length; i += 4) pool.writeUInt32LE((random() * 0x1_0000_0000) >>> 0, i);
const text = Buffer.from("step=0042 residual=1.2e-07 converged dt=0.25 temperature=287.15\n".repeat(2048));

function content(bytes: number, isText: boolean, offset: number): Buffer {
  const source = isText ? text : pool;
  if (bytes <= source.length - (offset % (source.length - bytes + 1))) {
    const start = offset % (source.length - bytes + 1);
    return source.subarray(start, start + bytes);
  }
  const out = Buffer.allocUnsafe(bytes);
  for (let at = 0; at < bytes; at += source.length) source.copy(out, at, 0, Math.min(source.length, bytes - at));
  out.writeUInt32LE(offset >>> 0, 0);
  return out;
}

/** Node takes at most 2 GiB − 1 per call, and write(2) may move less: loop until every byte is out. */
const WRITE_CHUNK = 1024 * 1024 * 1024;
function write(path: string, data: Buffer): void {
  const fd = openSync(path, "w");
  for (let done = 0; done < data.length; ) {
    done += writeSync(fd, data, done, Math.min(WRITE_CHUNK, data.length - done));
  }
  closeSync(fd);
}

let total = 0;
let lastDir = "";
const previous: Buffer[] = [];
for (let i = 0; i < files; i++) {
  const dir = join(
    root,
    `run-${String(Math.floor(i / (perDir * 10))).padStart(3, "0")}`,
    `step-${String(Math.floor(i / perDir) % 10).padStart(2, "0")}`,
  );
  if (dir !== lastDir) {
    mkdirSync(dir, { recursive: true });
    lastDir = dir;
  }
  const isText = random() < 0.3;
  const roll = random();
  let data: Buffer;
  if (previous.length > 0 && roll < duplicateShare) data = previous[Math.floor(random() * previous.length)] as Buffer;
  else if (roll < duplicateShare + mediumShare)
    data = content(smallMax + Math.floor(random() * (mediumMax - smallMax)), isText, i * 7919);
  else data = content(smallMin + Math.floor(random() * (smallMax - smallMin + 1)), isText, i * 7919);
  if (previous.length < 64 && data.length < 1024 * 1024) previous.push(Buffer.from(data));
  write(join(dir, `${isText ? "log" : "out"}-${String(i).padStart(8, "0")}.${isText ? "txt" : "dat"}`), data);
  total += data.length;
}
const large = Number(values.large);
if (large > 0) mkdirSync(join(root, "large"), { recursive: true });
for (let i = 0; i < large; i++) {
  const data = content(size("large-size"), false, i * 104729);
  write(join(root, "large", `checkpoint-${i}.bin`), data);
  total += data.length;
}
process.stdout.write(`${files + large} files, ${(total / 1024 / 1024).toFixed(1)} MiB under ${root}\n`);
