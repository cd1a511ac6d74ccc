/**
 * Writes a small, deterministic research tree for the quick start: simulation runs with
 * binary outputs and checkpoints, text logs, parameters, and a few odd file names. The same
 * seed always yields the same bytes, so re-running the demo shows an incremental sync.
 */
import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = process.argv[2] ?? "data";
let state = 0x5eed;
/** xorshift32: tiny, seeded, good enough for sample bytes. */
function next(): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return state >>> 0;
}

function bytes(size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i + 4 <= size; i += 4) out.writeUInt32LE(next(), i);
  for (let i = size - (size % 4); i < size; i++) out[i] = next() & 0xff;
  return out;
}

function file(path: string, content: Buffer | string, daysOld: number): void {
  const full = join(root, path);
  mkdirSync(join(full, ".."), { recursive: true });
  writeFileSync(full, content);
  const when = Date.now() / 1000 - daysOld * 86_400;
  utimesSync(full, when, when);
}

let count = 0;
for (let run = 0; run < 12; run++) {
  const dir = `project-climate/run-${String(run).padStart(3, "0")}`;
  file(`${dir}/params.json`, JSON.stringify({ run, resolution: "0.25deg", seed: run * 17 }, null, 2), run * 5);
  for (let step = 0; step < 40; step++) {
    file(`${dir}/output/step-${String(step).padStart(4, "0")}.nc`, bytes(4096 + (next() % 60_000)), run * 5);
    count += 1;
  }
  file(`${dir}/logs/solver.log`, `run ${run}\n${"iteration converged\n".repeat(200 + run)}`, run * 5);
  file(`${dir}/checkpoint.bin`, bytes(2 * 1024 * 1024 + run * 4096), run * 5 + 40);
  count += 3;
}
file("project-climate/README for reviewers.txt", "Outputs of the 0.25° ensemble.\n", 90);
file("project-climate/données/résumé été.csv", "a,b\n1,2\n", 10);
writeFileSync(Buffer.from(`${root}/project-climate/legacy-\xe9t\xe9.dat`, "latin1"), "named in Latin-1, not UTF-8\n");
count += 3;
process.stdout.write(`Wrote a sample research tree: ${count} files under ${root}/\n`);
