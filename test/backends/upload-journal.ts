import { Readable } from "node:stream";
import type { JournaledUpload, UploadJournal } from "../../src/backends/backend.js";

/* What the multipart tests of every backend that resumes uploads (S3, Azure) share. */

/** A journal kept in memory, as the catalog keeps it between runs. */
export function memoryJournal(): UploadJournal & { state: JournaledUpload | undefined } {
  const journal = {
    state: undefined as JournaledUpload | undefined,
    load: async () => journal.state && structuredClone(journal.state),
    begin: async (uploadId: string, partSize: number) => {
      const older = journal.state?.uploadId;
      journal.state = { uploadId, partSize, parts: [] };
      return older;
    },
    savePart: async (part: JournaledUpload["parts"][number]) => {
      journal.state?.parts.push(part);
    },
    clear: async () => {
      journal.state = undefined;
    },
  };
  return journal;
}

/**
 * The first `bytes` of `content`, handed out as the reader asks, then an error: a source that
 * dies mid-way (a stream that failed early would drop what it had buffered but not yet given).
 */
export function failingAfter(content: Buffer, bytes: number): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= bytes) {
        this.destroy(new Error("the source went away"));
        return;
      }
      const end = Math.min(bytes, offset + 64 * 1024);
      this.push(content.subarray(offset, end));
      offset = end;
    },
  });
}
