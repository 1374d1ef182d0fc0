// Invitations: an admin invites people by e-mail with a role (and groups, and a message); each gets a link
// (256 random bits, stored only as a hash) that expires. Opening it, a person with an account signs in and
// joins; a new person sets a password and joins; or declines. Accepting proves control of the address.
// A pending invitation holds a licence seat; an expired, cancelled or used link changes nothing.
import type { Knex } from 'knex';
import { findAccountByEmail, findOrCreateAccount, markEmailVerified, refreshAccountStatus } from './accounts.ts';
import { type Actor, recordAudit } from './audit.ts';
import { Conflict, Invalid, NotFound, uniqueViolation } from './errors.ts';
import { assertSeatAvailable, insertMembership } from './members.ts';
import { checkPerson, looksLikeEmail, newPerson } from './person.ts';
import { isUuid } from './predicate.ts';
import { builtInRoleName, mayGrant, rolePermissions, standingOf } from './roles.ts';
import { checkGrantable, checkGroupIds, type Caller } from './team.ts';
import { hashSecret, issueSecret } from './tokens.ts';
import { mailable } from './outbox.ts';

export const MESSAGE_MAX = 2500;
export const BATCH_MAX = 100;

export type InvitationStatus = 'pending' | 'accepted' | 'declined' | 'expired' | 'cancelled';

export type Invitation = {
  id: string; email: string; role: string; groupIds: string[]; message: string | null; status: InvitationStatus;
  invitedBy: { type: string; id: string | null; name: string | null }; expiresAt: Date; timesSent: number; lastSentAt: Date;
  createdAt: Date; respondedAt: Date | null; memberId: string | null;
};

/** What an invitation e-mail says; the door that sends it builds the link from the token. */
export type InvitationMail = { orgId: string; to: string; token: string; orgName: string; inviterName: string | null; role: string; roleName: string; message: string | null; expiresAt: Date };
export type SendInvitation = (trx: Knex, mail: InvitationMail) => Promise<void>;

const columns = ['id', 'email', 'role', 'group_ids', 'message', 'status', 'expires_at', 'invited_by_type', 'invited_by_id', 'invited_by_name',
  'times_sent', 'last_sent_at', 'created_at', 'responded_at', 'membership_id'];

function toInvitation(r: Record<string, any>): Invitation {
  const expired = r.status === 'pending' && new Date(r.expires_at).getTime() <= Date.now();
  return {
    id: r.id, email: r.email, role: r.role, groupIds: r.group_ids ?? [], message: r.message, status: expired ? 'expired' : r.status,
    invitedBy: { type: r.invited_by_type, id: r.invited_by_id, name: r.invited_by_name }, expiresAt: new Date(r.expires_at),
    timesSent: r.times_sent, lastSentAt: new Date(r.last_sent_at), createdAt: new Date(r.created_at),
    respondedAt: r.responded_at ? new Date(r.responded_at) : null, memberId: r.membership_id,
  };
}

const notFound = (id: string) => new NotFound(`no invitation ${id} in this organisation`, { field: 'invitationId', rule: 'invitation_not_found' });

async function roleName(db: Knex, orgId: string, role: string): Promise<string> {
  if (!isUuid(role)) return builtInRoleName(role);
  return (await db('roles').where({ org_id: orgId, id: role }).first('name'))?.name ?? role;
}

/** How the invitation names its inviter: a member by name or e-mail; a key by its name. */
async function inviterName(trx: Knex, caller: Caller): Promise<string | null> {
  if (caller.actor.type === 'user' && caller.actor.id) {
    const row = await trx('memberships as m').join('accounts as a', 'a.id', 'm.account_id').where({ 'm.org_id': caller.orgId, 'm.account_id': caller.actor.id })
      .first('m.display_name', 'a.display_name as account_name', 'a.email');
    return row ? (row.display_name ?? row.account_name ?? row.email) : null;
  }
  return null;
}

/**
 * Invites each address with one role, groups and message; all or none. Refused: SSO enforced, an owner
 * role, a role past the caller's own, an address that is already a member or already invited, a batch past
 * the licence limit.
 */
export async function createInvitations(
  db: Knex,
  input: { caller: Caller; emails: string[]; role: string; message?: string | null; groupIds?: string[]; send: SendInvitation },
): Promise<Invitation[]> {
  const { caller } = input;
  const orgId = caller.orgId;
  if (input.emails.length === 0 || input.emails.length > BATCH_MAX) throw new Invalid(`emails holds 1 to ${BATCH_MAX} addresses`, { field: 'emails', rule: 'length' });
  const emails: string[] = [];
  const seen = new Set<string>();
  input.emails.forEach((raw, i) => {
    const email = raw.trim();
    if (!looksLikeEmail(email) || !mailable(email)) throw new Invalid(`emails[${i}]: "${raw}" is not an e-mail address`, { field: `emails[${i}]`, rule: 'email_malformed' });
    if (!seen.has(email.toLowerCase())) emails.push(email);
    seen.add(email.toLowerCase());
  });
  const message = input.message?.trim() || null;
  if (message !== null && [...message].length > MESSAGE_MAX) throw new Invalid(`a message is at most ${MESSAGE_MAX} characters`, { field: 'message', rule: 'too_long' });
  await checkGrantable(db, caller, input.role);
  return db.transaction(async (trx) => {
    const org = await trx('organizations').where({ id: orgId }).first('name', 'sso_enforced', 'invitation_lifetime_days');
    if (org.sso_enforced) throw new Conflict('organization', 'SSO is enforced: members arrive through SCIM or signing in with SSO', 'sso_enforced');
    const groupIds = await checkGroupIds(trx, orgId, input.groupIds ?? [], caller.permissions);
    await assertSeatAvailable(trx, orgId, input.role, emails.length);
    const members = await trx('memberships as m').join('accounts as a', 'a.id', 'm.account_id').where('m.org_id', orgId)
      .whereRaw('lower(a.email) = any(?::text[])', [emails.map((e) => e.toLowerCase())]).select('a.email');
    if (members.length) throw new Conflict('emails', `already a member: ${members.map((m) => m.email).join(', ')}`, 'already_member');
    const invitedBy = await inviterName(trx, caller);
    const name = await roleName(trx, orgId, input.role);
    // A pending invitation that has lapsed gives way to the new one.
    await trx('invitations').where({ org_id: orgId, status: 'pending' }).where('expires_at', '<=', trx.fn.now())
      .whereRaw('lower(email) = any(?::text[])', [emails.map((e) => e.toLowerCase())]).update({ status: 'cancelled', responded_at: trx.fn.now() });
    const out: Invitation[] = [];
    for (const email of emails) {
      const token = issueSecret('rst_inv');
      let row;
      try {
        [row] = await trx('invitations').insert({
          org_id: orgId, email, role: input.role, group_ids: trx.raw('?::uuid[]', [`{${groupIds.join(',')}}`]), message, token_hash: token.hash,
          expires_at: trx.raw('now() + make_interval(days => ?::int)', [org.invitation_lifetime_days]),
          invited_by_type: caller.actor.type, invited_by_id: caller.actor.id, invited_by_name: invitedBy,
        }).returning(columns);
      } catch (err) {
        if (uniqueViolation(err) === 'invitations_one_pending') {
          throw new Conflict('emails', `${email} already has a pending invitation: resend it instead`, 'already_invited');
        }
        throw err;
      }
      const invitation = toInvitation(row);
      await input.send(trx, { orgId, to: email, token: token.secret, orgName: org.name, inviterName: invitedBy, role: input.role, roleName: name, message, expiresAt: invitation.expiresAt });
      out.push(invitation);
    }
    await recordAudit(trx, {
      orgId, actor: caller.actor, action: 'invitation.created', targetType: 'invitation', targetId: out.map((i) => i.id).join(','),
      details: { emails, role: input.role, groups: groupIds.length, message: message !== null },
    });
    return out;
  });
}

export async function listInvitations(
  db: Knex,
  q: { orgId: string; status?: InvitationStatus; limit: number; before?: { at: string; id: string } },
): Promise<{ items: Invitation[]; total: number; next: { at: Date; id: string } | null }> {
  const filter = (query: Knex.QueryBuilder) => {
    query.where('org_id', q.orgId);
    if (q.status === 'pending') query.where({ status: 'pending' }).where('expires_at', '>', db.fn.now());
    else if (q.status === 'expired') query.where({ status: 'pending' }).where('expires_at', '<=', db.fn.now());
    else if (q.status) query.where({ status: q.status });
    return query;
  };
  const query = filter(db('invitations')).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(q.limit + 1).select(columns);
  if (q.before) query.whereRaw('(created_at, id) < (?::timestamptz, ?::uuid)', [q.before.at, q.before.id]);
  const rows = await query;
  const [{ n }] = await filter(db('invitations')).count({ n: '*' });
  const items = rows.slice(0, q.limit).map(toInvitation);
  const last = items[items.length - 1];
  return { items, total: Number(n), next: rows.length > q.limit && last ? { at: last.createdAt, id: last.id } : null };
}

export async function getInvitation(db: Knex, q: { orgId: string; id: string }): Promise<Invitation> {
  if (!isUuid(q.id)) throw notFound(q.id);
  const row = await db('invitations').where({ org_id: q.orgId, id: q.id }).first(columns);
  if (!row) throw notFound(q.id);
  return toInvitation(row);
}

async function lockPending(trx: Knex, orgId: string, id: string): Promise<Record<string, any>> {
  if (!isUuid(id)) throw notFound(id);
  const row = await trx('invitations').where({ org_id: orgId, id }).forUpdate().first(columns);
  if (!row) throw notFound(id);
  if (row.status !== 'pending') throw new Conflict('status', `the invitation is ${row.status}: only a pending one can be resent or cancelled`, 'invitation_not_pending');
  return row;
}

/** A new link (the old one stops working) with a fresh expiry. */
export async function resendInvitation(db: Knex, input: { caller: Caller; id: string; send: SendInvitation }): Promise<Invitation> {
  const { caller } = input;
  return db.transaction(async (trx) => {
    const row = await lockPending(trx, caller.orgId, input.id);
    // A lapsed invitation held no seat; sent again, it takes one.
    if (new Date(row.expires_at).getTime() <= Date.now()) await assertSeatAvailable(trx, caller.orgId, row.role);
    const org = await trx('organizations').where({ id: caller.orgId }).first('name', 'invitation_lifetime_days');
    const token = issueSecret('rst_inv');
    const [updated] = await trx('invitations').where({ org_id: caller.orgId, id: row.id }).update({
      token_hash: token.hash, expires_at: trx.raw('now() + make_interval(days => ?::int)', [org.invitation_lifetime_days]),
      times_sent: trx.raw('times_sent + 1'), last_sent_at: trx.fn.now(),
    }).returning(columns);
    const invitation = toInvitation(updated);
    await input.send(trx, {
      orgId: caller.orgId, to: invitation.email, token: token.secret, orgName: org.name, inviterName: row.invited_by_name, role: row.role,
      roleName: await roleName(trx, caller.orgId, row.role), message: row.message, expiresAt: invitation.expiresAt,
    });
    await recordAudit(trx, { orgId: caller.orgId, actor: caller.actor, action: 'invitation.resent', targetType: 'invitation', targetId: row.id, details: { email: row.email } });
    return invitation;
  });
}

export async function cancelInvitation(db: Knex, input: { caller: Caller; id: string }): Promise<void> {
  const { caller } = input;
  await db.transaction(async (trx) => {
    const row = await lockPending(trx, caller.orgId, input.id);
    await trx('invitations').where({ org_id: caller.orgId, id: row.id }).update({ status: 'cancelled', responded_at: trx.fn.now() });
    await recordAudit(trx, { orgId: caller.orgId, actor: caller.actor, action: 'invitation.cancelled', targetType: 'invitation', targetId: row.id, details: { email: row.email } });
  });
}

/** What the invitation page shows for a link, whatever its state. */
export type InvitationView = {
  /** `withdrawn`: whoever sent it can no longer give what it gives (they left, were deactivated or can do less now). */
  state: 'pending' | 'expired' | 'used' | 'unknown' | 'withdrawn';
  orgId?: string; orgName?: string; email?: string; roleName?: string; inviterName?: string | null; message?: string | null; expiresAt?: Date;
  /** The address already has an account: the person signs in with it (when it has a password) to join. */
  account?: { exists: boolean; hasPassword: boolean; email: string | null };
};

async function findByToken(db: Knex, token: string, lock: boolean): Promise<Record<string, any> | undefined> {
  if (!/^rst_inv_[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
  const q = db('invitations').where({ token_hash: hashSecret(token) }).first(['org_id', ...columns]);
  return lock ? q.forUpdate() : q;
}

export async function viewInvitation(db: Knex, token: string): Promise<InvitationView> {
  const row = await findByToken(db, token, false);
  if (!row) return { state: 'unknown' };
  if (row.status !== 'pending') return { state: 'used' };
  const org = await db('organizations').where({ id: row.org_id }).first('name');
  const base = { orgId: row.org_id, orgName: org.name, email: row.email, roleName: await roleName(db, row.org_id, row.role), inviterName: row.invited_by_name, message: row.message, expiresAt: new Date(row.expires_at) };
  if (new Date(row.expires_at).getTime() <= Date.now()) return { state: 'expired', ...base };
  if (!(await inviterStands(db, row))) return { state: 'withdrawn', ...base };
  const account = await db('accounts').whereRaw('lower(email) = lower(?)', [row.email]).first('email', 'password_hash');
  return { state: 'pending', ...base, account: { exists: Boolean(account), hasPassword: Boolean(account?.password_hash), email: account?.email ?? null } };
}

export class InvitationUnusable extends Invalid {
  constructor() { super('this invitation link has expired, was cancelled or has been used', { rule: 'invitation_unusable' }); }
}

/** The invitation's sender can no longer give what it gives: it is refused, as a key of theirs would be. */
export class InvitationWithdrawn extends Invalid {
  constructor() { super('whoever sent this invitation can no longer give this access: ask the organisation for a new invitation', { rule: 'invitation_withdrawn' }); }
}

/**
 * An invitation answers to the person who sent it (or who made the API key that sent it), as their keys do:
 * it is good only while they are an active member who may still add members with its role and groups.
 * Those the operator or the system sent answer to nobody.
 */
async function inviterStands(db: Knex, row: Record<string, any>): Promise<boolean> {
  let person: string | null = null;
  if (row.invited_by_type === 'user') person = row.invited_by_id;
  else if (row.invited_by_type === 'api_key' && isUuid(row.invited_by_id)) {
    person = (await db('credentials').where({ org_id: row.org_id, id: row.invited_by_id }).first('made_by_account_id'))?.made_by_account_id ?? null;
  }
  if (!person) return true;
  const standing = await standingOf(db, { orgId: row.org_id, accountId: person });
  if (!standing || !standing.permissions.has('members.manage')) return false;
  // A role that no longer exists gives nothing anyone may give.
  const permissionsOf = (role: string) => rolePermissions(db, { orgId: row.org_id, role }).catch((err) => { if (err instanceof Invalid) return null; throw err; });
  const groupRoles: string[] = row.group_ids?.length
    ? await db('groups').where('org_id', row.org_id).whereIn('id', row.group_ids).whereNotNull('role').pluck('role') : [];
  for (const role of [row.role as string, ...groupRoles]) {
    const granted = await permissionsOf(role);
    if (!granted || !mayGrant(standing.permissions, granted)) return false;
  }
  return true;
}

/**
 * Accepts by the link: the person joins with the invited role and groups. `newPasswordHash`: for an address
 * with no account, the password the person chose (their own: they proved the mailbox). For an existing
 * account the door has checked its password (when it has one) before calling. The address is verified.
 */
export async function acceptInvitation(db: Knex, input: { token: string; name?: string | null; newPasswordHash?: string; ip?: string | null }): Promise<{ orgId: string; memberId: string; accountId: string }> {
  return db.transaction(async (trx) => {
    const row = await findByToken(trx, input.token, true);
    if (!row || row.status !== 'pending' || new Date(row.expires_at).getTime() <= Date.now()) throw new InvitationUnusable();
    if (!(await inviterStands(trx, row))) throw new InvitationWithdrawn();
    const orgId = row.org_id as string;
    const existing = await findAccountByEmail(trx, row.email);
    if (!existing && !input.newPasswordHash) throw new Invalid('choose a password to create your account', { field: 'password', rule: 'required' });
    const name = input.name?.trim() || null;
    if (name !== null && [...name].length > 256) throw new Invalid('a name is at most 256 characters', { field: 'name', rule: 'length' });
    const person = { ...newPerson(row.email, row.email), displayName: name };
    checkPerson(person);
    const { account, created } = await findOrCreateAccount(trx, {
      orgId, profile: { email: row.email, givenName: null, familyName: null, displayName: existing ? null : name, phone: null }, passwordHash: existing ? undefined : input.newPasswordHash,
    });
    if (created) await trx('accounts').where({ id: account.id }).update({ password_set_by_org_id: null }); // chosen by the person through the mailed link
    await markEmailVerified(trx, account.id);
    if (await trx('memberships').where({ org_id: orgId, account_id: account.id }).first('id')) {
      throw new Conflict('email', 'you are already a member of this organisation', 'already_member');
    }
    const memberId = await insertMembership(trx, { orgId, accountId: account.id, role: row.role, member: { ...newPerson(account.email, account.email), displayName: created ? name : null, active: true } });
    const groups = await trx('groups').where('org_id', orgId).whereIn('id', row.group_ids ?? []).pluck('id');
    if (groups.length) await trx('group_members').insert(groups.map((group_id: string) => ({ org_id: orgId, group_id, membership_id: memberId }))).onConflict(['org_id', 'group_id', 'membership_id']).ignore();
    await trx('invitations').where({ org_id: orgId, id: row.id }).update({ status: 'accepted', responded_at: trx.fn.now(), membership_id: memberId });
    await refreshAccountStatus(trx, account.id);
    const actor: Actor = { type: 'user', id: account.id, ip: input.ip ?? null };
    await recordAudit(trx, { orgId, actor, action: 'invitation.accepted', targetType: 'member', targetId: memberId, details: { invitation: row.id, email: row.email, role: row.role, newAccount: created } });
    return { orgId, memberId, accountId: account.id };
  });
}

export async function declineInvitation(db: Knex, input: { token: string; ip?: string | null }): Promise<void> {
  await db.transaction(async (trx) => {
    const row = await findByToken(trx, input.token, true);
    if (!row || row.status !== 'pending' || new Date(row.expires_at).getTime() <= Date.now()) throw new InvitationUnusable();
    await trx('invitations').where({ org_id: row.org_id, id: row.id }).update({ status: 'declined', responded_at: trx.fn.now() });
    await recordAudit(trx, { orgId: row.org_id, actor: { type: 'system', id: 'invitation', ip: input.ip ?? null }, action: 'invitation.declined', targetType: 'invitation', targetId: row.id, details: { email: row.email } });
  });
}
