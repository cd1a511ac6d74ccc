import { existsSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import { UsageError } from "../config/errors.js";
import { DEFAULT_CONFIG_FILE } from "../config/load.js";

const STARTER = `# strata.yaml: where Strata keeps its catalog and which places it manages.
# Every key is optional; \`strata --help\` lists the commands.

# The catalog: a SQLite file (relative to this file) or postgres://user@host/db.
# STRATA_CATALOG or --catalog override it.
catalog: .strata/catalog.db

# Locations: a name for each place data lives. A URL is a path or file:///abs/path (a POSIX
# tree: Lustre, GPFS, BeeGFS, ...), or local:dir / local:///abs/dir (the embedded object store).
locations:
  scratch:
    url: ./data
  archive:
    url: local:.strata/store
    # Storage class for new objects (local store: STANDARD, STANDARD_IA, GLACIER, ...).
    class: STANDARD
    # Tags stored with every object written here.
    tags:
      project: my-project
    # Embedded store only: how long a restore from GLACIER takes.
    restoreDelay: 10s

defaults:
  transfers: auto     # files in flight: auto = 16 from trees, 32 from object stores, 4 large; or a number
  scanThreads: 2      # walker threads; raise on parallel filesystems with slow stats
  retries: 4          # per item, with exponential backoff
  maxDeleteShare: 0.25  # sync --delete and pruning refuse to remove more than this share without --force
  maxBuffer: 96MiB      # one cap on bytes buffered by all transfers in flight (parts, blocks)

history:
  retention: 400d     # how long \`strata log\` keeps events (or: forever)
`;

export function registerInit(program: Command): void {
  program
    .command("init")
    .description(`write a commented starter ${DEFAULT_CONFIG_FILE} in the current directory`)
    .option("--force", "overwrite an existing file", false)
    .action((opts: { force: boolean }) => {
      const file = resolve(program.opts<{ config?: string }>().config ?? DEFAULT_CONFIG_FILE);
      if (existsSync(file) && !opts.force) throw new UsageError(`${file} exists; pass --force to overwrite it`);
      writeFileSync(file, STARTER);
      process.stdout.write(`Wrote ${file}\n`);
    });
}
