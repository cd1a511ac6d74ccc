import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { isMap, LineCounter, parseDocument } from "yaml";
import type { z } from "zod";
import { UsageError } from "./errors.js";
import { type Config, configSchema } from "./schema.js";

export const DEFAULT_CONFIG_FILE = "strata.yaml";
export const DEFAULT_CATALOG = ".strata/catalog.db";

export interface LoadedConfig {
  config: Config;
  /** The file it came from, or undefined when running on defaults alone. */
  file?: string;
  /** Where relative paths in the config are taken from. */
  baseDir: string;
  /** The catalog URL after flags, environment and config have had their say. */
  catalogUrl: string;
}

export interface ConfigSources {
  configFlag?: string;
  catalogFlag?: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** Flags beat environment, environment beats the config file, the file beats defaults. */
export function loadConfig(sources: ConfigSources): LoadedConfig {
  // An empty variable is as good as unset, as shells and CI templates often leave them.
  const named = sources.configFlag ?? (sources.env.STRATA_CONFIG || undefined);
  const file = named ? resolve(sources.cwd, named) : existingDefault(sources.cwd);
  if (named && !existsSync(file as string)) {
    const origin = sources.configFlag ? "--config" : "STRATA_CONFIG";
    throw new UsageError(`${origin}: no config file at ${file}`);
  }
  const config = file ? parseConfigFile(file) : configSchema.parse({});
  const baseDir = file ? dirname(file) : sources.cwd;
  const catalogUrl =
    sources.catalogFlag ??
    (sources.env.STRATA_CATALOG || undefined) ??
    (config.catalog ? resolveCatalog(config.catalog, baseDir) : resolve(sources.cwd, DEFAULT_CATALOG));
  return { config, file, baseDir, catalogUrl };
}

function existingDefault(cwd: string): string | undefined {
  const candidate = resolve(cwd, DEFAULT_CONFIG_FILE);
  return existsSync(candidate) ? candidate : undefined;
}

function resolveCatalog(catalog: string, baseDir: string): string {
  return /^[a-z]+:\/\//i.test(catalog) ? catalog : resolve(baseDir, catalog.replace(/^sqlite:/, ""));
}

/** Parses YAML and validates it; every error names the file, line, column and key. */
export function parseConfigFile(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`${file}: cannot read: ${(err as Error).message}`);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const at = lineCounter.linePos(yamlError.pos[0]);
    throw new UsageError(`${file}:${at.line}:${at.col}: ${yamlError.message.split("\n")[0]}`);
  }
  const raw = doc.toJS() ?? {};
  if (!isMap(doc.contents) && doc.contents !== null) {
    throw new UsageError(`${file}:1:1: the config must be a mapping of keys (catalog, locations, defaults)`);
  }
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  throw new UsageError(result.error.issues.map((issue) => describeIssue(file, doc, lineCounter, issue)).join("\n"));
}

function describeIssue(
  file: string,
  doc: ReturnType<typeof parseDocument>,
  lineCounter: LineCounter,
  issue: z.core.$ZodIssue,
): string {
  const path = issue.path.map(String);
  // Unknown keys are reported on their parent; point at the offending key itself.
  const keys = issue.code === "unrecognized_keys" ? issue.keys : [undefined];
  return keys
    .map((extra) => {
      const fullPath = extra === undefined ? path : [...path, extra];
      const at = locate(doc, lineCounter, fullPath);
      const where = at ? `${file}:${at.line}:${at.col}` : file;
      const key = fullPath.join(".") || "(top level)";
      const message = extra === undefined ? issue.message : `unknown key "${extra}"`;
      return `${where}: ${key}: ${message}`;
    })
    .join("\n");
}

/** The position of the deepest node along `path` that exists, key first. */
function locate(doc: ReturnType<typeof parseDocument>, lineCounter: LineCounter, path: string[]) {
  for (let depth = path.length; depth >= 0; depth--) {
    const parentPath = path.slice(0, depth - 1);
    const parent = depth === 0 ? undefined : doc.getIn(parentPath, true);
    if (isMap(parent)) {
      const pair = parent.items.find((item) => String((item.key as { value?: unknown })?.value) === path[depth - 1]);
      const range = (pair?.key as { range?: [number, number, number] } | undefined)?.range;
      if (range) return lineCounter.linePos(range[0]);
    }
  }
  return undefined;
}
