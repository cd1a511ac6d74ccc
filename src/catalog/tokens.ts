import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { CatalogDb } from "./db.js";
import type { TokenRole } from "./schema.js";

/** API tokens of `strata serve`: made here, shown once, kept only as their SHA-256. */

/** What may be known of a token after it was made: never the token itself. */
export interface TokenInfo {
  id: number;
  name: string;
  role: TokenRole;
  createdAt: number;
  revokedAt: number | null;
}

/**
 * What a token may be named: visible ASCII, not all digits (digits name a token's id when one is
 * revoked by id or name).
 */
export const TOKEN_NAME = /^(?!\d+$)[\x21-\x7e]{1,64}$/;
export const TOKEN_NAME_RULE = "1 to 64 visible characters, not all digits (digits name a token's id)";

/** The prefix makes a leaked token recognisable to secret scanners and people alike. */
const TOKEN_PREFIX = "strata_";

function hashOf(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Makes a token with `role`; returns the token (to print once) and what the catalog keeps. */
export async function createToken(
  { db }: CatalogDb,
  spec: { role: TokenRole; name: string },
): Promise<{ token: string; info: TokenInfo }> {
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
  const createdAt = Date.now();
  const row = await db
    .insertInto("tokens")
    .values({ name: spec.name, role: spec.role, hash: hashOf(token), created_at: createdAt, revoked_at: null })
    .returning("id")
    .executeTakeFirstOrThrow();
  return { token, info: { id: row.id, name: spec.name, role: spec.role, createdAt, revokedAt: null } };
}

export async function listTokens({ db }: CatalogDb): Promise<TokenInfo[]> {
  const rows = await db.selectFrom("tokens").selectAll().orderBy("id").execute();
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    role: row.role,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  }));
}

/** Revokes the token with this id or name; returns how many were revoked (0: none such, or already). */
export async function revokeToken({ db }: CatalogDb, idOrName: string): Promise<number> {
  const id = /^\d+$/.test(idOrName) ? Number(idOrName) : -1;
  const result = await db
    .updateTable("tokens")
    .set({ revoked_at: Date.now() })
    .where((eb) => eb.or([eb("id", "=", id), eb("name", "=", idOrName)]))
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/**
 * The live token a client presented, or undefined. The row is found by its hash (a hash of a
 * secret tells nothing of the secret), then the hashes are compared in constant time anyway, so
 * no database collation or index quirk can ever accept a near match.
 */
export async function authenticate({ db }: CatalogDb, presented: string): Promise<TokenInfo | undefined> {
  const hash = hashOf(presented);
  const row = await db
    .selectFrom("tokens")
    .selectAll()
    .where("hash", "=", hash)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  if (!row || !timingSafeEqual(Buffer.from(row.hash, "hex"), Buffer.from(hash, "hex"))) return undefined;
  return { id: row.id, name: row.name, role: row.role, createdAt: row.created_at, revokedAt: row.revoked_at };
}
