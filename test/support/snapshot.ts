import { lstatSync, readdirSync, readFileSync } from "node:fs";

/** Every regular file under `root` as byte path → { content, mode, mtimeUs }. */
export function snapshot(root: string): Map<string, { content: Buffer; mode: number; mtimeUs: number }> {
  const out = new Map<string, { content: Buffer; mode: number; mtimeUs: number }>();
  const walk = (dir: Buffer, rel: Buffer | undefined) => {
    for (const name of readdirSync(dir, { encoding: "buffer" })) {
      const path = Buffer.concat([dir, Buffer.from("/"), name]);
      const relPath = rel ? Buffer.concat([rel, Buffer.from("/"), name]) : name;
      const stats = lstatSync(path);
      if (stats.isDirectory()) walk(path, relPath);
      else if (stats.isFile()) {
        out.set(relPath.toString("hex"), {
          content: readFileSync(path),
          mode: stats.mode & 0o7777,
          mtimeUs: Math.round(stats.mtimeMs * 1000),
        });
      }
    }
  };
  walk(Buffer.from(root), undefined);
  return out;
}
