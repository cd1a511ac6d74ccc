// The floor of a verified upload in Node: PUTs in flight over one undici Pool, each with its
// Content-MD5, nothing else (no catalog, no SHA-256, no signing: the bucket allows anonymous
// writes for this). Plain JavaScript, so no TypeScript loader sits in the measured process.
//
//   node bench/floors/put.mjs ENDPOINT BUCKET PREFIX ROOT LIST IN_FLIGHT whole|stream
//
// whole: each file read into one buffer, hashed, sent. stream: read twice, once to hash, once
// streamed as the body (the least memory a Content-MD5 allows).
import { createHash } from "node:crypto";
import { createReadStream, readFileSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { Pool } from "undici";

const [endpoint, bucket, prefix, root, list, inFlight, mode] = process.argv.slice(2);
if (mode !== "whole" && mode !== "stream")
  throw new Error("usage: put.mjs ENDPOINT BUCKET PREFIX ROOT LIST IN_FLIGHT whole|stream");
const paths = readFileSync(list, "utf8").split("\n").filter(Boolean);
const pool = new Pool(endpoint, { connections: Number(inFlight) });
const objectPath = (rel) => `/${bucket}/${[prefix, ...rel.split("/")].map(encodeURIComponent).join("/")}`;

async function bodyOf(file) {
  if (mode === "whole") {
    const data = await readFile(file);
    return { body: data, md5: createHash("md5").update(data).digest("base64"), size: data.length };
  }
  const hash = createHash("md5");
  await pipeline(createReadStream(file), hash);
  return { body: createReadStream(file), md5: hash.digest("base64"), size: statSync(file).size };
}

let next = 0;
async function worker() {
  while (next < paths.length) {
    const rel = paths[next++];
    const { body, md5, size } = await bodyOf(`${root}/${rel}`);
    const answer = await pool.request({
      method: "PUT",
      path: objectPath(rel),
      headers: { "content-md5": md5, "content-length": String(size) },
      body,
    });
    await answer.body.dump();
    if (answer.statusCode !== 200) throw new Error(`PUT ${rel}: HTTP ${answer.statusCode}`);
  }
}
await Promise.all(Array.from({ length: Number(inFlight) }, worker));
await pool.close();
