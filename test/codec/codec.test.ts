import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { chooseCodec, codecSetting, codecSettingSchema } from "../../src/codec/choose.js";
import { CODEC_NAMES, type Codec, codecNamed, zstdCodec } from "../../src/codec/codec.js";
import { decodedStream, inPieces } from "../../src/codec/frame-stream.js";
import { contentFrames, lz4FrameLength, zstdFrameLength } from "../../src/codec/frames.js";
import { csvTable, float64Field } from "../support/research-data.js";

/** What a codec's own CLI makes of `stored` (`zstd -dc`, `lz4 -dc`, `gzip -dc`). */
function cliDecoded(codec: string, stored: Buffer): Buffer {
  return execFileSync(codec, ["-dc"], { input: stored, maxBuffer: 64 * 1024 * 1024 });
}

const SAMPLES = {
  empty: Buffer.alloc(0),
  text: csvTable(20_000),
  floats: float64Field(100_000),
  random: randomBytes(300_000),
};

describe("codecs", () => {
  for (const name of CODEC_NAMES) {
    it(`${name}: every sample round-trips, through one frame and through a run of frames`, async () => {
      const codec = codecNamed(name);
      for (const [what, data] of Object.entries(SAMPLES)) {
        expect((await codec.decompress(await codec.compress(data))).equals(data), what).toBe(true);
        const halves = [data.subarray(0, data.length >> 1), data.subarray(data.length >> 1)];
        const run = Buffer.concat(await Promise.all(halves.map((half) => codec.compress(half))));
        expect((await codec.decompress(run)).equals(data), `${what} in two frames`).toBe(true);
      }
    });
  }

  for (const name of ["zstd", "lz4", "gzip"] as const) {
    it(`${name}: a run of frames Strata wrote is read by the ${name} CLI alone, byte-identical`, async () => {
      const codec = name === "zstd" ? zstdCodec(9) : codecNamed(name);
      const data = Buffer.concat([SAMPLES.text, SAMPLES.floats, SAMPLES.random]);
      const frames = await Promise.all([...chunksOf(data, 200_000)].map((piece) => codec.compress(piece)));
      expect(cliDecoded(name, Buffer.concat(frames)).equals(data)).toBe(true);
    });
  }

  it("zstd honours its level, and every frame carries the content checksum `zstd -dc` checks", async () => {
    const data = SAMPLES.text;
    const [fast, small] = await Promise.all([1, 19].map((level) => zstdCodec(level).compress(data)));
    expect((fast as Buffer).length).toBeGreaterThan((small as Buffer).length * 1.1);
    for (const frame of [fast, small]) expect(cliDecoded("zstd", frame as Buffer).equals(data)).toBe(true);
    const frame = await zstdCodec(3).compress(data);
    const damaged = Buffer.from(frame);
    // The last 4 bytes are the checksum: flipping one leaves a frame that decodes but does not match it.
    damaged[damaged.length - 1] = (damaged[damaged.length - 1] as number) ^ 0xff;
    expect(() => cliDecoded("zstd", damaged)).toThrow();
    await expect(codecNamed("zstd").decompress(damaged)).rejects.toThrow(/frame at byte 0 does not decode.*checksum/);
  });

  it("frames written by the CLIs are split and decoded too (several frames, checksums on)", async () => {
    const data = SAMPLES.text;
    const zstdRun = Buffer.concat([
      execFileSync("zstd", ["-c", "--check", "-3"], { input: data }),
      execFileSync("zstd", ["-c", "-19"], { input: data }),
    ]);
    expect((await codecNamed("zstd").decompress(zstdRun)).equals(Buffer.concat([data, data]))).toBe(true);
    const lz4Run = Buffer.concat([
      execFileSync("lz4", ["-c", "-BX"], { input: data }),
      execFileSync("lz4", ["-c", "--content-size"], { input: data }),
    ]);
    expect((await codecNamed("lz4").decompress(lz4Run)).equals(Buffer.concat([data, data]))).toBe(true);
  });

  it("a truncated run of frames fails, naming the byte where the frame began", async () => {
    for (const [name, frameLength] of [
      ["zstd", zstdFrameLength],
      ["lz4", lz4FrameLength],
    ] as const) {
      const codec = codecNamed(name);
      const run = Buffer.concat([await codec.compress(SAMPLES.text), await codec.compress(SAMPLES.random)]);
      const first = [...contentFrames(run, frameLength)][0]?.frame.length as number;
      const cut = run.subarray(0, run.length - 10);
      expect(() => [...contentFrames(cut, frameLength)], name).toThrow(`the frame at byte ${first} does not end`);
      await expect(codec.decompress(cut), name).rejects.toThrow(/truncated/);
      await expect(readAll(decodedStream(Readable.from([cut]), codec)), name).rejects.toThrow(/truncated/);
    }
  });

  it("bytes that are no frame of the codec fail with what was expected", async () => {
    await expect(codecNamed("zstd").decompress(SAMPLES.text)).rejects.toThrow("no zstd frame at byte 0");
    await expect(codecNamed("lz4").decompress(SAMPLES.text)).rejects.toThrow("no LZ4 frame at byte 0");
  });

  it("a stored run is decoded as a stream, in chunks of any size", async () => {
    const data = Buffer.concat([SAMPLES.text, SAMPLES.random]);
    for (const name of ["zstd", "lz4", "gzip"] as const) {
      const codec = codecNamed(name);
      const frames: Buffer[] = [];
      for await (const piece of inPieces(Readable.from([data]), 100_000)) frames.push(await codec.compress(piece));
      const stored = Buffer.concat(frames);
      const decoded = await readAll(decodedStream(Readable.from(chunksOf(stored, 7_777)), codec));
      expect(decoded.equals(data), name).toBe(true);
    }
  });

  it("pieces are exactly the size asked, the last one the rest", async () => {
    const sizes: number[] = [];
    for await (const piece of inPieces(Readable.from(chunksOf(randomBytes(10_000), 333)), 4096))
      sizes.push(piece.length);
    expect(sizes).toEqual([4096, 4096, 10_000 - 8192]);
  });
});

describe("codec: settings", () => {
  it("reads every form, and refuses others with the forms it takes", () => {
    for (const text of ["auto", "seed", "none", "gzip", "lz4", "zstd", "zstd:1", "zstd:19"]) {
      expect(codecSettingSchema.safeParse(text).success, text).toBe(true);
    }
    for (const text of ["zstd:0", "zstd:20", "brotli", "ZSTD", "zstd:", "lz4:3", ""]) {
      const parsed = codecSettingSchema.safeParse(text);
      expect(parsed.success, text).toBe(false);
      expect(parsed.error?.issues[0]?.message).toContain("auto, seed, none, gzip, lz4, zstd or zstd:LEVEL");
    }
  });

  it("auto: text and numeric arrays get zstd; compressed formats and noise are stored raw", async () => {
    const auto = codecSetting("auto");
    expect((await chooseCodec(auto, SAMPLES.text)).codec.name).toBe("zstd");
    expect((await chooseCodec(auto, SAMPLES.floats)).codec.name).toBe("zstd");
    expect((await chooseCodec(auto, gzipSync(SAMPLES.text))).codec.name).toBe("none");
    expect((await chooseCodec(auto, SAMPLES.random)).codec.name).toBe("none");
    expect((await chooseCodec(auto, SAMPLES.empty)).codec.name).toBe("none");
  });

  it("seed: gzip for text, LZ4 for binary (application/*), as the seed's rule", async () => {
    const seed = codecSetting("seed");
    expect((await chooseCodec(seed, SAMPLES.text)).codec.name).toBe("gzip");
    expect((await chooseCodec(seed, SAMPLES.floats)).codec.name).toBe("lz4");
    expect((await chooseCodec(seed, gzipSync(SAMPLES.text))).codec.name).toBe("lz4");
    // A JPEG is image/jpeg: neither text/ nor application/, which the seed leaves as it is.
    const jpeg = Buffer.concat([Buffer.from("ffd8ffe000104a46494600", "hex"), randomBytes(64)]);
    expect((await chooseCodec(seed, jpeg)).codec.name).toBe("none");
  });

  it("auto hands back its trial frame with the bytes it covers, made where it is told", async () => {
    const made: number[] = [];
    const makeFrame = (codec: Codec, data: Buffer) => {
      made.push(data.length);
      return codec.compress(data);
    };
    const small = SAMPLES.text.subarray(0, 100_000);
    const choice = await chooseCodec(codecSetting("auto"), small, makeFrame);
    expect(made).toEqual([small.length]);
    expect(choice.frame?.covers).toBe(small.length);
    expect((await choice.codec.decompress(choice.frame?.data as Buffer)).equals(small)).toBe(true);
    // A sample longer than the trial: the frame covers the trial's first MiB only.
    const long = Buffer.concat([SAMPLES.text, SAMPLES.text, SAMPLES.text]);
    const longChoice = await chooseCodec(codecSetting("auto"), long, makeFrame);
    expect(made[1]).toBe(1024 * 1024);
    expect(longChoice.frame?.covers).toBe(1024 * 1024);
    const decoded = await longChoice.codec.decompress(longChoice.frame?.data as Buffer);
    expect(decoded.equals(long.subarray(0, 1024 * 1024))).toBe(true);
  });

  it("a fixed codec is used whatever the content", async () => {
    expect((await chooseCodec(codecSetting("zstd:7"), SAMPLES.random)).codec.name).toBe("zstd");
    expect((await chooseCodec(codecSetting("lz4"), SAMPLES.text)).codec.name).toBe("lz4");
  });
});

function* chunksOf(data: Buffer, size: number): Generator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}
