import { describe, expect, it } from "vitest";
import { parseLocationUrl } from "../../src/backends/all.js";
import { AzureBackend } from "../../src/backends/azure/azure-backend.js";
import { azureOptionsSchema as azureSchema } from "../../src/backends/azure/azure-options.js";
import type { Backend } from "../../src/backends/backend.js";
import { PosixBackend } from "../../src/backends/posix/posix-backend.js";
import { ByteBudget } from "../../src/transfer/byte-budget.js";
import { StreamPlanner } from "../../src/transfer/streams.js";
import { tempDir } from "../support/tmp.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Starts copies of these sizes one after another, each held open; answers the streams each got. */
async function streamsOf(planner: StreamPlanner, target: Backend, sizes: number[]) {
  const granted: number[] = [];
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const copies = sizes.map((size) =>
    planner.hold(size, target, async (streams) => {
      granted.push(streams);
      await gate;
    }),
  );
  // Every copy that fits in the budget has started; the rest wait for it.
  await new Promise((resolve) => setImmediate(resolve));
  release();
  await Promise.all(copies);
  return granted;
}

/**
 * An Azure target with 16 MiB blocks. Opening it sends no request (none is needed: writeBuffer is
 * arithmetic on the block size), so its endpoint is a port nothing listens on.
 */
async function blockTarget(): Promise<Backend> {
  const location = parseLocationUrl("az://container/prefix");
  if (location.kind !== "azure") throw new Error("not azure");
  process.env.AZURE_STORAGE_KEY = Buffer.from("not a real key").toString("base64");
  const options = azureSchema.parse({ account: "acct", endpoint: "http://127.0.0.1:9/acct", blockSize: "16MiB" });
  return AzureBackend.open(location, options);
}

describe("streams per file", () => {
  it('"auto" gives a lone large upload 8 blocks in flight, the next ones fewer, within the budget', async () => {
    const budget = new ByteBudget(256 * MiB);
    const blocks = await blockTarget();
    // 16 MiB blocks: 8 in flight and one filling hold 144 MiB; the second fits 2 in what is left
    // of three quarters of the budget (48 MiB); a third gets 1 and waits for room.
    expect(await streamsOf(new StreamPlanner("auto", budget), blocks, [2 * GiB, 2 * GiB, 2 * GiB])).toEqual([8, 2, 1]);
    expect(budget.peak).toBeLessThanOrEqual(256 * MiB);
    // Small files gain nothing from streams and get one.
    expect(await streamsOf(new StreamPlanner("auto", budget), blocks, [MiB, 15 * MiB])).toEqual([1, 1]);
    await blocks.close();
  });

  it('"auto" spreads 16 ranged downloads over the large files in flight, 8 at most each', async () => {
    const dir = tempDir();
    const posix = new PosixBackend(dir, `file://${dir}`);
    const planner = new StreamPlanner("auto", new ByteBudget(256 * MiB));
    expect(await streamsOf(planner, posix, [GiB, GiB, GiB, GiB, GiB, MiB])).toEqual([8, 8, 5, 4, 3, 1]);
  });

  it("a fixed count applies to every file, and its buffers are held in the budget", async () => {
    const budget = new ByteBudget(256 * MiB);
    const blocks = await blockTarget();
    expect(await streamsOf(new StreamPlanner(3, budget), blocks, [GiB, GiB, GiB])).toEqual([3, 3, 3]);
    // Three uploads of 3 blocks in flight and one filling: 3 × 64 MiB.
    expect(budget.peak).toBe(3 * 64 * MiB);
    await blocks.close();
  });
});
