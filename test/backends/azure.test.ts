import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  BlobServiceClient,
  type ContainerClient,
  generateAccountSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AzureBackend, blockSizeFor } from "../../src/backends/azure/azure-backend.js";
import { decodeName, encodeName, encodePrefix } from "../../src/backends/azure/azure-names.js";
import type { AzureOptions } from "../../src/backends/azure/azure-options.js";
import {
  AccessDeniedError,
  type BackendError,
  InvalidRequestError,
  NotFoundError,
  TransientError,
  UnreachableError,
  type UploadedPart,
} from "../../src/backends/backend.js";
import { type ArchiveProxy, startArchiveProxy } from "../support/azure-archive-proxy.js";
import { type AzuriteServer, startAzurite } from "../support/azurite-server.js";
import { sha256Hex } from "../support/bytes.js";
import { freePort } from "../support/ports.js";
import { backendContract, get, info, put } from "./contract.js";
import { failingAfter, memoryJournal } from "./upload-journal.js";

/**
 * The contract against a real Azurite, reached through the archive proxy so that a restore
 * takes RESTORE_DELAY_MS as on Azure (Azurite alone rehydrates at once).
 */
const RESTORE_DELAY_MS = 1500;
const CONTAINER = "strata-contract";
const MiB = 1024 * 1024;
const ENV_NAMES = [
  "AZURE_STORAGE_CONNECTION_STRING",
  "AZURE_STORAGE_ACCOUNT",
  "AZURE_STORAGE_KEY",
  "AZURE_STORAGE_SAS_TOKEN",
] as const;
type EnvName = (typeof ENV_NAMES)[number];

let azurite: AzuriteServer;
let proxy: ArchiveProxy;
/** Direct access to the container, to see what the backend really stored. */
let raw: ContainerClient;
let savedEnv: Partial<Record<EnvName, string>>;

beforeAll(async () => {
  savedEnv = setEnv({});
  azurite = await startAzurite();
  proxy = await startArchiveProxy(azurite.endpoint, { delayMs: RESTORE_DELAY_MS });
  setEnv({ AZURE_STORAGE_ACCOUNT: azurite.account, AZURE_STORAGE_KEY: azurite.accountKey });
  const service = new BlobServiceClient(
    azurite.endpoint,
    new StorageSharedKeyCredential(azurite.account, azurite.accountKey),
  );
  raw = service.getContainerClient(CONTAINER);
  await raw.create();
});

afterAll(async () => {
  await proxy?.stop();
  await azurite?.stop();
  setEnv(savedEnv ?? {});
});

/** Sets the Azure credential variables to exactly `vars`; returns what they were. */
function setEnv(vars: Partial<Record<EnvName, string>>): Partial<Record<EnvName, string>> {
  const before: Partial<Record<EnvName, string>> = {};
  for (const name of ENV_NAMES) {
    const old = process.env[name];
    if (old !== undefined) before[name] = old;
    const value = vars[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  return before;
}

/** Opens a backend with other credentials in the environment (read once, by open). */
async function openWith(vars: Partial<Record<EnvName, string>>, open: () => Promise<AzureBackend>) {
  const before = setEnv(vars);
  try {
    return await open();
  } finally {
    setEnv(before);
  }
}

function proxyEndpoint(): string {
  return `${proxy.url}/${azurite.account}`;
}

function freshPrefix(): string {
  return `run-${randomBytes(6).toString("hex")}`;
}

function open(prefix = freshPrefix(), options: Partial<AzureOptions> = {}, bucket = CONTAINER) {
  return AzureBackend.open(
    { kind: "azure", url: `az://${bucket}${prefix ? `/${prefix}` : ""}`, bucket, prefix },
    { endpoint: proxyEndpoint(), concurrency: 4, ...options },
  );
}

async function keysOf(backend: AzureBackend, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of backend.list(prefix)) keys.push(object.key);
  return keys;
}

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

async function rawNames(prefix?: string): Promise<string[]> {
  const names: string[] = [];
  for await (const item of raw.listBlobsFlat(prefix ? { prefix } : {})) names.push(item.name);
  return names;
}

backendContract({
  name: "azure (Azurite behind the archive proxy)",
  restoreDelayMs: RESTORE_DELAY_MS,
  make: () => open(),
  misconfigured: async () => {
    const wrongKey = randomBytes(64).toString("base64");
    const port = await freePort();
    return [
      {
        label: "wrong account key",
        backend: await openWith({ AZURE_STORAGE_ACCOUNT: azurite.account, AZURE_STORAGE_KEY: wrongKey }, () => open()),
        error: AccessDeniedError,
      },
      { label: "missing container", backend: await open("", {}, "no-such-container"), error: NotFoundError },
      {
        label: "endpoint nothing listens on",
        backend: await open("", { endpoint: `http://127.0.0.1:${port}/${azurite.account}` }),
        error: UnreachableError,
      },
    ];
  },
});

describe("azure backend specifics", () => {
  it("maps Strata's metadata names to C# identifiers and back, and refuses names it cannot store", async () => {
    const prefix = freshPrefix();
    const b = await open(prefix);
    await put(b, "meta", "abc", { metadata: { project: "climate", run_id: "42" } });
    const props = await raw.getBlobClient(`${prefix}/meta`).getProperties();
    expect(props.metadata).toMatchObject({
      project: "climate",
      run_id: "42",
      strata_mtime_us: "1600000000123456",
      strata_mode: "640",
      strata_path: "x",
      strata_sha256: sha256Hex("abc"),
    });
    const stat = await b.stat("meta");
    expect(stat?.metadata).toEqual({ project: "climate", run_id: "42" });
    expect(stat?.attributes).toEqual({
      mtimeUs: 1_600_000_000_123_456,
      mode: 0o640,
      path: "x",
      sha256: sha256Hex("abc"),
    });
    const listed = (await all(b.list()))[0];
    expect(listed?.attributes).toEqual(stat?.attributes);
    expect(listed?.metadata).toEqual(stat?.metadata);
    const refused: Record<string, string>[] = [
      { "has-hyphen": "x" },
      { Upper: "x" },
      { strata_mtime_us: "1" },
      { "1st": "x" },
      { ok: "é" },
    ];
    for (const metadata of refused) {
      await expect(put(b, "refused", "x", { metadata })).rejects.toBeInstanceOf(InvalidRequestError);
    }
    await expect(put(b, "refused", "x", { tags: { "strata-restore-expires": "x" } })).rejects.toBeInstanceOf(
      InvalidRequestError,
    );
    expect(await b.stat("refused")).toBeUndefined();
  });

  it("changes tier in place, Hot to Cool, without rewriting the blob", async () => {
    const prefix = freshPrefix();
    const b = await open(prefix);
    const written = await put(b, "tiered", "stay the same", { storageClass: "Hot" });
    expect(written.storageClass).toBe("Hot");
    const before = await raw.getBlobClient(`${prefix}/tiered`).getProperties();
    expect(before.accessTier).toBe("Hot");
    const moved = await b.copy("tiered", "tiered", { storageClass: "Cool" });
    expect(moved.storageClass).toBe("Cool");
    const after = await raw.getBlobClient(`${prefix}/tiered`).getProperties();
    expect(after.accessTier).toBe("Cool");
    expect(after.accessTierInferred).toBeFalsy();
    expect(after.createdOn).toEqual(before.createdOn);
    expect((await get(b, "tiered")).toString()).toBe("stay the same");
    await expect(b.copy("tiered", "tiered", { storageClass: "GLACIER" })).rejects.toBeInstanceOf(InvalidRequestError);
  });

  it("deletes more than one batch (256) at once", async () => {
    const b = await open();
    const keys = Array.from({ length: 300 }, (_, i) => `batch/${String(i).padStart(3, "0")}`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => put(b, k, k)));
    await put(b, "keep", "keep");
    expect(await keysOf(b, "batch/")).toHaveLength(300);
    const batches = proxy.stats.batches;
    await b.delete([...keys, "batch/never-existed"]);
    expect(await keysOf(b)).toEqual(["keep"]);
    // 301 keys: two Blob Batch requests (256 + 45), not single deletes.
    expect(proxy.stats.batches - batches).toBe(2);
  }, 120_000);

  it("keeps dot segments, backslashes and trailing dots inside the prefix, exact", async () => {
    const prefix = freshPrefix();
    const b = await open(prefix);
    const keys = [
      "../escape",
      "./here",
      "a/./b/../c",
      "back\\slash",
      "ends.",
      "dir./x",
      "tab\there",
      "look \uff0e\u201b\u2400",
    ];
    for (const key of keys) await put(b, key, `content of ${key}`);
    for (const key of keys) expect((await get(b, key)).toString()).toBe(`content of ${key}`);
    expect((await keysOf(b)).sort()).toEqual([...keys].sort());
    expect(await keysOf(b, "../")).toEqual(["../escape"]);
    expect(await keysOf(b, "dir.")).toEqual(["dir./x"]);
    expect(await keysOf(b, "ends")).toEqual(["ends."]);
    // Nothing was written outside the prefix, and no stored name has a dot segment.
    const names = await rawNames();
    const ours = names.filter((n) => n.startsWith(`${prefix}/`));
    expect(ours).toHaveLength(keys.length);
    expect(names.filter((n) => n === "escape" || n.startsWith("here") || n.includes("\\"))).toEqual([]);
    for (const name of ours)
      expect(name.split("/").some((s) => s === "." || s === ".." || s.endsWith("."))).toBe(false);
  });

  it("encodes names reversibly, and prefixes so that every matching key is listed", () => {
    const samples = [
      "",
      ".",
      "..",
      "a.",
      "a..",
      "a/./b",
      "\\",
      "\u201b",
      "\u201b.",
      "\uff0e",
      "x\u2400y",
      "\n.",
      "plain/name.txt",
    ];
    for (const key of samples) expect(decodeName(encodeName(key))).toBe(key);
    for (const key of samples) {
      for (let cut = 0; cut <= key.length; cut++) {
        expect(encodeName(key).startsWith(encodePrefix(key.slice(0, cut))), `${JSON.stringify(key)} @${cut}`).toBe(
          true,
        );
      }
    }
    expect(encodeName("plain/name.txt")).toBe("plain/name.txt");
  });

  it("chooses block sizes within Azure's limits", () => {
    expect(blockSizeFor(100 * MiB, undefined)).toBe(8 * MiB);
    expect(blockSizeFor(100 * MiB, 2 * MiB)).toBe(2 * MiB);
    const tib = 1024 * 1024 * MiB;
    expect(blockSizeFor(tib, undefined)).toBe(21 * MiB);
    expect(Math.ceil(tib / blockSizeFor(tib, undefined))).toBeLessThanOrEqual(50_000);
    expect(blockSizeFor(tib, 4 * MiB)).toBe(21 * MiB);
    expect(blockSizeFor(50_000 * 4000 * MiB + 1, undefined)).toBeGreaterThan(4000 * MiB);
  });

  it("stages blocks with their MD5, commits the blob's Content-MD5, and reports the SHA-256", async () => {
    const prefix = freshPrefix();
    const b = await open(prefix, { blockSize: MiB, concurrency: 2 });
    const content = randomBytes(3 * MiB + 1234);
    const stored = await b.write("blocks.bin", Readable.from([content]), info(content.length));
    expect(stored.sha256).toBe(sha256Hex(content));
    const blob = raw.getBlockBlobClient(`${prefix}/blocks.bin`);
    const list = await blob.getBlockList("committed");
    expect(list.committedBlocks?.map((block) => block.size)).toEqual([MiB, MiB, MiB, 1234]);
    const props = await blob.getProperties();
    expect(Buffer.from(props.contentMD5 ?? new Uint8Array()).toString("hex")).toBe(
      createHash("md5").update(content).digest("hex"),
    );
    // Buffer.equals: vitest's deep equality takes seconds over megabytes.
    expect((await get(b, "blocks.bin")).equals(content)).toBe(true);
    const small = raw.getBlobClient(`${prefix}/small`);
    await put(b, "small", "tiny");
    expect(Buffer.from((await small.getProperties()).contentMD5 ?? new Uint8Array()).toString("hex")).toBe(
      createHash("md5").update("tiny").digest("hex"),
    );
  });

  it("leaves the previous blob whole when a multi-block write fails or runs long", async () => {
    const b = await open(freshPrefix(), { blockSize: MiB });
    await put(b, "precious", "the good version");
    async function* failing() {
      yield randomBytes(2 * MiB + 10);
      throw new Error("connection lost");
    }
    await expect(b.write("precious", Readable.from(failing()), info(3 * MiB))).rejects.toThrow();
    await expect(b.write("precious", Readable.from([randomBytes(3 * MiB)]), info(2 * MiB))).rejects.toThrow(
      /expected 2097152 bytes/,
    );
    await expect(b.write("precious", Readable.from([Buffer.from("abcd")]), info(3))).rejects.toThrow(
      /expected 3 bytes/,
    );
    expect((await get(b, "precious")).toString()).toBe("the good version");
    expect(await keysOf(b)).toEqual(["precious"]);
  });

  it("resumes an interrupted block upload from its journal, staging only the missing blocks", async () => {
    const prefix = freshPrefix();
    const b = await open(prefix, { blockSize: MiB, concurrency: 2 });
    const body = randomBytes(5 * MiB + 1000); // six blocks, the last short
    const journal = memoryJournal();
    await expect(b.write("big", failingAfter(body, 3.5 * MiB), info(body.length, { journal }))).rejects.toThrow(
      /the source went away/,
    );
    // The blocks read before the source died were staged (in flight ones finished) and journaled.
    expect(journal.state?.parts.map((p) => p.number).sort()).toEqual([1, 2, 3]);
    const blob = raw.getBlockBlobClient(`${prefix}/big`);
    expect((await blob.getBlockList("uncommitted")).uncommittedBlocks).toHaveLength(3);

    let staged = 0;
    const savePart = (part: UploadedPart) => {
      staged += 1;
      return journal.savePart(part);
    };
    const counting = { ...journal, savePart };
    const stored = await b.write("big", Readable.from([body]), info(body.length, { journal: counting }));
    expect(staged).toBe(3);
    expect(stored.sha256).toBe(sha256Hex(body));
    expect((await blob.getBlockList("committed")).committedBlocks?.map((block) => block.size)).toEqual([
      MiB,
      MiB,
      MiB,
      MiB,
      MiB,
      1000,
    ]);
    expect((await get(b, "big")).equals(body)).toBe(true);
    expect(journal.state).toBeUndefined();
  });

  it("starts over, retryably, when the journaled blocks are gone", async () => {
    const b = await open(freshPrefix(), { blockSize: MiB });
    const body = randomBytes(3 * MiB + 10);
    const journal = memoryJournal();
    await expect(b.write("big", failingAfter(body, 2 * MiB + 10), info(body.length, { journal }))).rejects.toThrow();
    // Another block list committed meanwhile drops the blocks staged under other ids.
    await put(b, "big", randomBytes(2 * MiB));
    await expect(b.write("big", Readable.from([body]), info(body.length, { journal }))).rejects.toBeInstanceOf(
      TransientError,
    );
    expect(journal.state).toBeUndefined();
    await put(b, "big", body, { journal });
    expect((await get(b, "big")).equals(body)).toBe(true);
  });

  it("shows a rehydration in listings too, and asks for High priority when expedited", async () => {
    const prefix = freshPrefix();
    const b = await open(prefix);
    await put(b, "cold", "frozen", { storageClass: "Archive", tags: { owner: "lab-7" } });
    expect((await all(b.list()))[0]?.restore).toEqual({ state: "archived" });
    expect(await b.restore("cold", { days: 2, tier: "expedited" })).toEqual({ state: "restoring" });
    expect(await b.restore("cold", { days: 2, tier: "expedited" })).toEqual({ state: "restoring" });
    const listed = (await all(b.list()))[0];
    expect(listed?.storageClass).toBe("Archive");
    expect(listed?.restore).toEqual({ state: "restoring" });
    expect(listed?.tags).toEqual({ owner: "lab-7" });
    const viaProxy = new BlobServiceClient(
      proxyEndpoint(),
      new StorageSharedKeyCredential(azurite.account, azurite.accountKey),
    ).getContainerClient(CONTAINER);
    const pending = await viaProxy.getBlobClient(`${prefix}/cold`).getProperties();
    expect(pending.rehydratePriority).toBe("High");
    expect(pending.archiveStatus).toBe("rehydrate-pending-to-hot");
    await sleep(RESTORE_DELAY_MS + 50);
    const done = (await all(b.list()))[0];
    expect(done?.storageClass).toBe("Hot");
    expect(done?.restore?.state).toBe("restored");
    const expiresAt = done?.restore?.state === "restored" ? done.restore.expiresAt.getTime() : 0;
    expect(Math.abs(expiresAt - (Date.now() + 2 * 86_400_000))).toBeLessThan(60_000);
    expect(done?.tags).toEqual({ owner: "lab-7" });
    // Choosing a class by hand ends the restore, as on the other backends.
    await b.copy("cold", "cold", { storageClass: "Cool" });
    expect((await b.stat("cold"))?.restore).toEqual({ state: "not-archived" });
    expect((await b.stat("cold"))?.tags).toEqual({ owner: "lab-7" });
  });

  it("copies tags and metadata to the copy, and refuses to copy an archived blob", async () => {
    const b = await open();
    await put(b, "src", "payload", { metadata: { project: "p" }, tags: { owner: "o" }, storageClass: "Cool" });
    const copied = await b.copy("src", "dst");
    expect(copied.tags).toEqual({ owner: "o" });
    expect(copied.metadata).toEqual({ project: "p" });
    expect(copied.storageClass).toBe("Cool");
    expect(copied.attributes?.sha256).toBe(sha256Hex("payload"));
    await put(b, "frozen", "x", { storageClass: "Archive" });
    await expect(b.copy("frozen", "thawed")).rejects.toThrow(/archived/);
    await expect(b.copy("missing", "x")).rejects.toBeInstanceOf(NotFoundError);
  });

  it("takes credentials from a connection string or a SAS token in the environment", async () => {
    const prefix = freshPrefix();
    const location = { kind: "azure" as const, url: `az://${CONTAINER}/${prefix}`, bucket: CONTAINER, prefix };
    const viaString = await openWith(
      {
        AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString.replace(azurite.endpoint, proxyEndpoint()),
      },
      () => AzureBackend.open(location, { concurrency: 4 }),
    );
    await viaString.check();
    await put(viaString, "via-string", "cs");
    const sas = generateAccountSASQueryParameters(
      {
        expiresOn: new Date(Date.now() + 3_600_000),
        permissions: AccountSASPermissions.parse("rwdlact"),
        resourceTypes: AccountSASResourceTypes.parse("sco").toString(),
        services: AccountSASServices.parse("b").toString(),
        protocol: SASProtocol.HttpsAndHttp,
      },
      new StorageSharedKeyCredential(azurite.account, azurite.accountKey),
    ).toString();
    const viaSas = await openWith({ AZURE_STORAGE_ACCOUNT: azurite.account, AZURE_STORAGE_SAS_TOKEN: `?${sas}` }, () =>
      AzureBackend.open(location, { endpoint: proxyEndpoint(), concurrency: 4 }),
    );
    await viaSas.check();
    expect((await get(viaSas, "via-string")).toString()).toBe("cs");
    await put(viaSas, "via-sas", "sas", { tags: { t: "1" } });
    await viaSas.copy("via-sas", "via-sas-copy");
    expect(await keysOf(viaSas)).toEqual(["via-sas", "via-sas-copy", "via-string"]);
    // Azurite refuses Blob Batch with an account SAS (HTTP 500): the backend falls back to single deletes.
    await viaSas.delete(["via-sas", "via-sas-copy", "via-string"]);
    expect(await keysOf(viaString)).toEqual([]);
  });

  it("names the location and key in one line, without the credentials", async () => {
    const wrongKey = randomBytes(64).toString("base64");
    const b = await openWith({ AZURE_STORAGE_ACCOUNT: azurite.account, AZURE_STORAGE_KEY: wrongKey }, () => open());
    const error = (await b.read("some/key").catch((e: unknown) => e)) as BackendError;
    expect(error).toBeInstanceOf(AccessDeniedError);
    expect(error.message).toContain(b.url);
    expect(error.message).toContain('"some/key"');
    expect(error.message).not.toMatch(/\n/);
    expect(error.message).not.toContain(wrongKey);
    expect(error.message).not.toContain(azurite.accountKey);
    const missing = await open(freshPrefix());
    const notFound = (await missing.read("nope").catch((e: unknown) => e)) as BackendError;
    expect(notFound.message).toBe(`${missing.url}: no object "nope"`);
  });
});
