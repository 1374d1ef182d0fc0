// Auth activity: every sign-in attempt and security event of a person in an organisation, success or failure
// with a reason. Append-only; listed per organisation, per member and by time, newest first.
import type { Knex } from 'knex';
import { UAParser } from 'ua-parser-js';
import { Invalid } from './errors.ts';

export const authEventTypes = ['sign_in', 'mfa_enrolment', 'mfa_verification', 'recovery_code_used', 'password_changed', 'logout', 'session_revoked',
  // Upstream SSO: the redirect to the organisation's identity provider, its answer, and what the answer did.
  'sso_redirect', 'sso_sign_in', 'identity_linked', 'jit_provisioned'] as const;
export type AuthEventType = (typeof authEventTypes)[number];

/** Why an attempt failed (or how it ended): what the activity views and the auditors read. */
export const authEventReasons = [
  'unknown_account', 'wrong_password', 'mfa_failed', 'throttled', 'deactivated', 'not_a_member', 'provider_not_allowed',
  'temporary_password_expired', 'credential_not_trusted', 'member_deactivated', 'member_removed', 'revoked_by_admin',
  'mfa_reset', 'password_changed', 'logout', 'mfa_method_not_available', 'password_rejected', 'password_reset', 'superseded', 'expired', 'account_elsewhere',
  'upstream_error', 'upstream_invalid_response', 'email_not_verified', 'email_outside_domains', 'identity_linking_off',
  'identity_taken', 'jit_disabled', 'no_sso_connection', 'policy_changed',
] as const;
export type AuthEventReason = (typeof authEventReasons)[number];

export type AuthEventInput = {
  orgId: string;
  type: AuthEventType;
  outcome: 'success' | 'failure';
  reason?: AuthEventReason;
  accountId?: string | null;
  /** The e-mail as typed, for attempts that name no account. */
  email?: string | null;
  clientId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  device?: string | null;
  /** What else explains it, in a line: an identity provider's own error and description. */
  detail?: string | null;
};

export type AuthEvent = Required<Omit<AuthEventInput, 'reason'>> & { id: number; reason: AuthEventReason | null; createdAt: Date };

/** "Safari on iOS (Apple iPhone)": what a person recognises of a device, from its user agent. */
export function describeDevice(userAgent: string | null | undefined): string | null {
  if (!userAgent) return null;
  const { browser, os, device } = new UAParser(userAgent.slice(0, 1024)).getResult();
  const parts = [browser.name, os.name ? `on ${os.name}` : null, device.vendor || device.model ? `(${[device.vendor, device.model].filter(Boolean).join(' ')})` : null].filter(Boolean);
  return parts.length ? parts.join(' ') : null;
}

/** Where an attempt came from: the application, the address and the browser. */
export type EventContext = { clientId?: string | null; ip?: string | null; userAgent?: string | null };

/** The event's columns for where it came from, the device described from the user agent. */
export const eventFields = (c: EventContext | undefined) => ({ clientId: c?.clientId ?? null, ip: c?.ip ?? null, userAgent: c?.userAgent ?? null, device: describeDevice(c?.userAgent) });

export async function recordAuthEvent(trx: Knex, e: AuthEventInput): Promise<void> {
  await trx('auth_events').insert({
    org_id: e.orgId, type: e.type, outcome: e.outcome, reason: e.reason ?? null, account_id: e.accountId ?? null,
    email: e.email?.slice(0, 320) ?? null, client_id: e.clientId ?? null, ip: e.ip ?? null,
    user_agent: e.userAgent?.slice(0, 1024) ?? null, device: e.device ?? null, detail: e.detail?.replace(/\s+/g, ' ').slice(0, 500) ?? null,
  });
}

export type AuthEventQuery = { orgId: string; accountId?: string; outcome?: 'success' | 'failure'; since?: Date; until?: Date; limit: number; before?: number };

/** One page, newest first; `before` (an event id) continues a page. One indexed query. */
export async function listAuthEvents(db: Knex, q: AuthEventQuery): Promise<{ events: AuthEvent[]; nextBefore: number | null; total: number }> {
  if (!(q.limit >= 1 && q.limit <= 200)) throw new Invalid('limit is 1 to 200', { field: 'limit', rule: 'range' });
  const matching = db('auth_events').where({ org_id: q.orgId });
  if (q.accountId) matching.where({ account_id: q.accountId });
  if (q.outcome) matching.where({ outcome: q.outcome });
  if (q.since) matching.where('created_at', '>=', q.since);
  if (q.until) matching.where('created_at', '<', q.until);
  const [{ n }] = await matching.clone().count({ n: '*' });
  const query = matching.orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(q.limit + 1);
  if (q.before !== undefined) {
    query.whereRaw('(created_at, id) < (select created_at, id from auth_events where org_id = ? and id = ?)', [q.orgId, q.before]);
  }
  const rows = await query;
  const page = rows.slice(0, q.limit);
  return {
    events: page.map((r) => ({
      id: Number(r.id), orgId: r.org_id, type: r.type, outcome: r.outcome, reason: r.reason, accountId: r.account_id, email: r.email,
      clientId: r.client_id, ip: r.ip, userAgent: r.user_agent, device: r.device, detail: r.detail ?? null, createdAt: new Date(r.created_at),
    })),
    nextBefore: rows.length > q.limit ? Number(page[page.length - 1].id) : null,
    total: Number(n),
  };
}
