import type { CatalogDb } from "../catalog/db.js";
import type { Config } from "../policy/config-schema.js";

/** Prometheus text exposition of Strata's metrics, read from catalog summaries only. */
export interface MetricsSource {
  contentType: string;
  render(): Promise<string>;
}

// Placeholder until the metrics branch lands: the agreed signature only.
export function createMetrics(_catalog: CatalogDb, _config: Config): MetricsSource {
  throw new Error("createMetrics: not built yet");
}
