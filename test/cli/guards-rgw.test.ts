import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, it } from "vitest";
import { type RgwWithBuckets, rgwLocationYaml, startRgwWithBuckets } from "../support/rgw-server.js";
import {
  type Archive,
  lostStubKeepsItsCopy,
  otherDevicePrunesNothing,
  overlappingLocationsRefused,
  pruneShareGuard,
  sharedKeyOneCatalog,
  sharedKeyTwoCatalogs,
  unmountedSourcePrunesNothing,
} from "./guards-cases.js";

const BUCKET = "strata-guards";
let rgw: RgwWithBuckets;

beforeAll(async () => {
  rgw = await startRgwWithBuckets([BUCKET]);
  // The CLI processes find credentials where the AWS chain looks: the environment they inherit.
  Object.assign(process.env, rgw.env);
}, 300_000);

afterAll(() => rgw?.stop());

/** The bucket on RGW; each case works under a prefix of its own. */
const ceph: Archive = {
  yaml: (name, prefix) => rgwLocationYaml(name, `s3://${BUCKET}/${prefix}`, rgw.endpoint),
  async objects(prefix) {
    const objects = new Map<string, string>();
    let token: string | undefined;
    do {
      const page = await rgw.client.send(
        new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/`, ContinuationToken: token }),
      );
      for (const { Key } of page.Contents ?? []) {
        const object = await rgw.client.send(new GetObjectCommand({ Bucket: BUCKET, Key }));
        objects.set((Key as string).slice(prefix.length + 1), (await object.Body?.transformToString()) ?? "");
      }
      token = page.NextContinuationToken;
    } while (token);
    return objects;
  },
};

describe("deletions are guarded, on Ceph RGW (issue 9, defect 4)", () => {
  it(
    "an unmounted source (empty mount point) prunes nothing",
    () => unmountedSourcePrunesNothing(ceph, "unmounted"),
    120_000,
  );
  it(
    "a source root on another device than first scanned prunes nothing",
    () => otherDevicePrunesNothing(ceph, "device"),
    120_000,
  );
  it(
    "a released file whose stub is gone is missing, and its copy is kept",
    () => lostStubKeepsItsCopy(ceph, "stub"),
    120_000,
  );
  it("pruning past defaults.maxDeleteShare needs --force", () => pruneShareGuard(ceph, "share"), 120_000);
});

describe("keys are owned, on Ceph RGW (issue 9, defect 5)", () => {
  it(
    "one catalog: another location's file is refused the key of projA's released file",
    () => sharedKeyOneCatalog(ceph, "one"),
    120_000,
  );
  it(
    "two catalogs: the object's origin refuses another project's file",
    () => sharedKeyTwoCatalogs(ceph, "two"),
    120_000,
  );
  it(
    "overlapping prefixes of one bucket are a config error",
    () => overlappingLocationsRefused(ceph, "alias"),
    120_000,
  );
});
