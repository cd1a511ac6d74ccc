import * as z from "zod";

/** A location's `gcs:` settings; credentials come from Application Default Credentials or a key file. */
export const gcsOptionsSchema = z
  .object({
    projectId: z.string().optional(),
    /** A service-account key file; default: Application Default Credentials. */
    keyFile: z.string().optional(),
    /** The JSON API endpoint, for emulators and stand-ins. */
    apiEndpoint: z.url().optional(),
  })
  .strict();

export type GcsOptions = z.infer<typeof gcsOptionsSchema>;
