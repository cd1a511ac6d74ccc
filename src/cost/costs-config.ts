import * as z from "zod";
import { DEFAULT_MEDIUM_PRICES, type MediumPrice, mediumProfile } from "./prices/onprem.js";
import { ONPREM_MEDIA, type OnpremMedium, type PriceProfile } from "./profile.js";

/*
 * `costs:` in strata.yaml: the site's own figures for what `strata cost compare` prices. Each
 * on-premises medium takes its price per TB-year; its source and date say where it came from,
 * so the figure still traces to something (absent: "strata.yaml", read on the day of the report).
 */

const mediumPriceSchema = z
  .object({
    perTBYear: z.number().nonnegative().finite(),
    source: z.string().min(1, "source names where the price came from").optional(),
    asOf: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, "asOf is the date the price was read: YYYY-MM-DD")
      .optional(),
  })
  .strict();

export const costsSchema = z
  .object({
    onprem: z.object({ disk: mediumPriceSchema.optional(), tape: mediumPriceSchema.optional() }).strict().optional(),
  })
  .strict();

export type CostsConfig = z.infer<typeof costsSchema>;

/** Each medium's profile: the published default, or the config's `costs.onprem.<medium>`. */
export function mediumProfiles(costs: CostsConfig | undefined, nowMs: number): PriceProfile[] {
  return ONPREM_MEDIA.map((medium) => mediumProfile(medium, configuredPrice(costs, medium, nowMs)));
}

function configuredPrice(costs: CostsConfig | undefined, medium: OnpremMedium, nowMs: number): MediumPrice {
  const configured = costs?.onprem?.[medium];
  if (!configured) return DEFAULT_MEDIUM_PRICES[medium];
  return {
    perTBYear: configured.perTBYear,
    source: configured.source ?? `strata.yaml: costs.onprem.${medium}.perTBYear`,
    asOf: configured.asOf ?? new Date(nowMs).toISOString().slice(0, 10),
  };
}
