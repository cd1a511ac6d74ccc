import type { BackendDescriptor, BackendOptionsSection, CloudLocation, OpenSettings } from "../descriptor.js";
import { parseCloudUrl } from "../descriptor.js";
import { GCS_CAPABILITIES, GCS_SEED_CLASSES } from "./gcs-classes.js";
import { type GcsOptions, gcsOptionsSchema } from "./gcs-options.js";

/** The location's `gcs:` section, defaults filled in. */
function optionsOf(settings: OpenSettings): GcsOptions {
  return gcsOptionsSchema.parse(settings.gcs ?? {});
}

/** Google Cloud Storage: `gs://bucket/prefix`. */
export const gcs: BackendDescriptor<CloudLocation<"gcs">, BackendOptionsSection<"gcs", typeof gcsOptionsSchema>> = {
  kind: "gcs",
  schemes: ["gs"],
  parse: (text, scheme = "gs") =>
    parseCloudUrl(text, scheme, "gcs", {
      pattern: /^(?!goog)[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/,
      rule: "3 to 63 lowercase letters, digits, dots, hyphens and underscores, starting and ending with a letter or digit",
      noun: "bucket",
    }),
  options: { key: "gcs", schema: gcsOptionsSchema },
  caps: GCS_CAPABILITIES,
  seedClasses: GCS_SEED_CLASSES,
  priceProfile: "gcs",
  onThisMachine: false,
  fileTree: false,
  service: (settings) => {
    const options = optionsOf(settings);
    return JSON.stringify([options.apiEndpoint]);
  },
  // The SDK is large: loaded only when a location needs it.
  async open(location, settings) {
    const { GcsBackend } = await import("./gcs-backend.js");
    return GcsBackend.open(location, optionsOf(settings));
  },
};
