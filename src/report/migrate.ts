import type { CatalogDb } from "../catalog/db.js";
import type { Config } from "../policy/config-schema.js";
import type { MigrationEstimate } from "./model.js";

// Placeholder until the compare branch lands: the agreed signature only.
export async function estimateMigration(
  _catalog: CatalogDb,
  _config: Config,
  _options: { from: string; to: string; toClass?: string; now: number },
): Promise<MigrationEstimate> {
  throw new Error("estimateMigration: not built yet");
}
