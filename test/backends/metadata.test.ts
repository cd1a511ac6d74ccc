import { describe, expect, it } from "vitest";
import { ownershipToApply, TRUST_NOTHING } from "../../src/backends/metadata.js";

const ROOT = { uid: 0, gid: 0 };
const USER = { uid: 1000, gid: 1000 };
const ALL = { specialBits: true, rootOwner: true };

describe("what a file takes of the attributes recorded with it", () => {
  it("drops setuid, setgid and sticky bits unless asked", () => {
    expect(ownershipToApply({ mode: 0o6755, uid: 1000, gid: 1000 }, TRUST_NOTHING, USER)).toEqual({ mode: 0o755 });
    expect(ownershipToApply({ mode: 0o1777 }, TRUST_NOTHING, ROOT)).toEqual({ mode: 0o777 });
    expect(ownershipToApply({ mode: 0o6755 }, { specialBits: true, rootOwner: false }, USER)).toEqual({ mode: 0o6755 });
  });

  it("as root gives files to their recorded owner, but to root only when that owner is trusted", () => {
    const asked = { specialBits: true, rootOwner: false };
    expect(ownershipToApply({ mode: 0o4755, uid: 1000, gid: 1000 }, asked, ROOT)).toEqual({
      mode: 0o4755,
      owner: USER,
    });
    // A recorded root owner is not believed: the file stays the writer's (root), so no special bits.
    expect(ownershipToApply({ mode: 0o4755, uid: 0, gid: 0 }, asked, ROOT)).toEqual({ mode: 0o755 });
    expect(ownershipToApply({ mode: 0o2755, uid: 1000, gid: 0 }, asked, ROOT)).toEqual({ mode: 0o755 });
    // No recorded owner: the file is root's, and never setuid.
    expect(ownershipToApply({ mode: 0o4755 }, ALL, ROOT)).toEqual({ mode: 0o755 });
    expect(ownershipToApply({ mode: 0o4755, uid: 0, gid: 0 }, ALL, ROOT)).toEqual({ mode: 0o4755, owner: ROOT });
  });

  it("gives nothing away when the writer is not root", () => {
    expect(ownershipToApply({ mode: 0o644, uid: 0, gid: 0 }, ALL, USER)).toEqual({ mode: 0o644 });
    expect(ownershipToApply({ uid: 1000, gid: 1000 }, ALL, { uid: 65534, gid: 65534 })).toEqual({});
  });
});
