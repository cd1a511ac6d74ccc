// Bundles the CLI into dist/bundle/ (run by `npm run build` after tsc). Node 20 loads an ES
// module graph file by file: the hundreds of modules of kysely, zod and the AWS SDK cost
// 0.3 s before the first line of Strata ran. One bundle starts in about half that, which is most
// of the time of a sync with nothing to do. tsc's dist/ stays for the library and its types.
import { copyFile, rm } from "node:fs/promises";
import { build } from "esbuild";

// Chunks are named by their content's hash: without this, every build's chunks stayed beside the last.
await rm("dist/bundle", { recursive: true, force: true });

await build({
  entryPoints: {
    strata: "src/cli/main.ts",
    "walk-worker": "src/scan/walk-worker.ts",
    "worker-thread": "src/codec/worker-thread.ts",
    "write-worker": "src/scan/write-worker.ts",
  },
  outdir: "dist/bundle",
  bundle: true,
  // Cloud SDKs load only when a location needs them; splitting keeps them in their own files.
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // Flat, so `new URL("./walk-worker.js", import.meta.url)` finds the worker from any chunk.
  entryNames: "[name]",
  chunkNames: "[name]-[hash]",
  sourcemap: true,
  // Less source to parse at every start; identifiers keep their names (error classes' names
  // are part of messages and of the SDK's error mapping).
  minifyWhitespace: true,
  minifySyntax: true,
  // Native or optional modules, and SDKs whose packaging reads files beside their own code.
  // zstd-napi and lz4-napi load their native builds (a .node file found beside their own code).
  external: ["better-sqlite3", "pg-native", "@azure/*", "@google-cloud/*", "playwright-core", "lz4-napi", "zstd-napi"],
  // Bundled CommonJS modules call require() for Node built-ins.
  banner: {
    js: 'import { createRequire as __bundleRequire } from "node:module"; const require = __bundleRequire(import.meta.url);',
  },
  logLevel: "warning",
});

// The dashboard served by `strata serve`: one script and one stylesheet (uPlot's CSS included),
// for browsers, beside the page. All local, so it works with no internet and a strict CSP.
await build({
  entryPoints: { app: "src/server/dashboard/ui/main.ts" },
  outdir: "dist/dashboard",
  bundle: true,
  minify: true,
  format: "esm",
  platform: "browser",
  target: ["chrome110", "firefox115", "safari16"],
  sourcemap: false,
  logLevel: "warning",
});
await copyFile("src/server/dashboard/ui/index.html", "dist/dashboard/index.html");
