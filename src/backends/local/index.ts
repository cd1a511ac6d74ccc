import type { BackendDescriptor, DirectoryLocation } from "../descriptor.js";
import { absoluteDirectory, relativeDirectory } from "../descriptor.js";
import { S3_CAPABILITIES, S3_SEED_CLASSES } from "../s3/s3-classes.js";
import { LocalStoreBackend } from "./local-backend.js";

/**
 * The embedded object store: `local:///abs/dir`, or `local:dir` relative like a plain path (the
 * quick start's short form). It behaves like a bucket and uses S3's class names, so a policy
 * written against it carries over to S3 unchanged.
 */
export const local: BackendDescriptor<DirectoryLocation<"local">, undefined> = {
  kind: "local",
  schemes: ["local"],
  parse: (text, scheme = "local", baseDir) =>
    text.startsWith(`${scheme}://`)
      ? absoluteDirectory("local", scheme, text)
      : relativeDirectory("local", "local", text.slice(scheme.length + 1), baseDir),
  options: undefined,
  caps: S3_CAPABILITIES,
  seedClasses: S3_SEED_CLASSES,
  priceProfile: "local",
  onThisMachine: true,
  fileTree: false,
  open: (location, settings) =>
    LocalStoreBackend.open(location.root, location.url, { restoreDelayMs: settings.restoreDelay }),
};
