import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach } from "vitest";

const created: string[] = [];

afterAll(() => {
  for (const dir of created) {
    // A test may have removed it itself (a writer that owns the directory it was given).
    if (!existsSync(dir)) continue;
    // Tests make directories unreadable on purpose; make them removable again.
    chmodSync(dir, 0o700);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A temp directory, removed when the test file ends. */
export function tempDir(label = "strata-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), label));
  created.push(dir);
  return dir;
}

/**
 * A TMPDIR of its own for each test of the file (what the code under test puts in `os.tmpdir()`
 * lands there, and a sweep that runs once per TMPDIR runs again); returns it, current test's.
 */
export function tmpdirPerTest(label: string): () => string {
  let saved: string | undefined;
  let current = "";
  beforeEach(() => {
    saved = process.env.TMPDIR;
    current = tempDir(label);
    process.env.TMPDIR = current;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  });
  return () => current;
}
