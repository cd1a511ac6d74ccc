import type { BackendDescriptor, BackendOptionsSection, CloudLocation, OpenSettings } from "../descriptor.js";
import { parseCloudUrl } from "../descriptor.js";
import { AZURE_CAPABILITIES, AZURE_SEED_CLASSES } from "./azure-classes.js";
import { type AzureOptions, azureOptionsSchema } from "./azure-options.js";

/** The location's `azure:` section, defaults filled in. */
function optionsOf(settings: OpenSettings): AzureOptions {
  return azureOptionsSchema.parse(settings.azure ?? {});
}

/** Azure Blob Storage: `az://container/prefix`. */
export const azure: BackendDescriptor<
  CloudLocation<"azure">,
  BackendOptionsSection<"azure", typeof azureOptionsSchema>
> = {
  kind: "azure",
  schemes: ["az"],
  parse: (text, scheme = "az") =>
    parseCloudUrl(text, scheme, "azure", {
      pattern: /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/,
      rule: "3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit",
      noun: "container",
    }),
  options: { key: "azure", schema: azureOptionsSchema },
  caps: AZURE_CAPABILITIES,
  seedClasses: AZURE_SEED_CLASSES,
  priceProfile: "azure",
  onThisMachine: false,
  fileTree: false,
  service: (settings) => {
    const options = optionsOf(settings);
    return JSON.stringify([options.account, options.endpoint]);
  },
  // The SDK is large: loaded only when a location needs it.
  async open(location, settings) {
    const { AzureBackend } = await import("./azure-backend.js");
    return AzureBackend.open(location, optionsOf(settings));
  },
};
