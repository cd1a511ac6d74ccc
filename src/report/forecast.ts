import type { CatalogDb } from "../catalog/db.js";
import type { Config } from "../policy/config-schema.js";
import type { Forecast } from "./model.js";

// Placeholder until the cost-now branch lands: the agreed signature only.
export async function forecastCosts(
  _catalog: CatalogDb,
  _config: Config,
  _options: { months: number; now: number },
): Promise<Forecast> {
  throw new Error("forecastCosts: not built yet");
}
