import { cloudDescriptor } from "../descriptor.js";
import { S3_CAPABILITIES, S3_SEED_CLASSES } from "./s3-classes.js";
import { s3OptionsSchema } from "./s3-options.js";

/** Amazon S3 and S3-compatible stores (Ceph RGW, MinIO): `s3://bucket/prefix`. */
export const s3 = cloudDescriptor({
  kind: "s3",
  scheme: "s3",
  bucketRule: {
    pattern: /^(?!xn--)(?!.*\.\.)(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
    rule: "3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit",
    noun: "bucket",
  },
  options: { key: "s3", schema: s3OptionsSchema },
  caps: S3_CAPABILITIES,
  seedClasses: S3_SEED_CLASSES,
  priceProfile: "aws",
  service: (options) => [options.endpoint],
  // The SDK is large: loaded only when a location needs it.
  async open(location, options) {
    const { S3Backend } = await import("./s3-backend.js");
    return S3Backend.open(location, options);
  },
});
