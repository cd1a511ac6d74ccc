import { chmodSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";

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
