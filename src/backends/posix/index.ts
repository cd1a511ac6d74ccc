import type { BackendDescriptor, DirectoryLocation } from "../descriptor.js";
import { absoluteDirectory, relativeDirectory } from "../descriptor.js";
import { POSIX_CAPABILITIES, PosixBackend } from "./posix-backend.js";

/** A POSIX tree (Lustre, GPFS, BeeGFS, NFS): a plain path, relative to the config's directory, or `file:///abs`. */
export const posix: BackendDescriptor<DirectoryLocation<"posix">, undefined> = {
  kind: "posix",
  schemes: ["file"],
  plainPaths: true,
  parse: (text, scheme, baseDir) =>
    scheme === undefined ? relativeDirectory("posix", "file", text, baseDir) : absoluteDirectory("posix", scheme, text),
  options: undefined,
  caps: POSIX_CAPABILITIES,
  priceProfile: "onprem",
  onThisMachine: true,
  fileTree: true,
  open: async (location) => new PosixBackend(location.root, location.url),
};
