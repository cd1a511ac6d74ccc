import type { Config } from "../policy/config-schema.js";
import type { Growth, PairRate, ScheduleNeed } from "./model.js";

// Placeholder until the plan-facts branch lands: the agreed signature only.
export function scheduleNeeds(
  _config: Config,
  _options: { growth: Growth[]; rates: PairRate[]; now: number },
): ScheduleNeed[] {
  throw new Error("scheduleNeeds: not built yet");
}
