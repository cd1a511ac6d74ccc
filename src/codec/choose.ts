import * as z from "zod";
import { type Codec, codecNamed, ZSTD_DEFAULT_LEVEL, ZSTD_MAX_LEVEL, zstdCodec } from "./codec.js";

/**
 * Which codec a location or placement asks for (`codec:` in strata.yaml): a fixed one, `auto`
 * (by type and a trial on the first chunk) or `seed` (the seed's rule: gzip for text, LZ4 for
 * binary). The choice is made per file, from the first chunk of its content.
 */
export type CodecSetting = { kind: "auto" } | { kind: "seed" } | { kind: "fixed"; codec: Codec };

const SETTING_MESSAGE = "must be auto, seed, none, gzip, lz4, zstd or zstd:LEVEL (LEVEL 1 to 19)";

/** `codec:` as written in strata.yaml; kept as text in the config, read by `codecSetting`. */
export const codecSettingSchema = z.string().refine((text) => parseSetting(text) !== undefined, SETTING_MESSAGE);

/** The setting `text` names; throws for text the schema would refuse. */
export function codecSetting(text: string): CodecSetting {
  const setting = parseSetting(text);
  if (!setting) throw new Error(`codec ${JSON.stringify(text)}: ${SETTING_MESSAGE}`);
  return setting;
}

/** The setting of a `codec:` that may be absent (then: none given, the object stored raw). */
export function codecSettingOf(text: string | undefined): CodecSetting | undefined {
  return text === undefined ? undefined : codecSetting(text);
}

function parseSetting(text: string): CodecSetting | undefined {
  if (text === "auto" || text === "seed") return { kind: text };
  if (text === "none" || text === "gzip" || text === "lz4" || text === "zstd") {
    return { kind: "fixed", codec: codecNamed(text) };
  }
  const level = /^zstd:(\d{1,2})$/.exec(text)?.[1];
  if (level === undefined) return undefined;
  const n = Number(level);
  return n >= 1 && n <= ZSTD_MAX_LEVEL ? { kind: "fixed", codec: zstdCodec(n) } : undefined;
}

/** Whether a setting never compresses: the copy path then keeps its plain, streamed write. */
export function storesRaw(setting: CodecSetting): boolean {
  return setting.kind === "fixed" && setting.codec.name === "none";
}

const NONE = codecNamed("none");
const GZIP = codecNamed("gzip");
const LZ4 = codecNamed("lz4");
/** `auto`'s codec for what compresses: zstd at its default level, the throughput `zstd -3` gives. */
const AUTO_ZSTD = zstdCodec(ZSTD_DEFAULT_LEVEL);

/**
 * Formats that are compressed already (file-type's extensions): another pass gains nothing and
 * costs a core, so `auto` stores them raw without a trial.
 */
const ALREADY_COMPRESSED = new Set([
  "gz",
  "zst",
  "xz",
  "bz2",
  "lz4",
  "lz",
  "lzma",
  "br",
  "7z",
  "rar",
  "zip",
  "cab",
  "jar",
  "apk",
  "epub",
  "docx",
  "xlsx",
  "pptx",
  "odt",
  "ods",
  "png",
  "jpg",
  "jp2",
  "jxl",
  "gif",
  "webp",
  "avif",
  "heic",
  "mp4",
  "m4v",
  "mov",
  "mkv",
  "webm",
  "avi",
  "mp3",
  "m4a",
  "aac",
  "ogg",
  "oga",
  "opus",
  "flac",
  "woff",
  "woff2",
]);

/** Below this saving on the trial, `auto` stores a file raw: reading it back would cost more than the bytes saved. */
export const AUTO_MIN_SAVING = 0.05;
/** The trial compresses this much of the first chunk: enough to see the data's nature, cheap beside the file. */
const TRIAL_BYTES = 1024 * 1024;

/**
 * A codec chosen, and when the choice made one already (`auto`'s trial), the frame of the
 * sample's first `covers` bytes: the caller keeps it and compresses only the rest.
 */
export interface CodecChoice {
  codec: Codec;
  frame?: { data: Buffer; covers: number };
}

/** Makes one frame: the caller's threads, or the calling one. */
export type FrameMaker = (codec: Codec, data: Buffer) => Promise<Buffer>;

/**
 * The codec `setting` picks for a file whose content begins with `sample` (its first chunk).
 * `auto`'s trial frame is made by `makeFrame`; when the trial won, that frame is handed back
 * with the bytes it covers, so no byte is compressed twice (the trial was an eighth of the work).
 */
export async function chooseCodec(
  setting: CodecSetting,
  sample: Buffer,
  makeFrame: FrameMaker = (codec, data) => codec.compress(data),
): Promise<CodecChoice> {
  if (setting.kind === "fixed") return { codec: setting.codec };
  // An empty file is stored as it is: no codec's CLI makes anything of zero frames.
  if (sample.length === 0) return { codec: NONE };
  // The magic-number library (and its tokenizers) loads with the first sample, not at every start.
  const { fileTypeFromBuffer } = await import("file-type");
  const detected = await fileTypeFromBuffer(sample);
  if (setting.kind === "seed") {
    // The seed: libmagic's MIME type, text/* → gzip, application/* → LZ4, anything else (image/,
    // audio/, video/) left as it is. Content that no magic number names is text or octet-stream.
    const mime = detected?.mime ?? (looksLikeText(sample) ? "text/plain" : "application/octet-stream");
    if (mime.startsWith("text/")) return { codec: GZIP };
    return { codec: mime.startsWith("application/") ? LZ4 : NONE };
  }
  if (detected && ALREADY_COMPRESSED.has(detected.ext)) return { codec: NONE };
  const trial = sample.subarray(0, TRIAL_BYTES);
  const frame = await makeFrame(AUTO_ZSTD, trial);
  if (frame.length > trial.length * (1 - AUTO_MIN_SAVING)) return { codec: NONE };
  return { codec: AUTO_ZSTD, frame: { data: frame, covers: trial.length } };
}

/**
 * Text as `file` and the seed's libmagic mean it: no NUL byte and few control characters other
 * than whitespace, in the first 64 KiB. UTF-8 beyond ASCII counts as text.
 */
export function looksLikeText(sample: Buffer): boolean {
  const head = sample.subarray(0, 64 * 1024);
  let control = 0;
  for (const byte of head) {
    if (byte === 0) return false;
    if (byte < 32 && byte !== 9 && byte !== 10 && byte !== 13 && byte !== 12) control += 1;
  }
  return control <= head.length / 100;
}
