import { describe, it } from "vitest";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";
import { rebuildRoundTrip, rebuildWorkspace } from "./rebuild-scenarios.js";

const ARCHIVE = ["  archive:", "    url: local:store"];

describe.each(CATALOG_KINDS)("strata catalog rebuild on the embedded store (%s catalog)", (kind) => {
  it("a lost catalog comes back from the tree and the store: same rows, sync copies nothing, restore works", async () => {
    const ws = rebuildWorkspace(ARCHIVE, await freshCatalogUrl(kind, tempDir()));
    await rebuildRoundTrip(ws, () => freshCatalogUrl(kind, tempDir()));
  }, 180_000);
});
