import type * as z from "zod";
import { backendOptionSchemas } from "../backends/all.js";
import { codecSettingSchema } from "../codec/choose.js";
import { configSchemaOf, locationSchemaOf } from "../config/schema.js";
import { costsSchema } from "../cost/costs-config.js";
import { priceOverrideSchema } from "../cost/override.js";
import { alertsSchema } from "./alerts-config.js";
import { policySchema } from "./schema.js";

/*
 * strata.yaml's schema, assembled by config/ from the input schemas that live beside their
 * domains: each backend's options section, a location's `price:`, the policy language, the
 * cost analysis's `costs:`, the `alerts:` Strata evaluates itself, a location's `codec:`. Here, at the layer that sees
 * them all, so that config/ imports none of them.
 */
const parts = {
  backendOptions: backendOptionSchemas(),
  price: priceOverrideSchema,
  policy: policySchema,
  costs: costsSchema,
  alerts: alertsSchema,
  codec: codecSettingSchema,
};

export const locationSchema = locationSchemaOf(parts);
export const configSchema = configSchemaOf(parts);

export type Config = z.infer<typeof configSchema>;
export type LocationConfig = z.infer<typeof locationSchema>;
