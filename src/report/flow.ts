import type { Config } from "../policy/config-schema.js";
import type { DataFlow } from "./model.js";

// Placeholder until the plan-facts branch lands: the agreed signature only.
export function dataFlow(_config: Config): DataFlow {
  throw new Error("dataFlow: not built yet");
}
