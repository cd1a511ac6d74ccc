import Database from "better-sqlite3";
import { sql } from "kysely";
import { afterEach, describe, expect, it, vi } from "vitest";
import { freshCatalog } from "../support/catalogs.js";
import { tempDir } from "../support/tmp.js";

/** A statement over 2,000 characters that differs by `n`: a long batch of its own shape. */
function longStatement(n: number) {
  const terms = Array.from({ length: 400 }, (_, i) => `${i} + ${n}`).join(", ");
  return sql.raw(`SELECT ${terms}`);
}

describe("SQLite statements kept for reuse", () => {
  afterEach(() => vi.restoreAllMocks());

  it("prepares a long statement once while it is among the 8 most recently used, and again after", async () => {
    const catalog = await freshCatalog("sqlite", tempDir());
    const prepare = vi.spyOn(Database.prototype, "prepare");
    const preparesOf = (n: number) => {
      const text = longStatement(n).compile(catalog.db).sql;
      return prepare.mock.calls.filter(([source]) => source === text).length;
    };
    try {
      expect(longStatement(0).compile(catalog.db).sql.length).toBeGreaterThan(2000);
      for (let round = 0; round < 3; round++) await longStatement(0).execute(catalog.db);
      expect(preparesOf(0)).toBe(1);
      // Eight others used since: statement 0 is the least recently used, and is let go.
      for (let n = 1; n <= 8; n++) await longStatement(n).execute(catalog.db);
      await longStatement(0).execute(catalog.db);
      expect(preparesOf(0)).toBe(2);
      // Statement 8 was used after 0 was let go, and is still kept.
      await longStatement(8).execute(catalog.db);
      expect(preparesOf(8)).toBe(1);
    } finally {
      await catalog.close();
    }
  });
});
