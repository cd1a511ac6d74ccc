import type { CodecName } from "./codec.js";

/*
 * Messages between the worker pool (worker-pool.ts) and its threads (worker-thread.ts): frames
 * to compress, and content to hash (a part's MD5, or one step of a digest taken in order).
 */

/** One piece of content to compress into one frame. */
export interface CompressRequest {
  id: number;
  kind: "compress";
  codec: CodecName;
  /** zstd's level; other codecs have none. */
  level?: number;
  data: Uint8Array;
}

export type DigestAlgorithm = "md5" | "sha256";

/**
 * Content to hash. With `session`, the bytes extend that session's digest (the thread keeps it
 * between requests, so the pool sends a session's requests to one thread, in order) and the
 * digest is answered only with `final`; without, the digest of `data` alone is answered.
 */
export type DigestRequest = {
  id: number;
  kind: "digest";
  algorithm: DigestAlgorithm;
  session?: number;
  final?: boolean;
} & ({ data: Uint8Array } | { file: FileExtent });

/**
 * Bytes [start, end) of a file the process holds open: the thread reads them itself (file
 * descriptors are the process's), so they are neither copied nor held in the main thread.
 */
export interface FileExtent {
  fd: number;
  start: number;
  end: number;
}

export type WorkerRequest = CompressRequest | DigestRequest;

/** A request before the pool numbers it (each member of a union without its id). */
export type Unnumbered<T> = T extends unknown ? Omit<T, "id"> : never;

/** A frame, a digest, or nothing (a session's step that is not its last). */
export type WorkerReply = { id: number; bytes: Uint8Array } | { id: number; error: string };
