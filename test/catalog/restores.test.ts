import { describe, expect, it } from "vitest";
import { FileUpserter, fileByPath, finishScan, startScan } from "../../src/catalog/files.js";
import { ensureLocation } from "../../src/catalog/locations.js";
import { type MemberReplica, recordPack } from "../../src/catalog/packs.js";
import { packSize, pendingThawOf, recordRestoreRequest, settleRestore } from "../../src/catalog/restores.js";
import { CATALOG_KINDS, freshCatalog } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";

const MTIME = 1_700_000_000_000_000;
const PACK_KEY = ".strata-packs/2026-12-05/p1.tar";

describe.each(CATALOG_KINDS)("restore requests of pack members on %s", (kind) => {
  it("name their pack's thaw: a request for one member is the pending thaw of the pack", async () => {
    const catalog = await freshCatalog(kind, tempDir());
    const src = await ensureLocation(catalog, { name: "scratch", url: "file:///scratch", kind: "posix" });
    const cold = await ensureLocation(catalog, { name: "cold", url: "s3://b/p", kind: "s3" });
    const paths = ["a/1", "a/2", "a/3"];
    const scanId = await startScan(catalog, src.id);
    await new FileUpserter(catalog, src.id, scanId).write(
      paths.map((path, i) => ({
        path,
        kind: "file" as const,
        size: 100,
        mtimeUs: MTIME,
        atimeUs: MTIME,
        ctimeUs: MTIME,
        mode: 0o100644,
        uid: 1000,
        gid: 1000,
        inode: i + 1,
      })),
    );
    await finishScan(catalog, src.id, scanId, [], 0);
    const files = await Promise.all(paths.map(async (p) => (await fileByPath(catalog, src.id, p))?.id as number));
    const members: MemberReplica[] = files.map((fileId, i) => ({
      fileId,
      locationId: cold.id,
      key: PACK_KEY,
      size: 100,
      hash: String(i).repeat(64),
      storageClass: "GLACIER",
      state: "present",
      sourceSize: 100,
      sourceMtimeUs: MTIME,
      etag: null,
      verifiedAt: Date.now(),
      offset: i * 1536,
      length: 1536,
    }));
    const packId = await recordPack(
      catalog,
      { locationId: cold.id, key: PACK_KEY, size: 5120, hash: "f".repeat(64), codec: "none", members: 3 },
      members,
    );
    expect(await packSize(catalog, packId)).toBe(5120);
    expect(await pendingThawOf(catalog, cold.id, PACK_KEY)).toBeUndefined();

    const replicas = await catalog.db
      .selectFrom("replicas")
      .select(["id", "file_id"])
      .where("location_id", "=", cold.id)
      .orderBy("id")
      .execute();
    const [first, second] = replicas;
    const asked = {
      replicaId: first?.id as number,
      fileId: first?.file_id as number,
      tier: "bulk" as const,
      days: 2,
      expectedAt: 1_800_000_000_000,
      targetDir: null,
    };
    const firstId = await recordRestoreRequest(catalog, asked);
    // Any member's key names the pack: the thaw the first asked for is pending for all.
    expect(await pendingThawOf(catalog, cold.id, PACK_KEY)).toEqual({ tier: "bulk", expected_at: 1_800_000_000_000 });
    expect(await pendingThawOf(catalog, src.id, PACK_KEY)).toBeUndefined();
    const secondId = await recordRestoreRequest(catalog, {
      ...asked,
      replicaId: second?.id as number,
      fileId: second?.file_id as number,
    });

    await settleRestore(
      catalog,
      { id: firstId, replicaId: asked.replicaId },
      { state: "done", replicaState: "present" },
    );
    // The second member still waits on the same thaw.
    expect(await pendingThawOf(catalog, cold.id, PACK_KEY)).toMatchObject({ tier: "bulk" });
    await settleRestore(
      catalog,
      { id: secondId, replicaId: second?.id as number },
      { state: "done", replicaState: "present" },
    );
    expect(await pendingThawOf(catalog, cold.id, PACK_KEY)).toBeUndefined();
    await catalog.close();
  });
});
