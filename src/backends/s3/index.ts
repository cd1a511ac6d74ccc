import type { BackendDescriptor, BackendOptionsSection, CloudLocation, OpenSettings } from "../descriptor.js";
import { parseCloudUrl } from "../descriptor.js";
import { S3_CAPABILITIES, S3_SEED_CLASSES } from "./s3-classes.js";
import { type S3Options, s3OptionsSchema } from "./s3-options.js";

/** The location's `s3:` section, defaults filled in. */
function optionsOf(settings: OpenSettings): S3Options {
  return s3OptionsSchema.parse(settings.s3 ?? {});
}

/** Amazon S3 and S3-compatible stores (Ceph RGW, MinIO): `s3://bucket/prefix`. */
export const s3: BackendDescriptor<CloudLocation<"s3">, BackendOptionsSection<"s3", typeof s3OptionsSchema>> = {
  kind: "s3",
  schemes: ["s3"],
  parse: (text, scheme = "s3") =>
    parseCloudUrl(text, scheme, "s3", {
      pattern: /^(?!xn--)(?!.*\.\.)(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
      rule: "3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit",
      noun: "bucket",
    }),
  options: { key: "s3", schema: s3OptionsSchema },
  caps: S3_CAPABILITIES,
  seedClasses: S3_SEED_CLASSES,
  priceProfile: "aws",
  onThisMachine: false,
  fileTree: false,
  service: (settings) => {
    const options = optionsOf(settings);
    return JSON.stringify([options.endpoint]);
  },
  // The SDK is large: loaded only when a location needs it.
  async open(location, settings) {
    const { S3Backend } = await import("./s3-backend.js");
    return S3Backend.open(location, optionsOf(settings));
  },
};
