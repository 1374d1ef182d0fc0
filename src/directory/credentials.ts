// Machine credentials of an organisation, one path for every kind: SCIM bearer tokens, admin API keys and
// OIDC client secrets are all a random secret shown once, stored as a hash, with a kind, an org, an optional
// role, and created / last used / revoked times.
import type { Knex } from 'knex';
import { type Actor, recordAudit } from './audit.ts';
import { Forbidden, Invalid } from './errors.ts';
import { builtInRoles, mayGrant, type Permission, permissionsOf, standingOf } from './roles.ts';
import { isUuid, reuse } from './predicate.ts';
import { hashSecret, issueSecret } from './tokens.ts';

export type CredentialKind = 'scim_token' | 'api_key' | 'client_secret';

/** The prefix of each kind's secrets: a secret says what it is (and secret scanners can find it). */
const prefixes: Record<CredentialKind, string> = { scim_token: 'rst_scim', api_key: 'rst_key', client_secret: 'rst_secret' };

export type IssuedCredential = { id: string; secret: string };
export type VerifiedCredential = {
  id: string; orgId: string; kind: CredentialKind; role: string | null;
  /** An API key's maker (an account): the key never does more than they can do now, and stops when they leave. Null: the operator's. */
  madeBy: string | null;
};
export type CredentialInfo = {
  id: string; name: string; role: string | null; createdAt: Date; lastUsedAt: Date | null; revokedAt: Date | null;
  /** Who made it (null: the operator; `email` null once they left). An API key answers to them; a SCIM token only says so. */
  madeBy: { accountId: string; email: string | null } | null;
};

/** How stale `last_used_at` may get: it is written at most once per this interval per credential. */
export const LAST_USED_RESOLUTION_SECONDS = 60;

export async function issueCredential(
  trx: Knex,
  input: { orgId: string; kind: CredentialKind; name: string; role?: string | null; madeBy?: string | null },
): Promise<IssuedCredential> {
  const { secret, hash } = issueSecret(prefixes[input.kind]);
  const [row] = await trx('credentials')
    .insert({ org_id: input.orgId, kind: input.kind, name: input.name, role: input.role ?? null, secret_hash: hash, made_by_account_id: input.madeBy ?? null })
    .returning('id');
  return { id: row.id, secret };
}

/**
 * The active credential of this kind that the secret belongs to, or null. One indexed statement, which also
 * records the use when the last recorded one is older than a minute: no write per request, and no state in
 * this process.
 */
export async function verifyCredential(db: Knex, input: { kind: CredentialKind; secret: string }): Promise<VerifiedCredential | null> {
  if (!input.secret.startsWith(prefixes[input.kind] + '_') || input.secret.length > 200) return null;
  const result = await reuse(db.raw(
    `with found as (
       select id, org_id, role, made_by_account_id, last_used_at from credentials where secret_hash = ? and kind = ? and revoked_at is null
     ), touched as (
       update credentials c set last_used_at = now() from found
       where c.id = found.id and (found.last_used_at is null or found.last_used_at < now() - make_interval(secs => ?))
       returning c.id
     )
     select id, org_id, role, made_by_account_id from found`,
    [hashSecret(input.secret), input.kind, LAST_USED_RESOLUTION_SECONDS],
  ));
  const row = (result.rows as { id: string; org_id: string; role: string | null; made_by_account_id: string | null }[])[0];
  return row ? { id: row.id, orgId: row.org_id, kind: input.kind, role: row.role, madeBy: row.made_by_account_id } : null;
}

/**
 * What an API key may do now: its role's permissions, and for a key a member made, only those the member
 * still has (their role and their groups' roles); null when its maker is no longer an active member here.
 * The operator's keys answer to nobody.
 */
export async function apiKeyPermissions(db: Knex, key: VerifiedCredential): Promise<ReadonlySet<Permission> | null> {
  if (!key.madeBy) return permissionsOf(key.role);
  const maker = await standingOf(db, { orgId: key.orgId, accountId: key.madeBy });
  return maker ? new Set([...permissionsOf(key.role)].filter((p) => maker.permissions.has(p))) : null;
}

/** Revokes a credential of this organisation at once: the next request with it is refused. False if none was active. */
export async function revokeCredential(db: Knex, input: { orgId: string; kind: CredentialKind; id: string }): Promise<boolean> {
  if (!isUuid(input.id)) return false;
  const n = await db('credentials').where({ org_id: input.orgId, kind: input.kind, id: input.id }).whereNull('revoked_at')
    .update({ revoked_at: db.fn.now() });
  return n > 0;
}

/** The organisation's credentials of one kind, newest first; never their secrets (only hashes are stored). */
export async function listCredentials(db: Knex, input: { orgId: string; kind: CredentialKind }): Promise<CredentialInfo[]> {
  // The maker's address only while they are a member here: a person who left is no business of this organisation's.
  const rows = await db('credentials as c')
    .leftJoin('memberships as m', (j) => j.on('m.org_id', 'c.org_id').andOn('m.account_id', 'c.made_by_account_id'))
    .leftJoin('accounts as a', 'a.id', 'm.account_id')
    .where({ 'c.org_id': input.orgId, 'c.kind': input.kind })
    .orderBy([{ column: 'c.created_at', order: 'desc' }, { column: 'c.id' }])
    .select('c.id', 'c.name', 'c.role', 'c.created_at', 'c.last_used_at', 'c.revoked_at', 'c.made_by_account_id', 'a.email');
  const date = (v: unknown) => (v ? new Date(v as string) : null);
  return rows.map((r) => ({
    id: r.id, name: r.name, role: r.role, createdAt: new Date(r.created_at), lastUsedAt: date(r.last_used_at), revokedAt: date(r.revoked_at),
    madeBy: r.made_by_account_id ? { accountId: r.made_by_account_id, email: r.email ?? null } : null,
  }));
}

/**
 * Issues a SCIM token or an API key through a door (the admin API), with its audit entry; the secret is in
 * the answer only. An API key carries a built-in role.
 */
export async function createCredential(
  db: Knex,
  input: {
    orgId: string; kind: 'scim_token' | 'api_key'; name: string; role?: string | null; actor: Actor; grantor?: ReadonlySet<Permission>;
    /** The member making it: the person, or the maker of the API key making it (null: the operator). An API key answers to them. */
    madeBy?: string | null;
  },
): Promise<IssuedCredential> {
  const name = input.name.trim();
  if (name.length === 0 || name.length > 200) throw new Invalid('a name is 1 to 200 characters', { field: 'name', rule: 'length' });
  if (input.kind === 'api_key' && !builtInRoles.includes(input.role as string)) {
    throw new Invalid(`an API key carries one of the roles ${builtInRoles.join(', ')}`, { field: 'role', rule: 'unknown_role' });
  }
  // Never a key that can do more than whoever makes it (an admin cannot mint an owner's key).
  if (input.kind === 'api_key' && input.grantor && !mayGrant(input.grantor, permissionsOf(input.role))) {
    throw new Forbidden(`you cannot create a key with the role ${input.role}: it can do more than you can`, { field: 'role', rule: 'escalation' });
  }
  return db.transaction(async (trx) => {
    const madeBy = input.madeBy ?? null;
    const issued = await issueCredential(trx, { orgId: input.orgId, kind: input.kind, name, role: input.kind === 'api_key' ? input.role : null, madeBy });
    await recordAudit(trx, {
      orgId: input.orgId, actor: input.actor, action: `${input.kind}.created`, targetType: input.kind, targetId: issued.id,
      details: { name, ...(input.role ? { role: input.role } : {}), ...(madeBy ? { madeBy } : {}) },
    });
    return issued;
  });
}

/** Revokes a SCIM token or an API key through a door, with its audit entry. False if none was active. */
export async function revokeCredentialBy(db: Knex, input: { orgId: string; kind: 'scim_token' | 'api_key'; id: string; actor: Actor }): Promise<boolean> {
  return db.transaction(async (trx) => {
    const revoked = await revokeCredential(trx, { orgId: input.orgId, kind: input.kind, id: input.id });
    if (revoked) await recordAudit(trx, { orgId: input.orgId, actor: input.actor, action: `${input.kind}.revoked`, targetType: input.kind, targetId: input.id, details: {} });
    return revoked;
  });
}
