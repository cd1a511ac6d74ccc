import type { CatalogDb } from "../catalog/db.js";
import type { Config } from "../policy/config-schema.js";
import type { Comparison, RecallScenario } from "./model.js";

// Placeholder until the compare branch lands: the agreed signature only.
export async function compareCosts(
  _catalog: CatalogDb,
  _config: Config,
  _options: { recall: RecallScenario; now: number },
): Promise<Comparison> {
  throw new Error("compareCosts: not built yet");
}
