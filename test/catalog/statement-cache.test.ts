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
      // 1 to 7 used after 0, then 0 again: 1 is now the least recently used, though 0 came first.
      for (let n = 1; n <= 7; n++) await longStatement(n).execute(catalog.db);
      await longStatement(0).execute(catalog.db);
      await longStatement(8).execute(catalog.db);
      expect(preparesOf(0)).toBe(1);
      // Nine used, eight kept: 1 was let go and is prepared again; 0 and 8 were kept.
      await longStatement(1).execute(catalog.db);
      await longStatement(0).execute(catalog.db);
      await longStatement(8).execute(catalog.db);
      expect([preparesOf(1), preparesOf(0), preparesOf(8)]).toEqual([2, 1, 1]);
    } finally {
      await catalog.close();
    }
  });
});
