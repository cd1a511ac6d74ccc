import { dirname, isAbsolute, resolve } from "node:path";
import {
  type ConfigRules,
  type ConfigSources,
  type LoadedConfig,
  loadConfig,
  parseConfigFile,
} from "../config/load.js";
import { type Config, configSchema } from "./config-schema.js";
import { type Policy, policyFileSchema } from "./schema.js";
import { checkPolicies } from "./validate.js";

/** How strata.yaml is read: its schema, its included policy files, and the policies' cross-checks. */
export const STRATA_CONFIG: ConfigRules<Policy, Config> = {
  schema: configSchema,
  policyFile: policyFileSchema,
  withPathsFrom,
  check: checkPolicies,
};

/** Flags beat environment, environment beats the config file, the file beats defaults. */
export function loadStrataConfig(sources: ConfigSources): LoadedConfig<Config> {
  return loadConfig(sources, STRATA_CONFIG);
}

/** Parses and validates one strata.yaml with the policy files it includes. */
export function parseStrataConfig(file: string): Config {
  return parseConfigFile(file, STRATA_CONFIG);
}

/** Relative paths in a policy are taken from the file that says them. */
function withPathsFrom(policy: Policy, file: string): Policy {
  const notices = policy.purge?.notices;
  if (!policy.purge || notices === undefined || isAbsolute(notices)) return policy;
  return { ...policy, purge: { ...policy.purge, notices: resolve(dirname(file), notices) } };
}
