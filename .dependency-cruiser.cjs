/*
 * The direction of Strata's imports (ARCHITECTURE.md, "Layout"), checked by
 * test/architecture.test.ts; `npx depcruise src` prints the same report by hand.
 *
 * Layers, top to bottom. A directory may import any layer below its own (skipping layers is
 * fine: a command reads the config), never one above, and a peer of its own layer only where
 * PEER_IMPORTS says so.
 */

const LAYERS = [
  ["cli", "server", "gateway", "worker"], // entry points: parse, call the core, print
  ["engine", "query", "report"], // run plans; read the catalog for people
  ["policy", "scan", "transfer", "cost"], // the domains
  ["catalog", "backends"], // where the truth is kept; where the bytes are kept
  // strata.yaml → typed config; formats and algorithms on bytes (hashes, stubs, later codecs and
  // packs). Both are leaves that know nothing else of src/: a backend hashes what it writes and
  // the catalog stores stub records, so codec/ sits below them (see docs/design-notes.md).
  ["config", "codec"],
];

/*
 * The only imports allowed between directories of one layer, with the reason. Everything else
 * between peers is forbidden: a peer that needs another is usually work for the layer above.
 * - Entry points never import each other: each is a thin caller of the core. The one exception is
 *   `strata serve` (src/cli/serve.ts), a command whose work is to start the server: cli/ may import
 *   server/, never the other way, and what both need lives in the core (engine/, query/).
 * - The engine runs plans and the readers (query, report) never run one; a report is built from
 *   queries.
 * - policy/ is the language and the planners and carries nothing out: it prices its plans (cost),
 *   but moves no bytes (transfer) and walks no tree (scan). scan/ and transfer/ know nothing of
 *   plans or prices. cost/ stands alone.
 * - The catalog implements the small ports a backend defines (such as the upload journal), so it
 *   imports backends/; a backend knows nothing of the catalog.
 */
const PEER_IMPORTS = {
  cli: ["server"],
  report: ["query"],
  policy: ["cost"],
  catalog: ["backends"],
};

/* Imports of a lower layer that are still wrong: transfer/ moves and checks bytes between two
 * backends and knows no catalog (the engine records what it did). */
const BELOW_FORBIDDEN = {
  transfer: ["catalog"],
};

const anyOf = (dirs) => `^src/(${dirs.join("|")})/`;
const known = LAYERS.flat();

function rulesFor(dir, layerIndex) {
  const rules = [];
  const above = LAYERS.slice(0, layerIndex).flat();
  if (above.length > 0) {
    rules.push({
      name: `${dir}-not-upward`,
      comment: `${dir}/ imports only layers below its own (ARCHITECTURE.md, "Layout")`,
      severity: "error",
      from: { path: anyOf([dir]) },
      to: { path: anyOf(above) },
    });
  }
  const allowed = PEER_IMPORTS[dir] ?? [];
  const peers = LAYERS[layerIndex].filter((peer) => peer !== dir && !allowed.includes(peer));
  if (peers.length > 0) {
    rules.push({
      name: `${dir}-not-to-${peers.join("-")}`,
      comment: `${dir}/ may import of its own layer only: ${allowed.join(", ") || "nothing"}`,
      severity: "error",
      from: { path: anyOf([dir]) },
      to: { path: anyOf(peers) },
    });
  }
  const below = BELOW_FORBIDDEN[dir] ?? [];
  if (below.length > 0) {
    rules.push({
      name: `${dir}-not-to-${below.join("-")}`,
      comment: `${dir}/ knows nothing of ${below.join(", ")}`,
      severity: "error",
      from: { path: anyOf([dir]) },
      to: { path: anyOf(below) },
    });
  }
  return rules;
}

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "a cycle makes its modules one module: load order, tests and reasoning all suffer",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "in-a-layer",
      comment: `every module of src/ lives in a directory of LAYERS (${known.join(", ")})`,
      severity: "error",
      from: { path: "^src/", pathNot: anyOf(known) },
      to: {},
    },
    {
      name: "not-to-unresolvable",
      comment: "an import the cruiser cannot resolve is an edge this check cannot see",
      severity: "error",
      from: { path: "^src/" },
      to: { couldNotResolve: true },
    },
    ...LAYERS.flatMap((layer, index) => layer.map((dir) => rulesFor(dir, index))).flat(),
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // A type import is knowledge of the other module as much as a value import: count it.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
  },
};
