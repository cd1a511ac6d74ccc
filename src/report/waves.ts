import type { CatalogDb } from "../catalog/db.js";
import type { Config } from "../policy/config-schema.js";
import type { MigrationWave, PairRate } from "./model.js";

// Placeholder until the plan-facts branch lands: the agreed signature only.
export async function migrationWaves(
  _catalog: CatalogDb,
  _config: Config,
  _options: { now: number; rates: PairRate[] },
): Promise<MigrationWave[]> {
  throw new Error("migrationWaves: not built yet");
}
