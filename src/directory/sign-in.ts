// Signing a person in: the password check (no user enumeration: an unknown e-mail costs the same argon2 work
// as a wrong password), the forced change of a temporary password, the session that a completed sign-in
// starts, and the claims an application receives. The rules that decide whether a person may sign in to an
// organisation's applications are the login policy (login-policy.ts).
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { type AuthEventReason, type AuthEventType, type EventContext, eventFields, recordAuthEvent } from './auth-events.ts';
import { Invalid } from './errors.ts';
import type { EmailCodes } from './email-codes.ts';
import { checkChosenPassword, type PasswordHasher } from './passwords.ts';
import { revokeAllSessions, startSession } from './sessions.ts';


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

export type SignInCandidate = {
  /** The account with this e-mail, if any. */
  accountId: string | null;
  /** Whether that account is a member (of any status) of the organisation whose application is asked for. */
  member: boolean;
  passwordHash: string | null;
};

/** The account an e-mail names, for a sign-in to this organisation's application (one indexed query). */
export async function findSignInCandidate(db: Knex, input: { orgId: string; email: string }): Promise<SignInCandidate> {
  const email = input.email.trim();
  if (email.length === 0 || email.length > 320) return { accountId: null, member: false, passwordHash: null };
  const row = await db('accounts as a').whereRaw('lower(a.email) = lower(?)', [email])
    .first('a.id', 'a.password_hash', db.raw('exists (select 1 from memberships m where m.org_id = ? and m.account_id = a.id) as member', [input.orgId]));
  return row ? { accountId: row.id, member: Boolean(row.member), passwordHash: row.password_hash } : { accountId: null, member: false, passwordHash: null };
}

/**
 * Whether the password is the candidate's. The same argon2 verification runs whether or not there is an
 * account (or a password), so neither the answer nor its time tells which it was.
 */
export async function checkPassword(passwords: PasswordHasher, candidate: SignInCandidate, password: string): Promise<boolean> {
  const hash = candidate.passwordHash ?? (await dummyHash(passwords));
  const ok = await passwords.verify(hash, password.slice(0, 1024));
  return ok && candidate.passwordHash !== null;
}

/**
 * What a password attempt at an organisation's application comes to. Someone who is not a member there gets
 * the answer of a wrong password, right password or not (no page may confirm the passwords of other
 * organisations' people), and the failure names no account (that organisation's admins must not learn who
 * has an account elsewhere).
 */
export function passwordOutcome(candidate: SignInCandidate, passwordOk: boolean):
  { accountId: string } | { reason: 'wrong_password' | 'unknown_account'; accountId: string | null } {
  if (passwordOk && candidate.member && candidate.accountId) return { accountId: candidate.accountId };
  return candidate.member ? { reason: 'wrong_password', accountId: candidate.accountId } : { reason: 'unknown_account', accountId: null };
}

/**
 * The person replaces their password (a temporary one, at first sign-in). NIST SP 800-63B rules; not the
 * password being replaced. Hashed before the transaction; every session of the account ends (a changed
 * password must lock out whoever had the old one), in every organisation.
 *
 * Trust across organisations: the new password is trusted as far as the one it replaces was (whoever set
 * it stays its setter). A person who signed in with a password organisation B set, and changed it, may be
 * B's admin holding the temporary password: the new one still opens only B's applications. Only a password
 * set through an e-mailed link (resetPassword) is the person's own.
 */
export async function changePassword(
  db: Knex,
  passwords: PasswordHasher,
  input: { accountId: string; orgId: string; newPassword: string; minLength?: number; event?: EventContext; forced?: boolean },
): Promise<void> {
  const account = await db('accounts').where({ id: input.accountId })
    .first('id', 'email', 'password_hash', 'must_change_password', db.raw('coalesce(temporary_password_expires_at <= now(), false) as expired'));
  if (!account) throw new Invalid('this account no longer exists', { field: 'accountId', rule: 'not_found' });
  // The forced change replaces a live temporary password, nothing else.
  if (input.forced && (!account.must_change_password || account.expired)) {
    throw new Invalid('there is no temporary password to change', { field: 'accountId', rule: 'not_temporary' });
  }
  await checkChosenPassword(input.newPassword, { email: account.email, minLength: input.minLength });
  if (account.password_hash && (await passwords.verify(account.password_hash, input.newPassword))) {
    throw new Invalid('choose a new password, not the one you have now', { field: 'password', rule: 'unchanged' });
  }
  const hash = await passwords.hash(input.newPassword);
  await db.transaction(async (trx) => {
    await trx('accounts').where({ id: input.accountId }).update({
      password_hash: hash, must_change_password: false, temporary_password_expires_at: null, password_changed_at: trx.fn.now(), updated_at: trx.fn.now(),
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
export async function completeSignIn(db: Knex, input: { orgId: string; accountId: string; provider: 'password' | 'sso'; factors: string[]; client: EventContext }): Promise<string> {
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

/**
 * Binds a new session to the provider's browser session (known only once the provider has resumed). A
 * browser signs in again (prompt=login, max_age): the session it had in this organisation is superseded by the
 * new one, which takes over its grants, so that there is one live session per browser and organisation and
 * revoking it reaches every token the browser holds there.
 */
export async function bindSession(db: Knex, input: { orgId: string; sessionId: string; oidcSessionUid: string; accountId: string }): Promise<void> {
  await db.transaction(async (trx) => {
    const bound = await trx('sessions').where({ org_id: input.orgId, id: input.sessionId, account_id: input.accountId }).whereNull('oidc_session_uid')
      .update({ oidc_session_uid: input.oidcSessionUid });
    if (bound === 0) return;
    const superseded: { id: string }[] = await trx('sessions').where({ org_id: input.orgId, oidc_session_uid: input.oidcSessionUid })
      .whereNot({ id: input.sessionId }).whereNull('revoked_at')
      .update({ revoked_at: trx.fn.now(), revoked_reason: 'superseded', revoked_by: `user:${input.accountId}` }).returning('id');
    if (superseded.length === 0) return;
    await trx.raw(`insert into session_grants (org_id, session_id, grant_id)
      select org_id, ?, grant_id from session_grants where org_id = ? and session_id in (${superseded.map(() => '?').join(', ')})
      on conflict do nothing`, [input.sessionId, input.orgId, ...superseded.map((r) => r.id)]);
  });
}

/** An attempt (success or failure), as an auth event of the organisation whose application was asked for. */
export async function recordAttempt(db: Knex, input: { orgId: string; accountId: string | null; email?: string | null; type: AuthEventType; outcome: 'success' | 'failure'; reason?: AuthEventReason; detail?: string | null; client: EventContext }): Promise<void> {
  await recordAuthEvent(db, { orgId: input.orgId, accountId: input.accountId, email: input.email ?? null, type: input.type, outcome: input.outcome, reason: input.reason, detail: input.detail, ...eventFields(input.client) });
}

/** A failed attempt, as an auth event of the organisation whose application was asked for. */
export async function recordSignInFailure(db: Knex, input: { orgId: string; accountId?: string | null; email?: string | null; reason: Parameters<typeof recordAuthEvent>[1]['reason']; type?: 'sign_in' | 'mfa_verification'; client: EventContext }): Promise<void> {
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

/**
 * "Forgot password": when the e-mail has an account that may sign in with a password somewhere (an active
 * membership of an organisation that allows passwords), a reset token is issued and `send` queues the link in
 * the same transaction. At most one link a minute per account. Answers nothing: the page must say the same
 * whether or not the address has an account.
 */
export async function requestPasswordReset(
  db: Knex,
  codes: EmailCodes,
  input: { email: string; send: (trx: Knex, to: string, token: string) => Promise<void> },
): Promise<void> {
  const email = input.email.trim();
  if (email.length === 0 || email.length > 320) return;
  await db.transaction(async (trx) => {
    const account = await trx('accounts as a').whereRaw('lower(a.email) = lower(?)', [email]).where('a.status', 'active')
      .whereExists(trx('memberships as m').join('organizations as o', 'o.id', 'm.org_id').whereRaw('m.account_id = a.id')
        .where('m.status', 'active').whereRaw("'password' = any(o.login_providers)").whereNot('o.sso_enforced', true))
      .forUpdate().first('a.id', 'a.email');
    if (!account) return;
    // Read after the lock: a racing request's link is seen, and only one link a minute goes out.
    const recent = await trx('email_challenges').where({ account_id: account.id, purpose: 'password_reset' })
      .where('created_at', '>', trx.raw("now() - interval '1 minute'")).first('id');
    if (recent) return;
    await input.send(trx, account.email, await codes.issueResetToken(trx, account.id));
  });
}

/** The e-mail of the account a live reset token belongs to (to show the form), or null. */
export async function passwordResetFor(db: Knex, codes: EmailCodes, token: string): Promise<{ email: string } | null> {
  const accountId = await codes.peekResetToken(db, token);
  if (!accountId) return null;
  const row = await db('accounts').where({ id: accountId }).first('email');
  return row ? { email: row.email } : null;
}

/**
 * Sets a new password through a reset link: single use (the token is consumed in the transaction that sets
 * the password), NIST rules, hashed before the transaction. The link proved control of the address, so the
 * e-mail is verified and the password is the person's own. Every session of the account ends, and each
 * organisation the person is an active member of records the change.
 */
export async function resetPassword(
  db: Knex,
  passwords: PasswordHasher,
  codes: EmailCodes,
  input: { token: string; newPassword: string; minLength?: number; event?: EventContext },
): Promise<'changed' | 'invalid_token'> {
  const holder = await passwordResetFor(db, codes, input.token);
  if (!holder) return 'invalid_token';
  await checkChosenPassword(input.newPassword, { email: holder.email, minLength: input.minLength });
  const hash = await passwords.hash(input.newPassword);
  return db.transaction(async (trx) => {
    const accountId = await codes.consumeResetToken(trx, input.token);
    if (!accountId) return 'invalid_token' as const;
    await trx('accounts').where({ id: accountId }).update({
      password_hash: hash, must_change_password: false, temporary_password_expires_at: null, password_set_by_org_id: null,
      password_changed_at: trx.fn.now(), updated_at: trx.fn.now(),
    });
    await revokeAllSessions(trx, { accountId, reason: 'password_changed', by: { type: 'user', id: accountId } });
    const orgs: { org_id: string }[] = await trx('memberships').where({ account_id: accountId, status: 'active' }).select('org_id');
    for (const { org_id } of orgs) {
      await recordAuthEvent(trx, { orgId: org_id, accountId, type: 'password_changed', outcome: 'success', reason: 'password_reset', ...eventFields(input.event) });
    }
    return 'changed' as const;
  });
}
