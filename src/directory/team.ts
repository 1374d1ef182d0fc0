// Team management: what an organisation's owners and admins do to their members, whatever the door (the
// admin API today, the console through it). Each change is one transaction and one audit event; the rules
// (exactly one owner, nobody acts on themselves, only the managing organisation touches an account's
// credentials, licences, SSO enforced) are checked here, under the row locks.
import type { Knex } from 'knex';
import { findOrCreateAccount, getAccountForUpdate, refreshAccountStatus, TEMPORARY_PASSWORD_DAYS } from './accounts.ts';
import { type Actor, recordAudit } from './audit.ts';
import { Conflict, Forbidden, Invalid, NotFound } from './errors.ts';
import { assertSeatAvailable, deactivationColumns, deleteMember, insertMembership, type Member, type MemberInput, updateMember } from './members.ts';
import { checkPerson, looksLikeEmail, newPerson } from './person.ts';
import { isUuid } from './predicate.ts';
import { mayGrant, memberPermissions, type Permission, rolePermissions } from './roles.ts';
import { revokeAllSessions, revokeSessions } from './sessions.ts';
import { createPasswordHasher, type PasswordHasher } from './passwords.ts';
import { generateTemporaryPassword } from './tokens.ts';
import { mailable } from './outbox.ts';

/** Who asks: the actor the audit log names, and what it may do (to refuse handing out more than that). */
export type Caller = {
  orgId: string; actor: Actor; permissions: ReadonlySet<Permission>;
  /** The member who answers for the caller: the person themselves, or the maker of the API key (null or absent: the operator). */
  madeBy?: string | null;
};

const memberNotFound = (id: string) => new NotFound(`no member ${id} in this organisation`, { field: 'memberId', rule: 'member_not_found' });

type Target = { id: string; account_id: string; role: string; status: 'active' | 'deactivated'; user_name: string; managed_by_org_id: string | null; version: number };

/** The member, locked for the change. */
async function lockMember(trx: Knex, orgId: string, id: string): Promise<Target> {
  if (!isUuid(id)) throw memberNotFound(id);
  const row = await trx('memberships as m').join('accounts as a', 'a.id', 'm.account_id').where({ 'm.org_id': orgId, 'm.id': id })
    .forUpdate('m').first('m.id', 'm.account_id', 'm.role', 'm.status', 'm.user_name', 'm.version', 'a.managed_by_org_id');
  if (!row) throw memberNotFound(id);
  return row;
}

/** The caller is the target: the person themselves, or an API key they made (it answers to them). */
const isSelf = (caller: Caller, target: Target) =>
  (caller.actor.type === 'user' && caller.actor.id === target.account_id) || (caller.madeBy != null && caller.madeBy === target.account_id);

function refuseSelf(caller: Caller, target: Target, what: string): void {
  if (isSelf(caller, target)) throw new Forbidden(`you cannot ${what} yourself`, { rule: 'self_action' });
}

function refuseOwner(target: Target, what: string): void {
  if (target.role === 'owner') throw new Forbidden(`the owner cannot be ${what}: transfer ownership first`, { rule: 'owner_protected' });
}

/** Nobody acts on someone who can do more than they can (their role and their groups' roles). */
async function refuseMightier(trx: Knex, caller: Caller, target: Target, what: string): Promise<void> {
  if (!mayGrant(caller.permissions, await memberPermissions(trx, { orgId: caller.orgId, memberId: target.id }))) {
    throw new Forbidden(`you cannot ${what} someone who can do more than you can`, { rule: 'escalation' });
  }
}

function refuseUnmanaged(caller: Caller, target: Target, what: string): void {
  if (target.managed_by_org_id !== caller.orgId) {
    throw new Forbidden(`only the organisation that manages this person's account can ${what}`, { rule: 'not_managed' });
  }
}

/** The role exists here, is not `owner` (given only by transfer), and does no more than the caller may. */
export async function checkGrantable(db: Knex, caller: Caller, role: string): Promise<ReadonlySet<Permission>> {
  if (role === 'owner') throw new Invalid('the owner role is given only by transferring ownership', { field: 'role', rule: 'owner_by_transfer_only' });
  const perms = await rolePermissions(db, { orgId: caller.orgId, role });
  if (!mayGrant(caller.permissions, perms)) throw new Forbidden(`you cannot hand out the role ${role}: it can do more than you can`, { field: 'role', rule: 'escalation' });
  return perms;
}

async function refuseWhenSsoEnforced(trx: Knex, orgId: string): Promise<void> {
  const org = await trx('organizations').where({ id: orgId }).first('sso_enforced');
  if (org?.sso_enforced) throw new Conflict('organization', 'SSO is enforced: members arrive through SCIM or signing in with SSO', 'sso_enforced');
}

/**
 * Every id is a group of this organisation that this door may change (not one SCIM provisioned), and whose
 * role (if it grants one) the caller could hand out itself: joining a group is getting its role.
 */
export async function checkGroupIds(trx: Knex, orgId: string, ids: string[], grantor?: ReadonlySet<Permission>): Promise<string[]> {
  const unique = [...new Set(ids.map((x) => x.toLowerCase()))];
  const bad = unique.filter((x) => !isUuid(x));
  const rows = bad.length ? [] : await trx('groups').where('org_id', orgId).whereIn('id', unique).select('id', 'managed_by', 'role');
  const found = new Map(rows.map((r) => [r.id as string, r.managed_by as string]));
  const missing = [...bad, ...unique.filter((x) => isUuid(x) && !found.has(x))];
  if (missing.length) throw new Invalid(`no such group in this organisation: ${missing.slice(0, 5).join(', ')}`, { field: 'groupIds', rule: 'group_not_found' });
  const scim = unique.filter((x) => found.get(x) === 'scim');
  if (scim.length) throw new Conflict('groupIds', `groups provisioned by SCIM are changed in the identity provider: ${scim.slice(0, 5).join(', ')}`, 'managed_by_scim');
  if (grantor) {
    for (const r of rows) {
      if (r.role && !mayGrant(grantor, await rolePermissions(trx, { orgId, role: r.role }))) {
        throw new Forbidden('a group you named gives a role that can do more than you can', { field: 'groupIds', rule: 'escalation' });
      }
    }
  }
  return unique;
}

async function joinGroups(trx: Knex, orgId: string, membershipId: string, groupIds: string[]): Promise<void> {
  if (groupIds.length === 0) return;
  await trx('group_members').insert(groupIds.map((group_id) => ({ org_id: orgId, group_id, membership_id: membershipId }))).onConflict(['org_id', 'group_id', 'membership_id']).ignore();
}

const defaultHasher = createPasswordHasher();

/**
 * Adds a person directly. A new account is managed by this organisation and gets a temporary password
 * (returned once, to be changed at first sign-in); an existing account is linked as it is, with no
 * password. A pending invitation to the same address is settled by it (cancelled).
 */
export async function addMember(
  db: Knex,
  input: { caller: Caller; name?: string | null; email: string; role: string; groupIds?: string[]; passwords?: PasswordHasher },
): Promise<{ memberId: string; temporaryPassword: string | null }> {
  const { caller } = input;
  const orgId = caller.orgId;
  const email = input.email.trim();
  if (!looksLikeEmail(email) || !mailable(email)) throw new Invalid(`"${input.email}" is not an e-mail address`, { field: 'email', rule: 'email_malformed' });
  const name = input.name?.trim() || null;
  if (name !== null && name.length > 256) throw new Invalid('a name is at most 256 characters', { field: 'name', rule: 'length' });
  await checkGrantable(db, caller, input.role);
  const temporaryPassword = generateTemporaryPassword();
  const hash = await (input.passwords ?? defaultHasher).hash(temporaryPassword); // before the transaction: argon2 takes a while
  return db.transaction(async (trx) => {
    await refuseWhenSsoEnforced(trx, orgId);
    const groupIds = await checkGroupIds(trx, orgId, input.groupIds ?? [], caller.permissions);
    const member = await trx('memberships as m').join('accounts as a', 'a.id', 'm.account_id').where('m.org_id', orgId)
      .whereRaw('lower(a.email) = lower(?)', [email]).first('m.id');
    if (member) throw new Conflict('email', 'this person is already a member of the organisation', 'already_member');
    const pending = await trx('invitations').where({ org_id: orgId, status: 'pending' }).whereRaw('lower(email) = lower(?)', [email]).forUpdate()
      .first('id', 'role', trx.raw('expires_at > now() as holds_seat'));
    // A pending invitation that has not lapsed already holds a seat for this person.
    if (!(pending?.holds_seat && pending.role !== 'billing')) await assertSeatAvailable(trx, orgId, input.role);
    const person = { ...newPerson(email, email), displayName: name };
    checkPerson(person);
    const { account, created } = await findOrCreateAccount(trx, {
      orgId, profile: { email, givenName: null, familyName: null, displayName: name, phone: null }, passwordHash: hash, mustChangePassword: true,
    });
    const memberId = await insertMembership(trx, { orgId, accountId: account.id, role: input.role, member: { ...person, active: true } });
    await joinGroups(trx, orgId, memberId, groupIds);
    if (pending) await trx('invitations').where({ org_id: orgId, id: pending.id }).update({ status: 'cancelled', responded_at: trx.fn.now() });
    await refreshAccountStatus(trx, account.id);
    await recordAudit(trx, {
      orgId, actor: caller.actor, action: 'member.created', targetType: 'member', targetId: memberId,
      details: { email, role: input.role, groups: groupIds.length, newAccount: created, ...(pending ? { settledInvitation: pending.id } : {}) },
    });
    return { memberId, temporaryPassword: created ? temporaryPassword : null };
  });
}

/**
 * Deactivates (or reactivates) a member of this organisation only: every session and refresh token of the
 * person for this organisation's applications ends at once; other organisations are untouched.
 */
export async function setMemberActive(db: Knex, input: { caller: Caller; memberId: string; active: boolean }): Promise<void> {
  const { caller, active } = input;
  await db.transaction(async (trx) => {
    const target = await lockMember(trx, caller.orgId, input.memberId);
    refuseSelf(caller, target, active ? 'reactivate' : 'deactivate');
    refuseOwner(target, 'deactivated');
    await refuseMightier(trx, caller, target, active ? 'reactivate' : 'deactivate');
    if ((target.status === 'active') === active) {
      throw new Conflict('status', `the member is already ${active ? 'active' : 'deactivated'}`, active ? 'already_active' : 'already_deactivated');
    }
    if (active) await assertSeatAvailable(trx, caller.orgId, target.role);
    await trx('memberships').where({ org_id: caller.orgId, id: target.id }).update({
      status: active ? 'active' : 'deactivated', ...deactivationColumns(active, caller.actor, trx), version: trx.raw('version + 1'), updated_at: trx.fn.now(),
    });
    const revoked = active ? 0 : await revokeSessions(trx, { orgId: caller.orgId, accountId: target.account_id, reason: 'member_deactivated', by: caller.actor });
    await refreshAccountStatus(trx, target.account_id);
    await recordAudit(trx, {
      orgId: caller.orgId, actor: caller.actor, action: active ? 'member.reactivated' : 'member.deactivated', targetType: 'member', targetId: target.id,
      details: active ? {} : { sessionsRevoked: revoked },
    });
  });
}

/** Removes a member from the organisation and all its groups; the audit history stays. */
export async function removeMember(db: Knex, input: { caller: Caller; memberId: string }): Promise<void> {
  const { caller } = input;
  await db.transaction(async (trx) => {
    const target = await lockMember(trx, caller.orgId, input.memberId);
    refuseSelf(caller, target, 'remove');
    refuseOwner(target, 'removed');
    await refuseMightier(trx, caller, target, 'remove');
    // Under the same lock and in the same transaction (deleteMember's own is a savepoint in it).
    await deleteMember(trx, { orgId: caller.orgId, actor: caller.actor, id: input.memberId });
  });
}

/**
 * A new temporary password for a member whose account this organisation manages: returned once, to be
 * changed at next sign-in, and every session of the account ends (it is one password, wherever it is used).
 */
export async function resetMemberPassword(db: Knex, input: { caller: Caller; memberId: string; passwords?: PasswordHasher }): Promise<{ temporaryPassword: string }> {
  const { caller } = input;
  const temporaryPassword = generateTemporaryPassword();
  const hash = await (input.passwords ?? defaultHasher).hash(temporaryPassword);
  await db.transaction(async (trx) => {
    const target = await lockMember(trx, caller.orgId, input.memberId);
    refuseSelf(caller, target, 'reset the password of');
    refuseUnmanaged(caller, target, 'reset its password');
    if (target.role === 'owner' && !isSelf(caller, target)) throw new Forbidden("the owner's password is the owner's own: they change it themselves", { rule: 'owner_protected' });
    await refuseMightier(trx, caller, target, 'reset the password of');
    await getAccountForUpdate(trx, target.account_id);
    await trx('accounts').where({ id: target.account_id }).update({
      password_hash: hash, must_change_password: true, password_set_by_org_id: caller.orgId, password_changed_at: trx.fn.now(),
      temporary_password_expires_at: trx.raw('now() + make_interval(days => ?::int)', [TEMPORARY_PASSWORD_DAYS]), updated_at: trx.fn.now(),
    });
    const revoked = await revokeAllSessions(trx, { accountId: target.account_id, reason: 'password_reset', by: caller.actor });
    await recordAudit(trx, { orgId: caller.orgId, actor: caller.actor, action: 'member.password_reset', targetType: 'member', targetId: target.id, details: { sessionsRevoked: revoked } });
  });
  return { temporaryPassword };
}

/** Clears a member's TOTP and recovery codes and ends their sessions here; 400 when they have none. */
export async function resetMemberMfa(db: Knex, input: { caller: Caller; memberId: string }): Promise<void> {
  const { caller } = input;
  await db.transaction(async (trx) => {
    const target = await lockMember(trx, caller.orgId, input.memberId);
    refuseSelf(caller, target, 'reset the MFA of');
    refuseUnmanaged(caller, target, 'reset its MFA');
    if (target.role === 'owner') throw new Forbidden("the owner's MFA is the owner's own", { rule: 'owner_protected' });
    await refuseMightier(trx, caller, target, 'reset the MFA of');
    await getAccountForUpdate(trx, target.account_id);
    const factors = await trx('mfa_factors').where({ account_id: target.account_id }).delete();
    const codes = await trx('recovery_codes').where({ account_id: target.account_id }).delete();
    if (factors === 0 && codes === 0) throw new Invalid('this member has no MFA set up: there is nothing to reset', { rule: 'no_mfa' });
    const revoked = await revokeSessions(trx, { orgId: caller.orgId, accountId: target.account_id, reason: 'mfa_reset', by: caller.actor });
    await recordAudit(trx, { orgId: caller.orgId, actor: caller.actor, action: 'member.mfa_reset', targetType: 'member', targetId: target.id, details: { sessionsRevoked: revoked } });
  });
}

export type ProfileChange = { name?: string | null; email?: string; phone?: string | null };

/**
 * Edits a member: their profile (name, e-mail and phone, only where this organisation manages the account;
 * the owner's only by the owner) and their own role (never to or from `owner`: ownership moves by transfer;
 * never past the caller's permissions). Both or neither, in one transaction under the member's lock, and one
 * audit event: `member.role_changed` when the role changed (naming the profile fields changed with it, if
 * any), else `member.updated`.
 */
export async function editMember(db: Knex, input: { caller: Caller; memberId: string; profile?: ProfileChange; role?: string }): Promise<void> {
  const { caller, role } = input;
  const profile = input.profile ?? {};
  const fields = Object.keys(profile) as (keyof ProfileChange)[];
  if (profile.email !== undefined && !looksLikeEmail(profile.email.trim())) throw new Invalid(`"${profile.email}" is not an e-mail address`, { field: 'email', rule: 'email_malformed' });
  const newPerms = role === undefined ? null : await checkGrantable(db, caller, role);
  await db.transaction(async (trx) => {
    const target = await lockMember(trx, caller.orgId, input.memberId);
    if (role !== undefined) refuseOwner(target, 'given another role');
    const roleChanges = role !== undefined && role !== target.role;
    // Nobody changes their own role: an admin only through a group could otherwise make it their own and keep it.
    if (roleChanges) refuseSelf(caller, target, 'change the role of');
    if (fields.length) {
      refuseUnmanaged(caller, target, "change this person's profile");
      // The owner's profile is theirs: the owner (or a key with the owner's permissions) edits it, nobody else.
      if (target.role === 'owner' && !isSelf(caller, target) && !caller.permissions.has('org.own')) throw new Forbidden("only the owner edits the owner's profile", { rule: 'owner_protected' });
    }
    if (roleChanges) await refuseMightier(trx, caller, target, 'change the role of');
    else if (fields.length && !isSelf(caller, target)) await refuseMightier(trx, caller, target, 'edit the profile of');
    let changed: (keyof ProfileChange)[] = [];
    let profileChanged = false;
    if (fields.length) {
      // Under the same lock and in the same transaction (updateMember's own is a savepoint in it).
      let before: Member | undefined;
      const after = await updateMember(trx, {
        orgId: caller.orgId, actor: caller.actor, id: target.id, audit: false, change: (current) => withProfile((before = current), profile),
      });
      if (before) changed = fields.filter((f) => profileValue(before!, f) !== profileValue(after, f));
      // Any write is audited, one that only tidied the SCIM state (a formatted name) too, with no field named.
      profileChanged = after.version !== target.version;
    }
    if (roleChanges) {
      // A billing member takes no seat; another role does.
      if (target.status === 'active' && target.role === 'billing') await assertSeatAvailable(trx, caller.orgId, role);
      await trx('memberships').where({ org_id: caller.orgId, id: target.id }).update({ role, version: trx.raw('version + 1'), updated_at: trx.fn.now() });
    }
    if (!roleChanges && !profileChanged) return;
    const changedFields = profileChanged ? { fields: changed } : {};
    await recordAudit(trx, roleChanges
      ? { orgId: caller.orgId, actor: caller.actor, action: 'member.role_changed', targetType: 'member', targetId: target.id, details: { from: target.role, to: role, permissions: [...newPerms!], ...changedFields } }
      : { orgId: caller.orgId, actor: caller.actor, action: 'member.updated', targetType: 'member', targetId: target.id, details: changedFields });
  });
}

/** A profile field as the roster shows it: the name, the primary e-mail, the primary phone. */
function profileValue(m: Member, field: keyof ProfileChange): string | null {
  if (field === 'name') return m.displayName ?? null;
  const primary = <T extends { primary?: boolean; value?: string }>(list: T[]) => (list.find((x) => x.primary) ?? list[0])?.value ?? null;
  return field === 'email' ? primary(m.emails) : primary(m.phoneNumbers);
}

/** The member's SCIM state with a name, primary e-mail (the userName follows it when it was one) and primary phone changed. */
function withProfile(current: Member, change: ProfileChange): MemberInput {
  const next = { ...current, name: { ...current.name } };
  if (change.name !== undefined) {
    next.displayName = change.name?.trim() || null;
    next.name.formatted = next.displayName ?? undefined;
  }
  if (change.email !== undefined) {
    const email = change.email.trim();
    const sameUserName = current.userName.toLowerCase() === current.emails.find((e) => e.primary)?.value?.toLowerCase();
    next.emails = [{ value: email, type: 'work', primary: true }, ...current.emails.filter((e) => !e.primary && e.value?.toLowerCase() !== email.toLowerCase())];
    if (sameUserName || current.userName.includes('@')) next.userName = email;
  }
  if (change.phone !== undefined) {
    const rest = current.phoneNumbers.filter((p) => !p.primary);
    next.phoneNumbers = change.phone ? [{ value: change.phone.trim(), type: 'work', primary: true }, ...rest] : rest;
  }
  return next;
}

/** Owner only: the target (an active admin) becomes the owner, and the owner an admin. */
export async function transferOwnership(db: Knex, input: { caller: Caller; memberId: string }): Promise<void> {
  const { caller } = input;
  if (!caller.permissions.has('org.own')) throw new Forbidden('only the owner can transfer ownership', { rule: 'owner_only' });
  await db.transaction(async (trx) => {
    const owner = await trx('memberships').where({ org_id: caller.orgId, role: 'owner' }).forUpdate().first('id', 'account_id');
    const target = await lockMember(trx, caller.orgId, input.memberId);
    if (target.role === 'owner') throw new Conflict('memberId', 'this member is already the owner', 'already_owner');
    if (target.role !== 'admin' || target.status !== 'active') throw new Invalid('ownership goes to an active admin: make them an admin first', { field: 'memberId', rule: 'not_an_admin' });
    if (owner) await trx('memberships').where({ org_id: caller.orgId, id: owner.id }).update({ role: 'admin', version: trx.raw('version + 1'), updated_at: trx.fn.now() });
    await trx('memberships').where({ org_id: caller.orgId, id: target.id }).update({ role: 'owner', version: trx.raw('version + 1'), updated_at: trx.fn.now() });
    await recordAudit(trx, { orgId: caller.orgId, actor: caller.actor, action: 'organization.ownership_transferred', targetType: 'member', targetId: target.id, details: { from: owner?.id ?? null } });
  });
}
