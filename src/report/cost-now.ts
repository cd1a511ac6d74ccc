import type { CatalogDb } from "../catalog/db.js";
import type { Config } from "../policy/config-schema.js";
import type { CostDimension, CostNow } from "./model.js";

// Placeholder until the cost-now branch lands: the agreed signature only.
export async function costNow(
  _catalog: CatalogDb,
  _config: Config,
  _options: { by: CostDimension[]; now: number },
): Promise<CostNow> {
  throw new Error("costNow: not built yet");
}
