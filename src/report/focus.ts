/*
 * Cost rows as CSV in the column names of the FinOps Open Cost and Usage Specification (FOCUS
 * 1.1), so FinOps tools read Strata's estimates beside real bills. Strata's figures are list
 * prices, not invoices: BilledCost, EffectiveCost and ListCost carry the same estimate, and the
 * x_ columns (FOCUS's prefix for custom columns) say what Strata adds.
 */

export interface FocusRow {
  /** USD for the charge period. */
  cost: number;
  /** Usage for recurring charges (storage), Purchase for one-time ones (a migration). */
  chargeCategory: "Usage" | "Purchase";
  chargeDescription: string;
  periodStart: Date;
  periodEnd: Date;
  /** "Amazon S3", "Azure Blob Storage", "Google Cloud Storage", "On-premises storage". */
  serviceName: string;
  providerName: string;
  regionId: string;
  /** The location, or LOCATION/CLASS. */
  resourceName: string;
  /** The storage class. */
  skuId: string;
  pricingUnit: "GB-Month" | "Requests" | "GB";
  /** Absent (an empty field) where the figure is not a price times a quantity, as a forecast's. */
  pricingQuantity?: number;
  tags?: Record<string, string>;
  /** Where the price was read, and when. */
  priceSource: string;
  priceAsOf: string;
}

const COLUMNS = [
  "BilledCost",
  "EffectiveCost",
  "ListCost",
  "BillingCurrency",
  "ChargeCategory",
  "ChargeDescription",
  "ChargePeriodStart",
  "ChargePeriodEnd",
  "ServiceCategory",
  "ServiceName",
  "ProviderName",
  "RegionId",
  "ResourceName",
  "SkuId",
  "PricingUnit",
  "PricingQuantity",
  "Tags",
  "x_PriceSource",
  "x_PriceAsOf",
] as const;

export function focusCsv(rows: Iterable<FocusRow>): string {
  const lines = [COLUMNS.join(",")];
  for (const row of rows) lines.push(focusValues(row).map(csvField).join(","));
  return `${lines.join("\r\n")}\r\n`;
}

function focusValues(row: FocusRow): string[] {
  const cost = row.cost.toFixed(6);
  return [
    cost,
    cost,
    cost,
    "USD",
    row.chargeCategory,
    row.chargeDescription,
    row.periodStart.toISOString(),
    row.periodEnd.toISOString(),
    "Storage",
    row.serviceName,
    row.providerName,
    row.regionId,
    row.resourceName,
    row.skuId,
    row.pricingUnit,
    row.pricingQuantity === undefined ? "" : String(row.pricingQuantity),
    row.tags ? JSON.stringify(row.tags) : "",
    row.priceSource,
    row.priceAsOf,
  ];
}

/** RFC 4180: quote a field holding a comma, quote or line break, doubling its quotes. */
function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** FOCUS's ServiceName and ProviderName of a price profile. */
export function focusService(profile: string): { serviceName: string; providerName: string } {
  switch (profile) {
    case "aws":
      return { serviceName: "Amazon S3", providerName: "Amazon Web Services" };
    case "azure":
      return { serviceName: "Azure Blob Storage", providerName: "Microsoft" };
    case "gcs":
      return { serviceName: "Google Cloud Storage", providerName: "Google Cloud" };
    default:
      return { serviceName: "On-premises storage", providerName: "On premises" };
  }
}
