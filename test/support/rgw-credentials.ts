import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RgwWithBuckets } from "./rgw-server.js";
import { tempDir } from "./tmp.js";

// Apart from rgw-server.ts, which the benches import outside vitest: tempDir registers a vitest hook.

/**
 * Credentials where the SDK's standard chain finds them, for backends opened in this process:
 * RGW's in the environment, and a shared credentials file whose profile "wrong" RGW refuses.
 */
export function useRgwCredentials(rgw: RgwWithBuckets): void {
  Object.assign(process.env, rgw.env);
  const profiles = join(tempDir(), "credentials");
  writeFileSync(profiles, "[wrong]\naws_access_key_id = nobody\naws_secret_access_key = nothing\n");
  process.env.AWS_SHARED_CREDENTIALS_FILE = profiles;
}
