import { randomBytes } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Kysely, PostgresDialect, SqliteDialect } from "kysely";
import pg from "pg";
import { inject } from "vitest";
import { type CatalogDb, openCatalog } from "../../src/catalog/db.js";
import type { CatalogSchema } from "../../src/catalog/schema.js";

/** Each catalog test runs on both databases; each gets a fresh, empty catalog. */
export const CATALOG_KINDS = ["sqlite", "postgres"] as const;
export type CatalogKind = (typeof CATALOG_KINDS)[number];

export async function freshCatalogUrl(kind: CatalogKind, dir: string): Promise<string> {
  if (kind === "sqlite") return join(dir, `catalog-${randomBytes(4).toString("hex")}.db`);
  const server = inject("postgresUrl");
  const name = `strata_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  return server.replace(/\/postgres$/, `/${name}`);
}

export async function freshCatalog(kind: CatalogKind, dir: string): Promise<CatalogDb> {
  return openCatalog(await freshCatalogUrl(kind, dir));
}

/** A bare Kysely on a catalog's database, for tests that migrate it step by step. */
export function kyselyAt(kind: CatalogKind, url: string): Kysely<CatalogSchema> {
  return new Kysely<CatalogSchema>({
    dialect:
      kind === "sqlite"
        ? new SqliteDialect({ database: new Database(url) })
        : new PostgresDialect({ pool: new pg.Pool({ connectionString: url }) }),
  });
}
