// Machine credentials of an organisation: SCIM bearer tokens and admin API keys. Stored as hashes, shown once.
import type { Knex } from 'knex';
import { isUuid, reuse } from './predicate.ts';
import { hashSecret, issueSecret } from './tokens.ts';

export type IssuedCredential = { id: string; secret: string };

export async function issueScimToken(trx: Knex, orgId: string, name: string): Promise<IssuedCredential> {
  const { secret, hash } = issueSecret('rst_scim');
  const [row] = await trx('scim_tokens').insert({ org_id: orgId, name, token_hash: hash }).returning('id');
  return { id: row.id, secret };
}

export async function issueApiKey(trx: Knex, orgId: string, name: string): Promise<IssuedCredential> {
  const { secret, hash } = issueSecret('rst_key');
  const [row] = await trx('api_keys').insert({ org_id: orgId, name, key_hash: hash }).returning('id');
  return { id: row.id, secret };
}

/** The organisation a SCIM bearer token belongs to, or null for an unknown or revoked token. One indexed lookup. */
export async function authenticateScimToken(db: Knex, token: string): Promise<{ orgId: string; tokenId: string } | null> {
  if (!token.startsWith('rst_scim_') || token.length > 200) return null;
  const row = await reuse(db('scim_tokens').where({ token_hash: hashSecret(token) }).whereNull('revoked_at').first('id', 'org_id'));
  return row ? { orgId: row.org_id, tokenId: row.id } : null;
}

/** Revokes a token of this organisation at once: the next request with it gets 401. False if none was active. */
export async function revokeScimToken(db: Knex, orgId: string, tokenId: string): Promise<boolean> {
  if (!isUuid(tokenId)) return false;
  const n = await db('scim_tokens').where({ org_id: orgId, id: tokenId }).whereNull('revoked_at').update({ revoked_at: db.fn.now() });
  return n > 0;
}

export type ScimTokenInfo = { id: string; name: string; createdAt: Date; revokedAt: Date | null };

/** The organisation's SCIM tokens, newest first; never their secrets (only hashes are stored). */
export async function listScimTokens(db: Knex, orgId: string): Promise<ScimTokenInfo[]> {
  const rows = await db('scim_tokens').where({ org_id: orgId }).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id' }])
    .select('id', 'name', 'created_at', 'revoked_at');
  return rows.map((r) => ({ id: r.id, name: r.name, createdAt: new Date(r.created_at), revokedAt: r.revoked_at ? new Date(r.revoked_at) : null }));
}
