import { isAbsolute, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type * as z from "zod";
import type { Backend, Capabilities } from "./backend.js";

/**
 * What the rest of the program asks of one kind of backend, without opening one: how its URLs
 * read, what its options are, its storage classes, the seed rule's classes, its price profile
 * and the facts callers decide on. `all.ts` lists them; nothing outside `backends/` names a kind.
 */
export interface BackendDescriptor<
  L extends AnyLocation = AnyLocation,
  O extends BackendOptionsSection | undefined = BackendOptionsSection | undefined,
> {
  /** The name the catalog records as a location's kind. */
  readonly kind: L["kind"];
  /** URL schemes, without the colon, that this backend serves. */
  readonly schemes: readonly string[];
  /** Serves plain paths (no scheme), relative to the config's directory. */
  readonly plainPaths?: boolean;
  /** Takes apart a URL of one of its schemes (or a plain path, with `plainPaths`). */
  parse(text: string, scheme: string | undefined, baseDir: string): L;
  /** Its section of a location's settings (`s3:`, `azure:`, `gcs:`) and that section's zod schema, if it has one. */
  readonly options: O;
  /** Storage classes (the first the default) and archive classes, as every backend of the kind has them. */
  readonly caps: Capabilities;
  /** The seed rule's classes in this backend's names; absent where there are no classes to choose. */
  readonly seedClasses?: SeedClasses;
  /**
   * The built-in price profile its URLs imply (a name of `src/cost/prices`: aws, azure, gcs,
   * local, onprem). A name, not the table: prices are the cost model's, and cost reads backends,
   * not the other way round.
   */
  readonly priceProfile: string;
  /**
   * The bytes are on this machine: reading them again is cheap (sync compares touched files by
   * content) and no request-rate cap (`tps`) applies.
   */
  readonly onThisMachine: boolean;
  /** Its keys are files of a local tree (Backend.tree): absolute paths inside it name its files. */
  readonly fileTree: boolean;
  /** Which server holds the bucket, as far as the settings say: locations on different ones never overlap. */
  service?(settings: OpenSettings): string;
  open(location: L, settings: OpenSettings): Promise<Backend>;
}

export interface BackendOptionsSection<K extends string = string, S extends z.ZodType = z.ZodType> {
  /** The key of a location's settings holding them. */
  readonly key: K;
  readonly schema: S;
}

/** A location's settings as its backend reads them: the test delay of restores and its options section. */
export interface OpenSettings {
  restoreDelay: number;
  readonly [section: string]: unknown;
}

/** The seed rule's three classes: archive, infrequent access, standard. */
export interface SeedClasses {
  archive: string;
  cool: string;
  hot: string;
}

/** A location URL taken apart, of any kind (all.ts's ParsedLocation names the kinds there are). */
export type AnyLocation = DirectoryLocation | CloudLocation;

export interface DirectoryLocation<K extends string = string> {
  kind: K;
  /** The URL in its one canonical spelling, the location's identity in the catalog. */
  url: string;
  /** The absolute directory. */
  root: string;
}

export interface CloudLocation<K extends string = string> {
  kind: K;
  url: string;
  /** Bucket (S3, GCS) or container (Azure). */
  bucket: string;
  /** Key prefix without a trailing slash; "" for the whole bucket. */
  prefix: string;
}

export class LocationUrlError extends Error {}

/** A provider's documented bucket (container) naming rule, checked before any request. */
export interface BucketRule {
  pattern: RegExp;
  rule: string;
  /** What the provider calls a bucket. */
  noun: string;
}

/** What makes one cloud backend, the rest being what every cloud backend shares. */
export interface CloudSpec<K extends string, S extends z.ZodType> {
  kind: K;
  /** Its one URL scheme: `scheme://bucket/prefix`. */
  scheme: string;
  bucketRule: BucketRule;
  /** Its options section's key in a location's settings, and the section's schema. */
  options: BackendOptionsSection<K, S>;
  caps: Capabilities;
  seedClasses: SeedClasses;
  priceProfile: string;
  /** Which server holds the bucket, from the options (endpoint, account). */
  service(options: z.output<S>): unknown[];
  /** Opens the backend (loading its SDK only now) with its options, defaults filled in. */
  open(location: CloudLocation<K>, options: z.output<S>): Promise<Backend>;
}

/** A cloud backend's descriptor: bucket URLs, options read from its own section, data elsewhere. */
export function cloudDescriptor<K extends string, S extends z.ZodType>(
  spec: CloudSpec<K, S>,
): BackendDescriptor<CloudLocation<K>, BackendOptionsSection<K, S>> {
  const optionsOf = (settings: OpenSettings): z.output<S> =>
    spec.options.schema.parse(settings[spec.options.key] ?? {});
  return {
    kind: spec.kind,
    schemes: [spec.scheme],
    parse: (text, scheme = spec.scheme) => parseCloudUrl(text, scheme, spec.kind, spec.bucketRule),
    options: spec.options,
    caps: spec.caps,
    seedClasses: spec.seedClasses,
    priceProfile: spec.priceProfile,
    onThisMachine: false,
    fileTree: false,
    service: (settings) => JSON.stringify(spec.service(optionsOf(settings))),
    open: (location, settings) => spec.open(location, optionsOf(settings)),
  };
}

/** `scheme://bucket/prefix`, the bucket checked against the provider's rule. */
export function parseCloudUrl<K extends string>(text: string, scheme: string, kind: K, rule: BucketRule) {
  const match = new RegExp(`^${scheme}://([^/]*)/?(.*)$`, "i").exec(text);
  const bucket = match?.[1] ?? "";
  const prefix = (match?.[2] ?? "").replace(/\/+$/, "");
  if (!rule.pattern.test(bucket)) {
    throw new LocationUrlError(`${text}: "${bucket}" is not a valid ${rule.noun} name (${rule.rule})`);
  }
  const location: CloudLocation<K> = {
    kind,
    url: `${scheme}://${bucket}${prefix ? `/${prefix}` : ""}`,
    bucket,
    prefix,
  };
  return location;
}

/** A directory given as a path relative to `baseDir`. */
export function relativeDirectory<K extends string>(kind: K, scheme: string, path: string, baseDir: string) {
  const root = stripTrailingSlash(resolve(baseDir, path));
  const location: DirectoryLocation<K> = { kind, url: canonicalUrl(scheme, root), root };
  return location;
}

/** A directory given as `scheme:///abs/path` (file:// is standard; local:/// follows it). */
export function absoluteDirectory<K extends string>(kind: K, scheme: string, text: string) {
  const root = stripTrailingSlash(pathFromUrl(text, scheme));
  const location: DirectoryLocation<K> = { kind, url: canonicalUrl(scheme, root), root };
  return location;
}

function pathFromUrl(text: string, scheme: string): string {
  // Percent-escapes are decoded.
  const asFile = `file:${text.slice(scheme.length + 1)}`;
  let path: string;
  try {
    path = fileURLToPath(asFile);
  } catch (err) {
    throw new LocationUrlError(`${text}: ${(err as Error).message}`);
  }
  if (!isAbsolute(path)) throw new LocationUrlError(`${text}: the path must be absolute`);
  return path;
}

function canonicalUrl(scheme: string, root: string): string {
  return `${scheme}:${pathToFileURL(root).href.slice("file:".length)}`;
}

function stripTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}
