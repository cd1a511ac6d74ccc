import { build } from "esbuild";
const r = await build({ entryPoints: [process.env.ENTRY ?? "src/cli/main.ts"], bundle: true, write: false, metafile: true, format: "esm", platform: "node", outdir: "/tmp/x", splitting: true,
  external: ["better-sqlite3", "pg-native", "@azure/*", "@google-cloud/*", "playwright-core", "lz4-napi", "zstd-napi"], logLevel: "error" });
const inputs = r.metafile.inputs;
const prev = new Map([[process.env.ENTRY ?? "src/cli/main.ts", null]]); const q = [process.env.ENTRY ?? "src/cli/main.ts"];
while (q.length) { const f = q.shift(); for (const i of inputs[f]?.imports ?? []) { if (i.kind !== "import-statement" && i.kind !== "require-call") continue; if (!prev.has(i.path)) { prev.set(i.path, f); q.push(i.path); } } }
const pk = new Map(); for (const k of prev.keys()) { const m = k.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/); const n = m ? m[1] : "src"; pk.set(n, (pk.get(n) || 0) + (inputs[k]?.bytes || 0)); }
console.log([...pk].sort((a,b)=>b[1]-a[1]).slice(0,25).map(([k,v])=>`${k}:${(v/1024).toFixed(0)}K`).join(" "));
for (const target of process.argv.slice(2)) {
  const hit = [...prev.keys()].find((k) => k.includes(`node_modules/${target}`));
  if (!hit) { console.log(target, ": not static"); continue; }
  const chain = []; let c = hit; while (c) { chain.push(c); c = prev.get(c); }
  console.log(target, ":", chain.reverse().filter((x) => !x.includes("node_modules") || x === hit).join(" > "));
}
