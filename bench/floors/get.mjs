// The floor of a download in Node: GETs in flight over one undici Pool, each body piped to its
// file, nothing else (no catalog, no hashing, no signing: the bucket allows anonymous reads).
// Plain JavaScript, so no TypeScript loader sits in the measured process.
//
//   node bench/floors/get.mjs ENDPOINT BUCKET PREFIX LIST OUT_DIR IN_FLIGHT
import { createWriteStream, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Pool } from "undici";

const [endpoint, bucket, prefix, list, outDir, inFlight] = process.argv.slice(2);
const paths = readFileSync(list, "utf8").split("\n").filter(Boolean);
const pool = new Pool(endpoint, { connections: Number(inFlight) });

let next = 0;
async function worker() {
  while (next < paths.length) {
    const rel = paths[next++];
    const file = join(outDir, rel);
    mkdirSync(dirname(file), { recursive: true });
    const path = `/${bucket}/${[prefix, ...rel.split("/")].map(encodeURIComponent).join("/")}`;
    const answer = await pool.request({ method: "GET", path });
    if (answer.statusCode !== 200) throw new Error(`GET ${rel}: HTTP ${answer.statusCode}`);
    await pipeline(answer.body, createWriteStream(file));
  }
}
await Promise.all(Array.from({ length: Number(inFlight) }, worker));
await pool.close();
