import { azure } from "./azure/index.js";
import type { Backend } from "./backend.js";
import {
  type BackendDescriptor,
  type BackendOptionsSection,
  LocationUrlError,
  type OpenSettings,
} from "./descriptor.js";
import { gcs } from "./gcs/index.js";
import { local } from "./local/index.js";
import { posix } from "./posix/index.js";
import { s3 } from "./s3/index.js";

/** Every backend Strata has: the one place a new one is added. */
export const BACKENDS = [posix, local, s3, azure, gcs] as const;

/** A location URL taken apart, as one of the backends above reads it. */
export type ParsedLocation = ReturnType<(typeof BACKENDS)[number]["parse"]>;
export type BackendKind = ParsedLocation["kind"];

export {
  type BackendDescriptor,
  type CloudLocation,
  type DirectoryLocation,
  LocationUrlError,
  type OpenSettings,
  type SeedClasses,
} from "./descriptor.js";

/** The descriptor of a kind the catalog recorded. */
export function descriptorOf(kind: string): BackendDescriptor {
  const found = BACKENDS.find((descriptor) => descriptor.kind === kind);
  if (!found) throw new Error(`no backend of kind ${JSON.stringify(kind)}`);
  return found;
}

type Descriptor = (typeof BACKENDS)[number];

/** Each backend's options section of a location's settings, by key, with its zod schema. */
export type BackendOptionSchemas = {
  [D in Descriptor as D extends { options: BackendOptionsSection<infer K> } ? K : never]: D extends {
    options: BackendOptionsSection<string, infer S>;
  }
    ? S
    : never;
};

/** The sections of a location's settings that hold backends' options (`s3:`, `azure:`, …) and their schemas. */
export function backendOptionSchemas(): BackendOptionSchemas {
  const sections = BACKENDS.flatMap((d) => (d.options ? [[d.options.key, d.options.schema] as const] : []));
  return Object.fromEntries(sections) as BackendOptionSchemas;
}

/**
 * Accepts a plain path (relative to `baseDir`), `file:///abs/path`, `local:///abs/dir`,
 * `local:relative/dir`, `s3://bucket/prefix`, `gs://bucket/prefix` or `az://container/prefix`.
 */
export function parseLocationUrl(text: string, baseDir = process.cwd()): ParsedLocation {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase();
  const descriptor = BACKENDS.find((d) => (scheme === undefined ? d.plainPaths === true : d.schemes.includes(scheme)));
  if (!descriptor) {
    const known = BACKENDS.flatMap((d) => d.schemes.map((s) => `${s}:`)).join(", ");
    throw new LocationUrlError(`${text}: unknown location scheme "${scheme}:" (expected a path or ${known})`);
  }
  return descriptor.parse(text, scheme, baseDir);
}

/** Opens the backend serving a location, with its settings (`restoreDelay`, its options section). */
export function openBackend(location: ParsedLocation, settings: OpenSettings): Promise<Backend> {
  return descriptorOf(location.kind).open(location, settings);
}

/**
 * Which server a location's data lives on, as far as its settings say: two locations of one
 * kind and bucket on different servers never overlap.
 */
export function serviceOf(location: ParsedLocation, settings: OpenSettings): string {
  return descriptorOf(location.kind).service?.(settings) ?? "";
}
