import { cloudDescriptor } from "../descriptor.js";
import { GCS_CAPABILITIES, GCS_SEED_CLASSES } from "./gcs-classes.js";
import { gcsOptionsSchema } from "./gcs-options.js";

/** Google Cloud Storage: `gs://bucket/prefix`. */
export const gcs = cloudDescriptor({
  kind: "gcs",
  scheme: "gs",
  bucketRule: {
    pattern: /^(?!goog)[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/,
    rule: "3 to 63 lowercase letters, digits, dots, hyphens and underscores, starting and ending with a letter or digit",
    noun: "bucket",
  },
  options: { key: "gcs", schema: gcsOptionsSchema },
  caps: GCS_CAPABILITIES,
  seedClasses: GCS_SEED_CLASSES,
  priceProfile: "gcs",
  service: (options) => [options.apiEndpoint],
  // The SDK is large: loaded only when a location needs it.
  async open(location, options) {
    const { GcsBackend } = await import("./gcs-backend.js");
    return GcsBackend.open(location, options);
  },
});
