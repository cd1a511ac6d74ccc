import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, it } from "vitest";
import { Context } from "../../src/cli/context.js";
import { CATALOG_KINDS, freshCatalogUrl } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";
import { checkFaults, type RebuildWorkspace, rebuildWorkspace } from "./rebuild-scenarios.js";

const ARCHIVE = ["  archive:", "    url: local:store"];

/** The embedded store reached through Strata's own backend, as another program would write it. */
function localFaults(ws: RebuildWorkspace) {
  const archive = async <T>(work: (backend: Awaited<ReturnType<Context["location"]>>["backend"]) => Promise<T>) => {
    const ctx = await Context.open({ config: join(ws.dir, "strata.yaml"), json: false, quiet: true, verbose: false });
    try {
      return await work((await ctx.location("archive")).backend);
    } finally {
      await ctx.close();
    }
  };
  return {
    deleteObject: (key: string) => archive((backend) => backend.delete([key])),
    putForeign: (key: string, bytes: Buffer) =>
      archive(async (backend) => {
        // Only the mtime every write carries: no origin, no path, so no file to tie it to.
        await backend.write(key, Readable.from([bytes]), { size: bytes.length, attributes: { mtimeUs: 1 } });
      }),
  };
}

describe.each(CATALOG_KINDS)("strata catalog check on the embedded store (%s catalog)", (kind) => {
  it("names each fault on one line, exits 1, changes nothing; --repair mends the safe ones and deletes no object", async () => {
    const ws = rebuildWorkspace(ARCHIVE, await freshCatalogUrl(kind, tempDir()));
    await checkFaults(ws, localFaults(ws));
  }, 180_000);
});
