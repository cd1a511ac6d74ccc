import * as z from "zod";
import { sizeBytes } from "../../config/units-schema.js";

/**
 * A location's `azure:` settings. Credentials come from the environment only (a connection
 * string, a shared key or SAS token, DefaultAzureCredential), never from the config.
 */
export const azureOptionsSchema = z
  .object({
    /** The storage account; else AZURE_STORAGE_ACCOUNT or the connection string's. */
    account: z.string().optional(),
    /** The blob service URL, for Azurite or sovereign clouds; default https://<account>.blob.core.windows.net. */
    endpoint: z.url().optional(),
    blockSize: sizeBytes.optional(),
    concurrency: z.number().int().min(1).max(64).default(4),
  })
  .strict();

export type AzureOptions = z.infer<typeof azureOptionsSchema>;
