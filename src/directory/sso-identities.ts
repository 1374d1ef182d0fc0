// Upstream identities (issuer + subject) linked to accounts, and what a first sign-in through an
// organisation's connection does: link the identity to the person's account, or add the person as a member
// just in time (when the connection allows it). The upstream has verified the e-mail address and the
// organisation's connection claims its domain, so the account's e-mail counts as verified from then on
// (the cross-organisation rule of accounts.ts: the person has shown control of the address).
//
// "Allow linking additional identities" off (organizations.allow_identity_linking) means one identity per
// account: a second one (another provider, or another subject) is refused. The rule read is the one of the
// organisation whose connection the person signs in through.
import type { Knex } from 'knex';
import { findAccountByEmail, findOrCreateAccount, getAccountForUpdate, markEmailVerified, refreshAccountStatus } from './accounts.ts';
import { recordAudit } from './audit.ts';
import { type EventContext, eventFields, recordAuthEvent } from './auth-events.ts';
import { Conflict, Forbidden, Invalid, NotFound, uniqueViolation } from './errors.ts';
import { assertSeatAvailable, insertMembership } from './members.ts';
import { looksLikeEmail, newPerson } from './person.ts';
import { isUuid } from './predicate.ts';
import { emailDomain } from './sso.ts';

export type Identity = { id: string; accountId: string; provider: string; subject: string; orgId: string; createdAt: Date; lastUsedAt: Date | null };

/** The person as the upstream describes them (its e-mail already checked verified and inside the claimed domains). */
export type UpstreamPerson = { provider: string; subject: string; email: string; givenName?: string | null; familyName?: string | null };

type Row = { id: string; account_id: string; provider: string; subject: string; org_id: string; created_at: Date; last_used_at: Date | null };
const toIdentity = (r: Row): Identity => ({
  id: r.id, accountId: r.account_id, provider: r.provider, subject: r.subject, orgId: r.org_id,
  createdAt: new Date(r.created_at), lastUsedAt: r.last_used_at ? new Date(r.last_used_at) : null,
});

/** Refusals of an SSO sign-in, by rule (the auth-event reason the door records them under). */
export const ssoRefusals = {
  noConnection: () => new NotFound('this organisation has no SSO connection', { field: 'orgId', rule: 'no_sso_connection' }),
  outsideDomains: () => new Forbidden("this e-mail address is not in the domains of the organisation's SSO connection", { field: 'email', rule: 'email_outside_domains' }),
  jitDisabled: () => new Forbidden('this organisation does not add people at their first sign-in; ask your administrator for access', { rule: 'jit_disabled' }),
  linkingOff: () => new Forbidden('this organisation allows one sign-in identity per account, and this account already has another one', { rule: 'identity_linking_off' }),
  identityTaken: () => new Conflict('identity', 'this upstream identity is linked to another account', 'identity_taken'),
  accountElsewhere: () => new Forbidden('this address already has an account with another organisation; ask your administrator to add you', { rule: 'account_elsewhere' }),
} as const;

export async function findIdentity(db: Knex, input: { provider: string; subject: string }): Promise<Identity | undefined> {
  const row = await db('identities').where({ provider: input.provider, subject: input.subject }).first();
  return row ? toIdentity(row as Row) : undefined;
}

export async function listIdentities(db: Knex, input: { accountId: string }): Promise<Identity[]> {
  if (!isUuid(input.accountId)) return [];
  return ((await db('identities').where({ account_id: input.accountId }).orderBy('created_at')) as Row[]).map(toIdentity);
}

/**
 * Links an upstream identity to an account that is a member of the organisation whose connection it came
 * through. Linked already to this account: marks it used. Linked to another account: Conflict. With linking
 * off in the organisation and another identity on the account: Forbidden. Records an `identity_linked` event.
 */
export async function linkIdentity(
  db: Knex,
  input: { orgId: string; accountId: string; provider: string; subject: string; context?: EventContext },
): Promise<{ identity: Identity; linked: boolean }> {
  const { orgId, accountId, provider, subject } = input;
  if (!provider || !subject || provider.length > 2000 || subject.length > 255) throw new Invalid('an identity is an issuer (at most 2,000 characters) and a subject (at most 255)', { field: 'subject', rule: 'malformed' });
  return db.transaction(async (trx) => {
    await getAccountForUpdate(trx, accountId); // two links to one account, one after the other
    const existing = await findIdentity(trx, { provider, subject });
    if (existing && existing.accountId !== accountId) throw ssoRefusals.identityTaken();
    if (existing) {
      const [row] = await trx('identities').where({ id: existing.id }).update({ last_used_at: trx.fn.now() }).returning('*');
      return { identity: toIdentity(row as Row), linked: false };
    }
    const org = await trx('organizations as o').where('o.id', orgId)
      .first('o.allow_identity_linking', trx.raw('exists (select 1 from memberships m where m.org_id = o.id and m.account_id = ?) as member', [accountId]));
    if (!org) throw new NotFound(`no organisation ${orgId}`, { field: 'orgId', rule: 'org_not_found' });
    if (!org.member) throw new Forbidden('the account is not a member of this organisation', { rule: 'not_a_member' });
    if (!org.allow_identity_linking && (await trx('identities').where({ account_id: accountId }).first('id'))) throw ssoRefusals.linkingOff();
    let row: Row;
    try {
      [row] = await trx('identities').insert({ account_id: accountId, provider, subject, org_id: orgId, last_used_at: trx.fn.now() }).returning('*');
    } catch (err) {
      if (uniqueViolation(err) === 'identities_provider_subject_key') throw ssoRefusals.identityTaken();
      throw err;
    }
    await recordAuthEvent(trx, { orgId, accountId, type: 'identity_linked', outcome: 'success', ...eventFields(input.context) });
    return { identity: toIdentity(row), linked: true };
  });
}

/** The connection's row, locked for the transaction, and whether it claims the e-mail's domain. */
async function loadConnection(trx: Knex, orgId: string, email: string): Promise<{ jitProvisioning: boolean }> {
  if (!isUuid(orgId)) throw ssoRefusals.noConnection();
  const domain = emailDomain(email);
  const row = await trx('sso_connections as c').where('c.org_id', orgId).forShare()
    .first('c.jit_provisioning', trx.raw('exists (select 1 from sso_domains d where d.org_id = c.org_id and d.domain = ?) as claimed', [domain ?? '']));
  if (!row) throw ssoRefusals.noConnection();
  if (!row.claimed) throw ssoRefusals.outsideDomains();
  return { jitProvisioning: row.jit_provisioning };
}

/**
 * Adds the person as a member (role member, user name the e-mail), on the account they already have or a new
 * one this organisation manages. The licence limit applies. Records a `jit_provisioned` event and an audit entry.
 */
async function addMember(
  trx: Knex,
  input: { orgId: string; person: UpstreamPerson; accountId?: string; context?: EventContext },
): Promise<{ accountId: string; memberId: string; accountCreated: boolean }> {
  const { orgId, person } = input;
  await assertSeatAvailable(trx, orgId, 'member');
  const names = { givenName: person.givenName ?? null, familyName: person.familyName ?? null };
  const { account, created } = input.accountId
    ? { account: await getAccountForUpdate(trx, input.accountId), created: false }
    : await findOrCreateAccount(trx, { orgId, profile: { email: person.email, ...names, displayName: null, phone: null } });
  if (await trx('memberships').where({ org_id: orgId, account_id: account.id }).first('id')) {
    throw new Conflict('emails', 'this person is already a member of the organisation', 'already_member');
  }
  const member = newPerson(person.email, person.email);
  member.name = Object.fromEntries(Object.entries(names).filter(([, v]) => v)) as typeof member.name;
  const memberId = await insertMembership(trx, { orgId, accountId: account.id, member: { ...member, active: true } });
  await refreshAccountStatus(trx, account.id);
  await recordAudit(trx, { orgId, actor: { type: 'system', id: 'sso' }, action: 'member.created', targetType: 'member', targetId: memberId, details: { userName: person.email, via: 'sso_jit' } });
  await recordAuthEvent(trx, { orgId, accountId: account.id, email: person.email, type: 'jit_provisioned', outcome: 'success', ...eventFields(input.context) });
  return { accountId: account.id, memberId, accountCreated: created };
}

/**
 * Just-in-time provisioning: adds a person the upstream vouched for as a member of the organisation, and links
 * their identity. Refused when the connection does not allow it, or the e-mail is outside its domains; a person
 * already a member is a Conflict (link instead). The account's e-mail becomes verified.
 */
export async function provisionFromSso(
  db: Knex,
  input: UpstreamPerson & { orgId: string; context?: EventContext },
): Promise<{ accountId: string; memberId: string; accountCreated: boolean }> {
  if (!looksLikeEmail(input.email)) throw new Invalid(`"${input.email}" is not an e-mail address`, { field: 'email', rule: 'email_malformed' });
  return db.transaction(async (trx) => {
    const connection = await loadConnection(trx, input.orgId, input.email);
    if (!connection.jitProvisioning) throw ssoRefusals.jitDisabled();
    const added = await addMember(trx, { orgId: input.orgId, person: input, context: input.context });
    await markEmailVerified(trx, added.accountId);
    await linkIdentity(trx, { orgId: input.orgId, accountId: added.accountId, provider: input.provider, subject: input.subject, context: input.context });
    return added;
  });
}

export type SsoOutcome = 'returning' | 'linked' | 'provisioned';

/**
 * What an SSO sign-in through the organisation's connection resolves to, in one transaction:
 * - the identity is known: its account (`returning`);
 * - else the e-mail's account, linked to the identity (`linked`);
 * - a person with no membership here (with or without an account) is added as a member first, when the
 *   connection allows it (`provisioned`), and refused otherwise.
 * The account's e-mail becomes verified when it is the address the upstream verified. Whether the member may
 * sign in (deactivated, MFA...) is the login policy's to say, afterwards.
 */
export async function resolveSsoAccount(
  db: Knex,
  input: UpstreamPerson & { orgId: string; context?: EventContext },
): Promise<{ accountId: string; outcome: SsoOutcome }> {
  const { orgId } = input;
  if (!looksLikeEmail(input.email)) throw new Invalid(`"${input.email}" is not an e-mail address`, { field: 'email', rule: 'email_malformed' });
  return db.transaction(async (trx) => {
    const connection = await loadConnection(trx, orgId, input.email);
    const identity = await findIdentity(trx, { provider: input.provider, subject: input.subject });
    const account = identity ? await getAccountForUpdate(trx, identity.accountId) : await findAccountByEmail(trx, input.email);
    const member = account ? await trx('memberships').where({ org_id: orgId, account_id: account.id }).first('id') : undefined;
    let accountId = account?.id;
    let outcome: SsoOutcome = identity ? 'returning' : 'linked';
    // A domain claim is the organisation's word, not proof that it owns the domain: its identity provider may
    // vouch for people who are not yet anyone's, and for its own members, never attach itself to an account
    // of people who belong to other organisations and not to this one.
    const elsewhere = account && !member
      ? await trx('memberships').where({ account_id: account.id }).whereNot({ org_id: orgId }).first('org_id')
      : undefined;
    if (!member && (elsewhere || (account && account.managed_by_org_id && account.managed_by_org_id !== orgId))) throw ssoRefusals.accountElsewhere();
    if (!member) {
      if (!connection.jitProvisioning) throw ssoRefusals.jitDisabled();
      accountId = (await addMember(trx, { orgId, person: input, accountId, context: input.context })).accountId;
      outcome = 'provisioned';
    }
    await linkIdentity(trx, { orgId, accountId: accountId!, provider: input.provider, subject: input.subject, context: input.context });
    // The address counts as verified for every organisation only when this organisation manages the account
    // (or just created it): another organisation's member is not verified by this one's identity provider.
    const email = account?.email ?? input.email;
    const managedHere = !account || account.managed_by_org_id === orgId;
    if (managedHere && email.toLowerCase() === input.email.toLowerCase()) await markEmailVerified(trx, accountId!);
    return { accountId: accountId!, outcome };
  });
}
