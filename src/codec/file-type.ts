/**
 * A file's type from its name, as research data is usually named: a short lowercase family
 * name (netcdf, hdf5, fastq, …) for `files.file_type`, so policies can say `type: netcdf`
 * whatever the extension. Names only: reading content to sniff it would cost a read per file
 * at scan time, and research formats are named reliably.
 */

/** Family → the extensions (lowercase, without the dot) that name it. */
const FAMILIES: Readonly<Record<string, readonly string[]>> = {
  netcdf: ["nc", "nc4", "cdf", "netcdf"],
  hdf5: ["h5", "hdf5", "he5"],
  hdf4: ["hdf", "h4", "he4", "hdf4"],
  grib: ["grb", "grib", "grb2", "grib2"],
  zarr: ["zarr"],
  fastq: ["fastq", "fq"],
  fasta: ["fasta", "fa", "fna", "faa", "ffn"],
  sam: ["sam"],
  bam: ["bam"],
  cram: ["cram"],
  vcf: ["vcf", "bcf"],
  bed: ["bed"],
  gff: ["gff", "gff3", "gtf"],
  fits: ["fits", "fit", "fts"],
  tiff: ["tif", "tiff"],
  dicom: ["dcm", "dicom"],
  nifti: ["nii"],
  parquet: ["parquet", "pq"],
  csv: ["csv", "tsv"],
  json: ["json", "jsonl", "ndjson", "geojson"],
  numpy: ["npy", "npz"],
  matlab: ["mat"],
  root: ["root"],
  text: ["txt", "log", "md", "rst"],
  pdf: ["pdf"],
  image: ["png", "jpg", "jpeg", "gif", "bmp", "webp", "svg"],
  video: ["mp4", "mov", "avi", "mkv", "webm"],
  audio: ["wav", "flac", "mp3", "ogg"],
  archive: ["tar", "zip", "tgz", "tbz", "tbz2", "txz", "7z", "rar"],
};

/** Compression suffixes: `reads.fastq.gz` is still fastq; `x.gz` alone is compressed. */
const COMPRESSION = new Set(["gz", "bgz", "bz2", "xz", "zst", "lz4", "z"]);

const FAMILY_OF = new Map(
  Object.entries(FAMILIES).flatMap(([family, extensions]) => extensions.map((ext) => [ext, family] as const)),
);

/** Every value `fileTypeOf` returns but null, in a fixed order: a scan sends a type as its index. */
export const FILE_TYPES: readonly string[] = [...Object.keys(FAMILIES), "compressed"];

/**
 * The type family of a path (in the key encoding) by its extension, or null when unknown. Called
 * for every file a scan sees, so it finds the dots by index rather than splitting the name.
 */
export function fileTypeOf(path: string): string | null {
  const nameStart = path.lastIndexOf("/") + 1;
  const dot = path.lastIndexOf(".");
  // No dot in the name, or only a hidden file's leading one (".bashrc"): no extension.
  if (dot <= nameStart) return null;
  const last = path.slice(dot + 1).toLowerCase();
  if (!COMPRESSION.has(last)) return FAMILY_OF.get(last) ?? null;
  // `reads.fastq.gz`: the extension under the compression's, if the name has one.
  const innerDot = path.lastIndexOf(".", dot - 1);
  const inner = innerDot > nameStart ? FAMILY_OF.get(path.slice(innerDot + 1, dot).toLowerCase()) : undefined;
  return inner ?? "compressed";
}
