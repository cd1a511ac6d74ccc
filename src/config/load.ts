import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { isMap, isSeq, LineCounter, parseDocument } from "yaml";
import type * as z from "zod";
import { UsageError } from "./errors.js";

export const DEFAULT_CONFIG_FILE = "strata.yaml";
export const DEFAULT_CATALOG = ".strata/catalog.db";

/** What config/ needs of a config: where its catalog is, the policy files it includes, its policies. */
export interface LoadableConfig<Policy = unknown> {
  catalog?: string | undefined;
  include: string[];
  policies: Policy[];
}

/** Where a key of a config or policy file was written, for messages. */
export interface KeyOrigin {
  file: string;
  /** `file:line:col` of a key below this origin (or of the deepest part of it that exists). */
  position(key: readonly (string | number)[]): string;
  /** The key as the file spells it from its top: `policies.2.place.0.to`. */
  keyPath(key: readonly (string | number)[]): string;
}

/**
 * The rules of one config format, handed in by its caller: the schema (assembled from the
 * domains' input schemas), the schema of an included policy file, how a policy takes relative
 * paths from its file, and the cross-checks of the whole (each problem reported at its origin).
 */
export interface ConfigRules<Policy, C extends LoadableConfig<Policy>> {
  schema: z.ZodType<C, unknown>;
  policyFile: z.ZodType<{ policies: Policy[] }, unknown>;
  withPathsFrom(policy: Policy, file: string): Policy;
  check(config: C, origins: readonly KeyOrigin[]): void;
}

export interface LoadedConfig<C = unknown> {
  config: C;
  /** The file it came from, or undefined when running on defaults alone. */
  file?: string;
  /** Where relative paths in the config are taken from. */
  baseDir: string;
  /** The catalog URL after flags, environment and config have had their say. */
  catalogUrl: string;
  /** `file:line:col` of a key of the config file, for errors found after loading. */
  position(path: readonly (string | number)[]): string;
}

export interface ConfigSources {
  configFlag?: string;
  catalogFlag?: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** Flags beat environment, environment beats the config file, the file beats defaults. */
export function loadConfig<Policy, C extends LoadableConfig<Policy>>(
  sources: ConfigSources,
  rules: ConfigRules<Policy, C>,
): LoadedConfig<C> {
  // An empty variable is as good as unset, as shells and CI templates often leave them.
  const named = sources.configFlag ?? (sources.env.STRATA_CONFIG || undefined);
  const file = named ? resolve(sources.cwd, named) : existingDefault(sources.cwd);
  if (named && !existsSync(file as string)) {
    const origin = sources.configFlag ? "--config" : "STRATA_CONFIG";
    throw new UsageError(`${origin}: no config file at ${file}`);
  }
  const read = file ? readConfigFile(file, rules) : { config: rules.schema.parse({}), position: () => "(defaults)" };
  const { config, position } = read;
  const baseDir = file ? dirname(file) : sources.cwd;
  const catalogUrl =
    sources.catalogFlag ??
    (sources.env.STRATA_CATALOG || undefined) ??
    (config.catalog ? resolveCatalog(config.catalog, baseDir) : resolve(sources.cwd, DEFAULT_CATALOG));
  return { config, file, baseDir, catalogUrl, position };
}

function existingDefault(cwd: string): string | undefined {
  const candidate = resolve(cwd, DEFAULT_CONFIG_FILE);
  return existsSync(candidate) ? candidate : undefined;
}

function resolveCatalog(catalog: string, baseDir: string): string {
  return /^[a-z]+:\/\//i.test(catalog) ? catalog : resolve(baseDir, catalog.replace(/^sqlite:/, ""));
}

/**
 * Parses YAML and validates it, with the policy files it includes (paths relative to it); every
 * error names the file, line, column and key.
 */
export function parseConfigFile<Policy, C extends LoadableConfig<Policy>>(
  file: string,
  rules: ConfigRules<Policy, C>,
): C {
  return readConfigFile(file, rules).config;
}

function readConfigFile<Policy, C extends LoadableConfig<Policy>>(
  file: string,
  rules: ConfigRules<Policy, C>,
): { config: C; position: YamlFile["position"] } {
  const main = readYaml(file, "the config must be a mapping of keys (catalog, locations, defaults, policies)");
  const config = validated(main, rules.schema);
  const policies = config.policies.map((policy, i) => ({ policy, origin: originOf(main, ["policies", i]) }));
  config.include.forEach((entry, i) => {
    const path = resolve(dirname(file), entry);
    if (!existsSync(path)) {
      throw new UsageError(`${main.position(["include", i])}: include.${i}: no policy file at ${path}`);
    }
    const included = readYaml(path, "a policy file must be a mapping with one key, policies");
    validated(included, rules.policyFile).policies.forEach((policy, j) => {
      policies.push({ policy, origin: originOf(included, ["policies", j]) });
    });
  });
  const merged: C = {
    ...config,
    policies: policies.map(({ policy, origin }) => rules.withPathsFrom(policy, origin.file)),
  };
  rules.check(
    merged,
    policies.map(({ origin }) => origin),
  );
  return { config: merged, position: main.position };
}

interface YamlFile {
  file: string;
  doc: ReturnType<typeof parseDocument>;
  lineCounter: LineCounter;
  raw: unknown;
  /** `file:line:col` of a key (or of the deepest part of its path that exists). */
  position(path: readonly (string | number)[]): string;
}

function readYaml(file: string, notAMapping: string): YamlFile {
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
  if (!isMap(doc.contents) && doc.contents !== null) throw new UsageError(`${file}:1:1: ${notAMapping}`);
  const position = (path: readonly (string | number)[]) => {
    const at = locate(doc, lineCounter, path.map(String));
    return at ? `${file}:${at.line}:${at.col}` : file;
  };
  return { file, doc, lineCounter, raw: doc.toJS() ?? {}, position };
}

function validated<T>(yaml: YamlFile, schema: z.ZodType<T, unknown>): T {
  const result = schema.safeParse(yaml.raw);
  if (result.success) return result.data;
  throw new UsageError(
    result.error.issues.map((issue) => describeIssue(yaml.file, yaml.doc, yaml.lineCounter, issue)).join("\n"),
  );
}

function originOf(yaml: YamlFile, at: readonly (string | number)[]): KeyOrigin {
  return {
    file: yaml.file,
    position: (key) => yaml.position([...at, ...key]),
    keyPath: (key) => [...at, ...key].join("."),
  };
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
    if (isSeq(parent)) {
      const item = parent.items[Number(path[depth - 1])] as { range?: [number, number, number] } | undefined;
      if (item?.range) return lineCounter.linePos(item.range[0]);
    }
  }
  return undefined;
}
