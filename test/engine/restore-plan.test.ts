import { describe, expect, it } from "vitest";
import { type PackSource, type RestoreBatch, restoreBatches } from "../../src/engine/restore-plan.js";

/** A file asked for: a whole object (no pack), or a member of `pack` at `offset`. */
interface Asked {
  path: string;
  pack?: string;
  offset?: number;
}

const sourceOf = async (a: Asked): Promise<PackSource | undefined> =>
  a.pack === undefined
    ? undefined
    : { location: "cold", pack: a.pack, packId: a.pack.length, offset: a.offset ?? 0, length: 10 };

async function* stream(items: Asked[], pulled: string[] = []): AsyncGenerator<Asked> {
  for (const item of items) {
    pulled.push(item.path);
    yield item;
  }
}

/** Each batch as `path` for a file alone, `pack: path path …` for a pack's members. */
function shown(batch: RestoreBatch<Asked>): string {
  if (batch.kind === "file") return batch.candidate.path;
  return `${batch.pack}: ${batch.members.map((m) => m.candidate.path).join(" ")}`;
}

async function planned(items: Asked[], limits?: { members: number; held: number }): Promise<string[]> {
  const out: string[] = [];
  for await (const batch of restoreBatches(stream(items), sourceOf, limits)) out.push(shown(batch));
  return out;
}

describe("the restore planner", () => {
  it("hands whole objects on at once and the members of each pack together, in offset order", async () => {
    const items: Asked[] = [
      { path: "a/3", pack: "p1", offset: 3000 },
      { path: "a/big" },
      { path: "b/1", pack: "p2", offset: 512 },
      { path: "a/1", pack: "p1", offset: 0 },
      { path: "c/big" },
      { path: "a/2", pack: "p1", offset: 1536 },
    ];
    expect(await planned(items)).toEqual(["a/big", "c/big", "p1: a/1 a/2 a/3", "p2: b/1"]);
  });

  it("does not wait for the end of the stream to hand on a whole object", async () => {
    const pulled: string[] = [];
    const batches = restoreBatches(stream([{ path: "x" }, { path: "y" }, { path: "z" }], pulled), sourceOf);
    const first = await batches.next();
    expect(first.value && shown(first.value as RestoreBatch<Asked>)).toBe("x");
    expect(pulled).toEqual(["x"]);
  });

  it("keeps memory bounded: a full pack batch goes on, and the largest when too many wait", async () => {
    const items: Asked[] = [];
    for (let i = 0; i < 5; i++) items.push({ path: `p/${i}`, pack: "p", offset: 100 - i });
    for (let i = 0; i < 2; i++) items.push({ path: `q/${i}`, pack: "q", offset: i });
    for (let i = 0; i < 2; i++) items.push({ path: `r/${i}`, pack: "r", offset: i });
    // At most 3 members a batch, and no more than 4 held in all.
    expect(await planned(items, { members: 3, held: 4 })).toEqual([
      "p: p/2 p/1 p/0",
      // r/0 makes five held: the largest batch (p's two, the first of the largest) goes on.
      "p: p/4 p/3",
      "q: q/0 q/1",
      "r: r/0 r/1",
    ]);
  });
});
