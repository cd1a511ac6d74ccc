import type { Backend, FileAttributes, UploadJournal } from "../backends/backend.js";
import type { AttributeTrust } from "../backends/metadata.js";
import type { CodecSetting } from "../codec/choose.js";
import type { TokenBucket } from "./rate-limit.js";

/*
 * What one verified copy is asked to do. Its own module because both ways of copying take it,
 * one stream (copy.ts) and ranges in parallel (ranged-download.ts), and copy.ts calls the other.
 */

export interface CopyRequest {
  source: Backend;
  sourceKey: string;
  target: Backend;
  targetKey: string;
  size: number;
  attributes: FileAttributes;
  storageClass?: string;
  tags?: Record<string, string>;
  /** The content hash the catalog expects of the source, when it knows one. */
  expectedHash?: string;
  /**
   * Take the source object's own attributes only when it carries this path: an object shared by
   * deduplication carries its first writer's, which are not the file's being restored.
   */
  ownerPath?: string;
  /** Called with each chunk's size as it passes, for progress. */
  onBytes?: (count: number) => void;
  /** The bandwidth cap shared by all transfers, if any. */
  bandwidth?: TokenBucket;
  /** Where a large upload journals its parts, so a killed copy resumes instead of starting over. */
  journal?: UploadJournal;
  /** Parts in flight for a large upload, or ranges read at once for a large download. */
  streams?: number;
  /** What a target that writes files may take of the attributes beyond permission bits. */
  trust?: AttributeTrust;
  /** How an object-store target stores the content; a file tree always gets the plain file. */
  codec?: CodecSetting;
}
