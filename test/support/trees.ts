import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Writes files given as relative path → content, creating directories. */
export function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

/** A deterministic-size tree of random files with varied modes and old mtimes. */
export function randomTree(root: string, count: number, maxSize = 8192): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < count; i++) {
    const path = `set-${i % 7}/sub-${i % 3}/file-${i}.dat`;
    files[path] = randomBytes((i * 7919) % maxSize);
  }
  writeTree(root, files);
  let i = 0;
  for (const path of Object.keys(files)) {
    chmodSync(join(root, path), i % 2 ? 0o600 : 0o644);
    const seconds = 1_500_000_000 + i * 1000 + 0.123456;
    utimesSync(join(root, path), seconds, seconds);
    i += 1;
  }
  return files;
}

/** Names the issue says must survive: bytes that are not UTF-8, a newline, 255 bytes, deep nesting. */
export const ODD_NAMES = {
  latin1: Buffer.from([0x72, 0xe9, 0x73, 0x75, 0x6c, 0x74, 0x61, 0x74, 0x2e, 0x64, 0x61, 0x74]), // "résultat.dat" in Latin-1
  newline: Buffer.from("two\nlines.txt"),
  long: Buffer.from(`${"n".repeat(251)}.dat`),
  unicode: Buffer.from("données été.csv"),
};

/** Builds the odd tree; returns the byte paths of its regular files (relative). */
export function oddTree(root: string): Buffer[] {
  const files: Buffer[] = [];
  const put = (rel: Buffer, content: string) => {
    writeFileSync(Buffer.concat([Buffer.from(`${root}/`), rel]), content);
    files.push(rel);
  };
  for (const [label, name] of Object.entries(ODD_NAMES)) put(name, `odd ${label}`);
  let deep = "";
  for (let level = 0; level < 100; level++) deep += `${deep ? "/" : ""}l${level}`;
  mkdirSync(join(root, deep), { recursive: true });
  put(Buffer.from(`${deep}/bottom.txt`), "at the bottom");
  symlinkSync(".", join(root, "loop"));
  symlinkSync("ping", join(root, "pong"));
  symlinkSync("pong", join(root, "ping"));
  return files;
}

/**
 * A file's size, 0 once it is gone: for polls of a run's temp files, one of which may be renamed
 * into place between the directory's listing and its stat.
 */
export function sizeOf(path: string): number {
  return statSync(path, { throwIfNoEntry: false })?.size ?? 0;
}
