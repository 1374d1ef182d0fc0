// Organisations: created with their owner, a SCIM token and an admin API key, all in one transaction.
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { findOrCreateAccount } from './accounts.ts';
import { createPasswordHasher, type PasswordHasher } from './passwords.ts';
import { type Actor, recordAudit } from './audit.ts';
import { issueCredential } from './credentials.ts';
import { Conflict, Invalid, NotFound, uniqueViolation } from './errors.ts';
import { insertMembership } from './members.ts';
import { accountProfileOf, looksLikeEmail, newPerson } from './person.ts';
import { isUuid } from './predicate.ts';
import { evaluateLogin, loadSignInState } from './login-policy.ts';
import { revokeNonCompliantSessions } from './sessions.ts';
import { generateTemporaryPassword } from './tokens.ts';

export type Organization = { id: string; name: string; slug: string };

export type CreatedOrganization = {
  org: Organization;
  owner: { id: string; accountId: string; email: string; temporaryPassword: string | null };
  scimToken: string;
  apiKey: string;
};

/** Slugs under which the console serves its own files (/console/assets/..., /console/vendor/...): no organisation takes them. */
const RESERVED_SLUGS = new Set(['assets', 'vendor']);

export function slugify(name: string): string {
  const slug = name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60);
  return slug || 'org';
}

/**
 * Creates an organisation and its owner. A new owner account gets a temporary password it must change;
 * an existing account becomes the owner as it is (its credentials belong to the person, not to this org).
 */
export async function createOrganization(
  db: Knex,
  input: { name: string; ownerEmail: string; slug?: string; passwords?: PasswordHasher },
): Promise<CreatedOrganization> {
  const name = input.name.trim();
  if (name.length === 0 || name.length > 200) throw new Invalid('the organisation name must be 1 to 200 characters', { field: 'name', rule: 'length' });
  if (!looksLikeEmail(input.ownerEmail)) throw new Invalid(`"${input.ownerEmail}" is not an e-mail address`, { field: 'ownerEmail', rule: 'email_malformed' });
  // A derived slug that is taken (or reserved) gets a short suffix: two organisations may share a name, never a slug.
  let slug = input.slug ?? slugify(name);
  if (input.slug !== undefined && (!/^[a-z0-9][a-z0-9-]{0,79}$/.test(slug) || RESERVED_SLUGS.has(slug))) {
    throw new Invalid(`"${input.slug}" cannot be a slug: lower-case letters, digits and hyphens, and not ${[...RESERVED_SLUGS].join(' or ')}`, { field: 'slug', rule: 'malformed' });
  }
  if (!input.slug && (RESERVED_SLUGS.has(slug) || (await db('organizations').where({ slug }).first('id')))) slug = `${slug}-${randomBytes(3).toString('hex')}`;
  const temporaryPassword = generateTemporaryPassword();
  const temporaryHash = await (input.passwords ?? createPasswordHasher()).hash(temporaryPassword); // before the transaction: argon2 takes a while
  return db.transaction(async (trx) => {
    let org: Organization;
    try {
      [org] = await trx('organizations').insert({ name, slug }).returning(['id', 'name', 'slug']);
    } catch (err) {
      if (uniqueViolation(err) === 'organizations_slug_key') throw new Conflict('slug', `an organisation with the slug "${slug}" already exists`, 'slug_taken');
      throw err;
    }
    const { account, created } = await findOrCreateAccount(trx, {
      orgId: org.id, profile: accountProfileOf(newPerson(input.ownerEmail, input.ownerEmail)), passwordHash: temporaryHash, mustChangePassword: true,
    });
    const ownerId = await insertMembership(trx, { orgId: org.id, accountId: account.id, role: 'owner', member: { ...newPerson(account.email, account.email), active: true } });
    const scim = await issueCredential(trx, { orgId: org.id, kind: 'scim_token', name: 'default' });
    const key = await issueCredential(trx, { orgId: org.id, kind: 'api_key', name: 'default', role: 'owner' });
    const actor: Actor = { type: 'system', id: 'cli' };
    await recordAudit(trx, { orgId: org.id, actor, action: 'organization.created', targetType: 'organization', targetId: org.id, details: { name, owner: account.email } });
    return {
      org,
      owner: { id: ownerId, accountId: account.id, email: account.email, temporaryPassword: created ? temporaryPassword : null },
      scimToken: scim.secret,
      apiKey: key.secret,
    };
  });
}

/** The organisation with this id, or NotFound. */
export async function getOrganization(db: Knex, id: string): Promise<Organization> {
  if (!isUuid(id)) throw new Invalid(`"${id}" is not an organisation id (a UUID)`, { field: 'orgId', rule: 'malformed_id' });
  const row = await db('organizations').where({ id }).first('id', 'name', 'slug');
  if (!row) throw new NotFound(`no organisation ${id}`, { field: 'orgId', rule: 'org_not_found' });
  return row;
}

export type LoginConfig = {
  requireMfa: boolean;
  /** Second factors the organisation accepts: an authenticator app (totp), a code by e-mail (email). At least one. */
  mfaMethods: ('totp' | 'email')[];
  /** How its people may sign in: a password, the organisation's identity provider (sso). At least one. */
  loginProviders: ('password' | 'sso')[];
  /** Only the identity provider: password sign-in is refused for its people. */
  ssoEnforced: boolean;
  /** An account may sign in with more than one identity (identity provider + subject). */
  allowIdentityLinking: boolean;
};

const loginConfigOf = (r: Record<string, unknown>): LoginConfig => ({
  requireMfa: r.require_mfa as boolean, mfaMethods: r.mfa_methods as LoginConfig['mfaMethods'], loginProviders: r.login_providers as LoginConfig['loginProviders'],
  ssoEnforced: r.sso_enforced as boolean, allowIdentityLinking: r.allow_identity_linking as boolean,
});

export async function getLoginConfig(db: Knex, input: { orgId: string }): Promise<LoginConfig> {
  const row = await db('organizations').where({ id: input.orgId }).first('require_mfa', 'mfa_methods', 'login_providers', 'sso_enforced', 'allow_identity_linking');
  if (!row) throw new NotFound(`no organisation ${input.orgId}`, { field: 'orgId', rule: 'org_not_found' });
  return loginConfigOf(row);
}

/**
 * Changes the organisation's login configuration (what is given; the rest stays). Rules: at least one MFA
 * method and one way of signing in, from the known ones; SSO (allowed or enforced) needs an SSO connection;
 * enforcing SSO means only SSO. Live sessions that no longer meet it sign in again at their next request.
 */
export async function updateLoginConfig(db: Knex, input: { orgId: string; actor: Actor; change: Partial<LoginConfig> }): Promise<LoginConfig> {
  const { change } = input;
  const known = <T extends string>(field: string, values: readonly T[], given: readonly string[] | undefined) => {
    if (given === undefined) return;
    if (given.length === 0) throw new Invalid(`${field} needs at least one of ${values.join(', ')}`, { field, rule: 'empty' });
    const unknown = given.find((v) => !values.includes(v as T));
    if (unknown) throw new Invalid(`${field}: "${unknown}" is not one of ${values.join(', ')}`, { field, rule: 'unknown_value' });
  };
  known('mfaMethods', ['totp', 'email'] as const, change.mfaMethods);
  known('loginProviders', ['password', 'sso'] as const, change.loginProviders);
  return db.transaction(async (trx) => {
    const current = await trx('organizations').where({ id: input.orgId }).forUpdate().first('require_mfa', 'mfa_methods', 'login_providers', 'sso_enforced', 'allow_identity_linking');
    if (!current) throw new NotFound(`no organisation ${input.orgId}`, { field: 'orgId', rule: 'org_not_found' });
    const next: LoginConfig = { ...loginConfigOf(current), ...change };
    if (next.ssoEnforced) next.loginProviders = ['sso'];
    if (next.loginProviders.includes('sso') && !(await trx('sso_connections').where({ org_id: input.orgId }).first('org_id'))) {
      throw new Invalid('signing in through SSO needs an SSO connection first (cli sso set)', { field: 'loginProviders', rule: 'no_sso_connection' });
    }
    await trx('organizations').where({ id: input.orgId }).update({
      require_mfa: next.requireMfa, mfa_methods: trx.raw('?::text[]', [`{${next.mfaMethods.join(',')}}`]),
      login_providers: trx.raw('?::text[]', [`{${next.loginProviders.join(',')}}`]), sso_enforced: next.ssoEnforced,
      allow_identity_linking: next.allowIdentityLinking, updated_at: trx.fn.now(),
    });
    // Sessions that no longer meet it end now (the person making the change: at their next sign-in).
    const revoked = await revokeNonCompliantSessions(trx, {
      orgId: input.orgId, by: input.actor, exceptAccountId: input.actor.type === 'user' ? input.actor.id : null,
      stillMeets: async (s) => {
        const state = await loadSignInState(trx, { orgId: input.orgId, accountId: s.accountId });
        return state !== undefined && evaluateLogin(state, { provider: s.provider, factors: s.factors, now: new Date() }) === null;
      },
    });
    await recordAudit(trx, { orgId: input.orgId, actor: input.actor, action: 'organization.login_config_changed', targetType: 'organization', targetId: input.orgId, details: { ...change, sessionsRevoked: revoked } });
    return next;
  });
}

export type OrganizationSettings = Organization & { loginConfiguration: LoginConfig; invitationLifetimeDays: number; licenceLimit: number | null };

export async function getOrganizationSettings(db: Knex, input: { orgId: string }): Promise<OrganizationSettings> {
  const row = await db('organizations').where({ id: input.orgId })
    .first('id', 'name', 'slug', 'require_mfa', 'mfa_methods', 'login_providers', 'sso_enforced', 'allow_identity_linking', 'invitation_lifetime_days', 'license_limit');
  if (!row) throw new NotFound(`no organisation ${input.orgId}`, { field: 'orgId', rule: 'org_not_found' });
  return {
    id: row.id, name: row.name, slug: row.slug, loginConfiguration: loginConfigOf(row),
    invitationLifetimeDays: row.invitation_lifetime_days, licenceLimit: row.license_limit,
  };
}

/** Changes the organisation's name, invitation lifetime and licence limit (what is given). */
export async function updateOrganizationSettings(
  db: Knex,
  input: { orgId: string; actor: Actor; change: { name?: string; invitationLifetimeDays?: number; licenceLimit?: number | null } },
): Promise<void> {
  const { change } = input;
  const row: Record<string, unknown> = {};
  if (change.name !== undefined) {
    const name = change.name.trim();
    if (name.length === 0 || name.length > 200) throw new Invalid('the organisation name must be 1 to 200 characters', { field: 'name', rule: 'length' });
    row.name = name;
  }
  if (change.invitationLifetimeDays !== undefined) {
    if (!Number.isInteger(change.invitationLifetimeDays) || change.invitationLifetimeDays < 1 || change.invitationLifetimeDays > 90) {
      throw new Invalid('invitationLifetimeDays is a whole number of days from 1 to 90', { field: 'invitationLifetimeDays', rule: 'range' });
    }
    row.invitation_lifetime_days = change.invitationLifetimeDays;
  }
  if (change.licenceLimit !== undefined) {
    if (change.licenceLimit !== null && (!Number.isInteger(change.licenceLimit) || change.licenceLimit < 0 || change.licenceLimit > 10_000_000)) {
      throw new Invalid('licenceLimit is a whole number from 0, or null for no limit', { field: 'licenceLimit', rule: 'range' });
    }
    row.license_limit = change.licenceLimit;
  }
  if (Object.keys(row).length === 0) return;
  await db.transaction(async (trx) => {
    const n = await trx('organizations').where({ id: input.orgId }).update({ ...row, updated_at: trx.fn.now() });
    if (n === 0) throw new NotFound(`no organisation ${input.orgId}`, { field: 'orgId', rule: 'org_not_found' });
    await recordAudit(trx, { orgId: input.orgId, actor: input.actor, action: 'organization.updated', targetType: 'organization', targetId: input.orgId, details: { ...change } });
  });
}
