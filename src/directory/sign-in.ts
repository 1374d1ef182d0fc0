// Signing a person in: the password check (no user enumeration: an unknown e-mail costs the same argon2 work
// as a wrong password), the forced change of a temporary password, the session that a completed sign-in
// starts, and the claims an application receives. The rules that decide whether a person may sign in to an
// organisation's applications are the login policy (login-policy.ts).
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { type EventContext, eventFields, recordAuthEvent } from './auth-events.ts';
import { Invalid } from './errors.ts';
import { checkChosenPassword, type PasswordHasher } from './passwords.ts';
import { revokeAllSessions, startSession } from './sessions.ts';

export type Client = EventContext;

const dummyHashes = new WeakMap<PasswordHasher, Promise<string>>();
/** A hash at the hasher's cost that no password matches: verified against when the e-mail has no account. */
function dummyHash(passwords: PasswordHasher): Promise<string> {
  let h = dummyHashes.get(passwords);
  if (!h) {
    h = passwords.hash(randomBytes(24).toString('base64url'));
    dummyHashes.set(passwords, h);
  }
  return h;
}

/**
 * The account whose e-mail and password these are, or null. The same argon2 verification runs whether or
 * not the e-mail has an account (or a password), so neither the answer nor its time tells which it was.
 */
export async function verifyPassword(db: Knex, passwords: PasswordHasher, input: { email: string; password: string }): Promise<{ accountId: string | null; known: boolean }> {
  const email = input.email.trim();
  const row = email.length > 0 && email.length <= 320
    ? await db('accounts').whereRaw('lower(email) = lower(?)', [email]).first('id', 'password_hash')
    : undefined;
  const hash = row?.password_hash ?? (await dummyHash(passwords));
  const password = input.password.slice(0, 1024);
  const ok = await passwords.verify(hash, password);
  return { accountId: ok && row?.password_hash ? row.id : null, known: Boolean(row) };
}

/**
 * The person replaces their password (a temporary one, at first sign-in). NIST SP 800-63B rules; not the
 * password being replaced. Hashed before the transaction; every session of the account ends (a changed
 * password must lock out whoever had the old one), in every organisation.
 *
 * Trust across organisations: the new password is trusted as far as the one it replaces was. A person who
 * signed in with a password organisation B set, and changed it, may still be B's admin holding the temporary
 * password: until the e-mail address is verified, the new password opens B's applications only.
 */
export async function changePassword(
  db: Knex,
  passwords: PasswordHasher,
  input: { accountId: string; orgId: string; newPassword: string; minLength?: number; event?: Client },
): Promise<void> {
  const account = await db('accounts').where({ id: input.accountId }).first('id', 'email', 'password_hash', 'email_verified');
  if (!account) throw new Invalid('this account no longer exists', { field: 'accountId', rule: 'not_found' });
  await checkChosenPassword(input.newPassword, { email: account.email, minLength: input.minLength });
  if (account.password_hash && (await passwords.verify(account.password_hash, input.newPassword))) {
    throw new Invalid('choose a new password, not the one you have now', { field: 'password', rule: 'unchanged' });
  }
  const hash = await passwords.hash(input.newPassword);
  await db.transaction(async (trx) => {
    await trx('accounts').where({ id: input.accountId }).update({
      password_hash: hash, must_change_password: false, temporary_password_expires_at: null, password_changed_at: trx.fn.now(), updated_at: trx.fn.now(),
      ...(account.email_verified ? { password_set_by_org_id: null } : {}),
    });
    await revokeAllSessions(trx, { accountId: input.accountId, reason: 'password_changed', by: { type: 'user', id: input.accountId } });
    await recordAuthEvent(trx, { orgId: input.orgId, accountId: input.accountId, type: 'password_changed', outcome: 'success', ...eventFields(input.event) });
  });
}


/** How long a sign-in session lasts (the provider's browser session lasts as long). */
export const SESSION_TTL_SECONDS = 14 * 24 * 3600;

/**
 * A sign-in completed: the session row (bound to the provider's browser session when that is known, see
 * bindSession), the success event, the account's last login. Returns the session id.
 */
export async function completeSignIn(db: Knex, input: { orgId: string; accountId: string; provider: 'password' | 'sso'; factors: string[]; client: Client }): Promise<string> {
  return db.transaction(async (trx) => {
    const id = await startSession(trx, {
      orgId: input.orgId, accountId: input.accountId, clientId: input.client.clientId ?? null, oidcSessionUid: null, provider: input.provider,
      factors: input.factors, ip: input.client.ip ?? null, userAgent: input.client.userAgent ?? null, expiresAt: new Date(Date.now() + SESSION_TTL_SECONDS * 1000),
    });
    await recordAuthEvent(trx, { orgId: input.orgId, accountId: input.accountId, type: 'sign_in', outcome: 'success', ...eventFields(input.client) });
    await trx('accounts').where({ id: input.accountId }).update({ last_login_at: trx.fn.now() });
    return id;
  });
}

/** Binds a new session to the provider's browser session (known only once the provider has resumed). */
export async function bindSession(db: Knex, input: { orgId: string; sessionId: string; oidcSessionUid: string; accountId: string }): Promise<void> {
  await db('sessions').where({ org_id: input.orgId, id: input.sessionId, account_id: input.accountId }).whereNull('oidc_session_uid')
    .update({ oidc_session_uid: input.oidcSessionUid });
}

/** A failed attempt, as an auth event of the organisation whose application was asked for. */
export async function recordSignInFailure(db: Knex, input: { orgId: string; accountId?: string | null; email?: string | null; reason: Parameters<typeof recordAuthEvent>[1]['reason']; type?: 'sign_in' | 'mfa_verification'; client: Client }): Promise<void> {
  await recordAuthEvent(db, { orgId: input.orgId, accountId: input.accountId ?? null, email: input.email ?? null, type: input.type ?? 'sign_in', outcome: 'failure', reason: input.reason, ...eventFields(input.client) });
}

export type Claims = {
  sub: string; email: string; email_verified: boolean; name?: string; given_name?: string; family_name?: string;
  org_id: string; org_name: string; role: string;
};

/**
 * What an application of the organisation learns about a member: undefined unless the account has an
 * active membership there (so a deactivated member's refresh token stops working). Names follow the
 * account's profile (the managing organisation's view).
 */
export async function memberClaims(db: Knex, input: { orgId: string; accountId: string }): Promise<Claims | undefined> {
  const row = await db('memberships as m')
    .join('accounts as a', 'a.id', 'm.account_id')
    .join('organizations as o', 'o.id', 'm.org_id')
    .where({ 'm.org_id': input.orgId, 'm.account_id': input.accountId, 'm.status': 'active', 'a.status': 'active' })
    .first('a.id', 'a.email', 'a.email_verified', 'a.given_name', 'a.family_name', 'a.display_name', 'o.id as org_id', 'o.name as org_name', 'm.role');
  if (!row) return undefined;
  const name = row.display_name ?? ([row.given_name, row.family_name].filter(Boolean).join(' ') || undefined);
  return {
    sub: row.id, email: row.email, email_verified: row.email_verified,
    ...(name ? { name } : {}), ...(row.given_name ? { given_name: row.given_name } : {}), ...(row.family_name ? { family_name: row.family_name } : {}),
    org_id: row.org_id, org_name: row.org_name, role: row.role,
  };
}
