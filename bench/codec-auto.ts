/**
 * `codec: auto` on a generated mixed research tree (tables, logs, float64 arrays, gzip files,
 * noise): its stored bytes against the best single codec chosen per file by brute force, and its
 * throughput against the `zstd -3` CLI using both cores on the same files. Prints the ratios;
 * bench/packs.ts runs the same measurement and writes it to RESULTS.md (run it on an idle machine).
 *
 *   node --import tsx bench/codec-auto.ts [--mib 128]
 */
import { parseArgs } from "node:util";
import { formatBytes } from "../src/config/units.js";
import { measureCodecAuto } from "./lib/codec-auto.js";

const { values } = parseArgs({ options: { mib: { type: "string", default: "128" } } });
const f = await measureCodecAuto(Number(values.mib));
const rate = (seconds: number) => `${formatBytes(f.logicalBytes / seconds)}/s`;
console.log(`tree: ${f.files} files, ${formatBytes(f.logicalBytes)}`);
console.log(`auto:        ${formatBytes(f.autoBytes)} stored, ${rate(f.autoSeconds)}`);
console.log(`brute force: ${formatBytes(f.bruteBytes)} stored (best of none, gzip, lz4, zstd -3 per file)`);
console.log(`with levels: ${formatBytes(f.bruteLevelsBytes)} stored (zstd -9 and -19 also tried)`);
console.log(`zstd -3 -T2: ${rate(f.cliSeconds)}`);
console.log(`auto stored / brute force: ${(f.autoBytes / f.bruteBytes).toFixed(3)} (target ≤ 1.05)`);
console.log(`auto stored / brute force with levels: ${(f.autoBytes / f.bruteLevelsBytes).toFixed(3)}`);
console.log(`auto throughput / zstd -3: ${(f.cliSeconds / f.autoSeconds).toFixed(2)} (target ≥ 0.8)`);
