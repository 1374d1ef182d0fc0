// Sessions of an account in one organisation. Revocation is immediate and reaches what the OIDC provider
// issued under the session: a session row knows its grants (session_grants), and every token the provider
// stores carries its grant id, so revoking the session deletes those tokens and grants in the same
// transaction (through oidc-store.ts, the one module that touches the provider's storage). A revoked
// session is never honoured again.
import type { Knex } from 'knex';
import { NotFound } from './errors.ts';
import { isUuid } from './predicate.ts';
import { type Actor, recordAudit } from './audit.ts';
import { type AuthEventReason, type AuthEventType, describeDevice, recordAuthEvent } from './auth-events.ts';

export { describeDevice };
import { endBrowserSessions, revokeGrants } from './oidc-store.ts';

/**
 * Ends the live sessions `where` selects at once: the rows stay, with when, why and by whom (the activity
 * views and auditors read them), each revocation is an auth event, and their grants' tokens are deleted.
 */
async function revokeWhere(
  trx: Knex,
  r: { orgId: string; where: Record<string, string>; reason: AuthEventReason; by: Actor; event?: AuthEventType },
): Promise<{ id: string; account_id: string }[]> {
  const revoked: { id: string; account_id: string; client_id: string | null; device: string | null; ip: string | null; oidc_session_uid: string | null }[] = await trx('sessions')
    .where({ ...r.where, org_id: r.orgId })
    .whereNull('revoked_at')
    .update({ revoked_at: trx.fn.now(), revoked_reason: r.reason, revoked_by: `${r.by.type}:${r.by.id ?? ''}` })
    .returning(['id', 'account_id', 'client_id', 'device', 'ip', 'oidc_session_uid']);
  if (revoked.length === 0) return revoked;
  for (const s of revoked) {
    await recordAuthEvent(trx, { orgId: r.orgId, accountId: s.account_id, type: r.event ?? 'session_revoked', outcome: 'success', reason: r.reason, clientId: s.client_id, device: s.device });
  }
  await revokeGrants(trx, trx('session_grants').where('org_id', r.orgId).whereIn('session_id', revoked.map((x) => x.id)).select('grant_id'));
  // The browser session goes too, unless it still holds a live session of another organisation (then the
  // login policy's check sends this organisation's applications back to sign-in).
  const uids = revoked.map((x) => x.oidc_session_uid).filter((u): u is string => u !== null);
  if (uids.length > 0) {
    await endBrowserSessions(trx, trx('sessions').select('oidc_session_uid').whereIn('oidc_session_uid', uids)
      .whereNotExists(trx('sessions as live').whereRaw('live.oidc_session_uid = sessions.oidc_session_uid').whereNull('live.revoked_at').where('live.expires_at', '>', trx.fn.now())));
  }
  return revoked;
}

/** Revokes every live session of the account in this organisation (deactivation, removal). */
export async function revokeSessions(
  trx: Knex,
  who: { orgId: string; accountId: string; reason: AuthEventReason; by: Actor },
): Promise<number> {
  return (await revokeWhere(trx, { orgId: who.orgId, where: { account_id: who.accountId }, reason: who.reason, by: who.by })).length;
}

export type SessionStart = {
  orgId: string;
  accountId: string;
  clientId: string | null;
  /** oidc-provider's Session uid, which every token issued under it carries. */
  oidcSessionUid: string | null;
  provider: 'password' | 'sso';
  /** RFC 8176 methods used: pwd, otp, mfa... */
  factors: string[];
  ip: string | null;
  userAgent: string | null;
  expiresAt: Date;
};

/** Records a sign-in session; returns its id. */
export async function startSession(trx: Knex, s: SessionStart): Promise<string> {
  const [row] = await trx('sessions').insert({
    org_id: s.orgId, account_id: s.accountId, client_id: s.clientId, oidc_session_uid: s.oidcSessionUid, provider: s.provider,
    factors: s.factors, ip: s.ip, user_agent: s.userAgent?.slice(0, 1024) ?? null, device: describeDevice(s.userAgent), expires_at: s.expiresAt,
  }).returning('id');
  return row.id as string;
}

/** A grant the provider issued under this session: revoking the session will delete its tokens. */
export async function linkGrant(trx: Knex, link: { orgId: string; sessionId: string; grantId: string }): Promise<void> {
  await trx('session_grants').insert({ org_id: link.orgId, session_id: link.sessionId, grant_id: link.grantId }).onConflict(['org_id', 'session_id', 'grant_id']).ignore();
}

export type SessionInfo = {
  id: string; accountId: string; clientId: string | null; provider: string; factors: string[]; ip: string | null; device: string | null;
  createdAt: Date; lastActiveAt: Date; expiresAt: Date; revokedAt: Date | null; revokedReason: string | null; revokedBy: string | null;
};

/**
 * The organisation's sessions, newest first: live ones only unless `all`; one member's with `accountId`;
 * started in [since, until) when given.
 */
export type SessionQuery = { orgId: string; accountId?: string; all?: boolean; since?: Date; until?: Date };

function matchingSessions(db: Knex, q: SessionQuery): Knex.QueryBuilder {
  const query = db('sessions').where({ org_id: q.orgId });
  if (q.accountId) query.where({ account_id: q.accountId });
  if (q.since) query.where('created_at', '>=', q.since);
  if (q.until) query.where('created_at', '<', q.until);
  // Live: not revoked, not expired, and bound to a browser (a sign-in that never returned to the provider is not a session).
  if (!q.all) query.whereNull('revoked_at').where('expires_at', '>', db.fn.now()).whereNotNull('oidc_session_uid');
  return query;
}

/** How many sessions the query selects (the newest of which listSessions shows). */
export async function countSessions(db: Knex, q: SessionQuery): Promise<number> {
  const [{ n }] = await matchingSessions(db, q).count({ n: '*' });
  return Number(n);
}

export async function listSessions(db: Knex, q: SessionQuery & { limit: number }): Promise<SessionInfo[]> {
  const rows = await matchingSessions(db, q).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(Math.min(Math.max(q.limit, 1), 200));
  const date = (v: unknown) => (v ? new Date(v as string) : null);
  return (rows as Record<string, any>[]).map((r) => ({
    id: r.id, accountId: r.account_id, clientId: r.client_id, provider: r.provider, factors: r.factors ?? [], ip: r.ip, device: r.device,
    createdAt: new Date(r.created_at), lastActiveAt: new Date(r.last_active_at), expiresAt: new Date(r.expires_at),
    revokedAt: date(r.revoked_at), revokedReason: r.revoked_reason, revokedBy: r.revoked_by,
  }));
}

/** Revokes one session of this organisation at once (and its grants' tokens). NotFound if it has no such live session. */
export async function revokeSession(db: Knex, input: { orgId: string; sessionId: string; by: Actor; accountId?: string }): Promise<void> {
  const notFound = () => new NotFound(`no live session ${input.sessionId} in this organisation`, { field: 'sessionId', rule: 'session_not_found' });
  if (!isUuid(input.sessionId)) throw notFound();
  await db.transaction(async (trx) => {
    // With accountId: the person ends one of their own sessions (and only theirs).
    const where: Record<string, string> = input.accountId ? { id: input.sessionId, account_id: input.accountId } : { id: input.sessionId };
    const revoked = await revokeWhere(trx, { orgId: input.orgId, where, reason: input.accountId ? 'logout' : 'revoked_by_admin', by: input.by });
    if (revoked.length === 0) throw notFound();
    await recordAudit(trx, {
      orgId: input.orgId, actor: input.by, action: input.accountId ? 'session.ended_by_self' : 'session.revoked', targetType: 'session', targetId: input.sessionId,
      details: { accountId: revoked[0].account_id },
    });
  });
}

/**
 * After the organisation's login configuration changed: every live session whose sign-in would not pass
 * the new policy (a password where only SSO is allowed now, one factor where MFA is now required...) ends
 * at once; `exceptAccountId` (the person who made the change) is affected only at their next sign-in.
 * The policy is evaluated per account, as at sign-in (src/directory/login-policy.ts).
 */
export async function revokeNonCompliantSessions(
  trx: Knex,
  input: { orgId: string; by: Actor; exceptAccountId?: string | null; stillMeets: (session: { accountId: string; provider: 'password' | 'sso'; factors: string[] }) => Promise<boolean> },
): Promise<number> {
  const live: { id: string; account_id: string; provider: 'password' | 'sso'; factors: string[] | null }[] = await trx('sessions')
    .where({ org_id: input.orgId }).whereNull('revoked_at').where('expires_at', '>', trx.fn.now()).whereNotNull('oidc_session_uid')
    .modify((q) => { if (input.exceptAccountId) q.whereNot({ account_id: input.exceptAccountId }); })
    .select('id', 'account_id', 'provider', 'factors');
  let revoked = 0;
  for (const s of live) {
    if (await input.stillMeets({ accountId: s.account_id, provider: s.provider, factors: s.factors ?? [] })) continue;
    revoked += (await revokeWhere(trx, { orgId: input.orgId, where: { id: s.id }, reason: 'policy_changed', by: input.by })).length;
  }
  return revoked;
}

/**
 * The live session of this browser session (oidc-provider's Session uid) in this organisation, or undefined:
 * a revoked or expired one is never honoured again. Marks it active (at most once a minute).
 */
export async function liveSession(db: Knex, q: { orgId: string; oidcSessionUid: string; accountId: string }): Promise<LiveSession | undefined> {
  // One statement; it writes only when the mark is a minute old (an UPDATE that changes nothing still writes).
  const result = await db.raw(`
    with live as (
      select id, last_active_at, factors, provider from sessions
      where org_id = ? and oidc_session_uid = ? and account_id = ? and revoked_at is null and expires_at > now()
      order by created_at desc
      limit 1
    ), touched as (
      update sessions set last_active_at = now() from live
      where sessions.org_id = ? and sessions.id = live.id and live.last_active_at < now() - interval '1 minute'
    )
    select id, factors, provider from live`, [q.orgId, q.oidcSessionUid, q.accountId, q.orgId]);
  const row = (result.rows as { id: string; factors: string[] | null; provider: string }[])[0];
  return row ? { id: row.id, factors: row.factors ?? [], provider: row.provider as LiveSession['provider'] } : undefined;
}

export type LiveSession = { id: string; factors: string[]; provider: 'password' | 'sso' };

/** Revokes the live sessions `where` selects in every organisation they are in: one revocation per organisation. */
async function revokeAcrossOrgs(trx: Knex, r: { where: Record<string, string>; reason: AuthEventReason; by: Actor; event?: AuthEventType }): Promise<number> {
  const orgs: { org_id: string }[] = await trx('sessions').distinct('org_id').where(r.where).whereNull('revoked_at');
  let n = 0;
  for (const { org_id } of orgs) n += (await revokeWhere(trx, { ...r, orgId: org_id })).length;
  return n;
}

/** Ends every live session of this browser session, in every organisation (RP-initiated logout). */
export async function logOut(db: Knex, q: { oidcSessionUid: string; accountId: string }): Promise<number> {
  return db.transaction((trx) => revokeAcrossOrgs(trx, {
    where: { oidc_session_uid: q.oidcSessionUid, account_id: q.accountId }, reason: 'logout', by: { type: 'user', id: q.accountId }, event: 'logout',
  }));
}

/** Revokes every live session of the account in every organisation (the password changed). */
export async function revokeAllSessions(trx: Knex, who: { accountId: string; reason: AuthEventReason; by: Actor }): Promise<number> {
  return revokeAcrossOrgs(trx, { where: { account_id: who.accountId }, reason: who.reason, by: who.by });
}

/**
 * Ends sessions whose time is up, and sign-ins that never returned to the provider (unbound after an hour):
 * their grants' tokens are deleted, and the rows stay, revoked as 'expired'. Up to `batch` at a time.
 */
export async function endExpiredSessions(db: Knex, opts: { batch?: number } = {}): Promise<number> {
  const due: { org_id: string; id: string }[] = await db('sessions').whereNull('revoked_at')
    .where((q) => q.where('expires_at', '<=', db.fn.now()).orWhere((u) => u.whereNull('oidc_session_uid').where('created_at', '<', db.raw("now() - interval '1 hour'"))))
    .limit(opts.batch ?? 500).select('org_id', 'id');
  let n = 0;
  for (const s of due) {
    n += await db.transaction(async (trx) => (await revokeWhere(trx, { orgId: s.org_id, where: { id: s.id }, reason: 'expired', by: { type: 'system', id: 'expiry' } })).length);
  }
  return n;
}
