import { LocalStoreBackend } from "../../src/backends/local/local-backend.js";
import { tempDir } from "../support/tmp.js";
import { backendContract } from "./contract.js";

const RESTORE_DELAY_MS = 300;

backendContract({
  name: "local (embedded object store)",
  restoreDelayMs: RESTORE_DELAY_MS,
  make: async () => {
    const dir = tempDir();
    return LocalStoreBackend.open(dir, `local://${dir}`, { restoreDelayMs: RESTORE_DELAY_MS });
  },
});
