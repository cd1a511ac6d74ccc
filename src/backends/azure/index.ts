import { cloudDescriptor } from "../descriptor.js";
import { AZURE_CAPABILITIES, AZURE_SEED_CLASSES } from "./azure-classes.js";
import { azureOptionsSchema } from "./azure-options.js";

/** Azure Blob Storage: `az://container/prefix`. */
export const azure = cloudDescriptor({
  kind: "azure",
  scheme: "az",
  bucketRule: {
    pattern: /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/,
    rule: "3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit",
    noun: "container",
  },
  options: { key: "azure", schema: azureOptionsSchema },
  caps: AZURE_CAPABILITIES,
  seedClasses: AZURE_SEED_CLASSES,
  priceProfile: "azure",
  service: (options) => [options.account, options.endpoint],
  // The SDK is large: loaded only when a location needs it.
  async open(location, options) {
    const { AzureBackend } = await import("./azure-backend.js");
    return AzureBackend.open(location, options);
  },
});
