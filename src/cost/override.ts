import * as z from "zod";
import { type BackendKind, descriptorOf } from "../backends/all.js";
import { UsageError } from "../config/errors.js";
import { sizeBytes } from "../config/units-schema.js";
import { AWS_PROFILE } from "./prices/aws.js";
import { AZURE_PROFILE } from "./prices/azure.js";
import { GCS_PROFILE } from "./prices/gcs.js";
import { LOCAL_PROFILE, ONPREM_CLASS, onpremProfile } from "./prices/local.js";
import { type ClassPrice, type LocationProfileName, PROFILE_NAMES, type PriceProfile } from "./profile.js";

const BUILT_IN: Record<Exclude<LocationProfileName, "onprem">, PriceProfile> = {
  aws: AWS_PROFILE,
  azure: AZURE_PROFILE,
  gcs: GCS_PROFILE,
  local: LOCAL_PROFILE,
};

/** The profile a location's URL implies: its backend's, by name (backends do not import prices). */
export function impliedProfile(kind: BackendKind): LocationProfileName {
  const name = descriptorOf(kind).priceProfile;
  const known = PROFILE_NAMES.find((profile) => profile === name);
  if (!known) throw new Error(`backend ${kind} names price profile ${name}, which src/cost/prices lacks`);
  return known;
}

const money = z.number().nonnegative().finite();

/** Any of a class's prices, replacing the profile's figure. */
export const classPriceOverrideSchema = z
  .object({
    storagePerGBMonth: money,
    minStorageDays: z.number().int().nonnegative(),
    minBillableBytes: sizeBytes,
    putPer1000: money,
    getPer1000: money,
    transitionPer1000: money,
    retrievalPerGB: money,
  })
  .partial()
  .strict();

/**
 * `price:` in a location of strata.yaml. Without it the profile follows the URL (s3:// → aws,
 * az:// → azure, gs:// → gcs, local: → local, a path → onprem at $10 per TB-month).
 * `perTBMonth` makes the location an on-premises store at that flat price whatever its URL
 * (a Ceph RGW bucket is an s3:// URL but no AWS bill).
 */
export const priceOverrideSchema = z
  .object({
    profile: z.enum(PROFILE_NAMES).optional(),
    perTBMonth: money.optional(),
    egressPerGB: money.optional(),
    classes: z.record(z.string(), classPriceOverrideSchema).optional(),
  })
  .strict()
  .superRefine((price, ctx) => {
    if (price.perTBMonth !== undefined && price.profile !== undefined && price.profile !== "onprem") {
      ctx.addIssue({
        code: "custom",
        path: ["perTBMonth"],
        message: `perTBMonth prices an on-premises store; it does not apply to profile ${price.profile}`,
      });
    }
    const named = namedProfile(price);
    for (const name of Object.keys(price.classes ?? {})) {
      const known = named ? classNames(baseProfile(named, price.perTBMonth)) : ALL_CLASS_NAMES;
      if (!known.includes(name)) {
        ctx.addIssue({
          code: "custom",
          path: ["classes", name],
          message: `no storage class "${name}"${named ? ` in profile ${named}` : ""} (${known.join(", ")})`,
        });
      }
    }
  });

export type PriceOverride = z.infer<typeof priceOverrideSchema>;
export type ClassPriceOverride = z.infer<typeof classPriceOverrideSchema>;

/** What profileFor needs of a location: its backend kind (from its URL), the URL, its `price:`. */
export interface PricedLocation {
  kind: BackendKind;
  url: string;
  price?: PriceOverride | undefined;
}

/** The price profile of a location: the built-in one its URL implies, merged with its `price:`. */
export function profileFor(location: PricedLocation): PriceProfile {
  const { price } = location;
  const name = namedProfile(price ?? {}) ?? impliedProfile(location.kind);
  const base = baseProfile(name, price?.perTBMonth);
  const classes: Record<string, ClassPrice> = { ...base.classes };
  for (const [className, override] of Object.entries(price?.classes ?? {})) {
    const current = classes[className];
    if (!current) {
      throw new UsageError(
        `${location.url}: price.classes.${className}: no storage class "${className}" in profile ${name} (${classNames(base).join(", ")})`,
      );
    }
    classes[className] = { ...current, ...override };
  }
  return { ...base, egressPerGB: price?.egressPerGB ?? base.egressPerGB, classes };
}

function namedProfile(price: PriceOverride): LocationProfileName | undefined {
  return price.profile ?? (price.perTBMonth === undefined ? undefined : "onprem");
}

function baseProfile(name: LocationProfileName, perTBMonth: number | undefined): PriceProfile {
  return name === "onprem" ? onpremProfile(perTBMonth) : BUILT_IN[name];
}

function classNames(profile: PriceProfile): string[] {
  return Object.keys(profile.classes);
}

const ALL_CLASS_NAMES = [...new Set([...Object.values(BUILT_IN).flatMap(classNames), ONPREM_CLASS])];
