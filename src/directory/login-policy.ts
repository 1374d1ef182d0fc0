// The login policy: each organisation's rules for signing in to its applications, as data. One named check
// each, in order, as oidc-provider's interaction policy has its Checks: the first that fails decides. A check
// either denies the sign-in (with the auth-event reason it is recorded under) or asks for one more step
// (change the temporary password, enrol a second factor, give the second factor). A new rule is one check.
//
// E-mail codes and upstream SSO (next) slot in as one more factor in `Attempt.factors`, one more provider in
// `Attempt.provider`, and a method in the organisation's `mfaMethods`.
import type { Knex } from 'knex';
import { passwordOpensOrg } from './accounts.ts';
import type { AuthEventReason } from './auth-events.ts';
import type { Sealer } from './sealing.ts';
import { emailDomain, getSsoConnectionForSignIn, type SsoConnectionWithSecret } from './sso.ts';

export type SignInState = {
  org: { id: string; name: string; requireMfa: boolean; mfaMethods: string[]; loginProviders: string[]; ssoEnforced: boolean };
  account: {
    id: string; email: string; status: string; mustChangePassword: boolean; temporaryPasswordExpiresAt: Date | null;
    emailVerified: boolean; passwordSetByOrgId: string | null; hasTotp: boolean;
  };
  /** The account's membership in the organisation, if any. */
  membership: { id: string; status: string; role: string } | null;
};

/** What the person has done so far in this sign-in. */
export type Attempt = {
  provider: 'password' | 'sso';
  /**
   * Factors shown: `pwd` (password), `otp` (TOTP), `recovery` (a recovery code), `email` (a code sent by
   * e-mail); through the identity provider, `sso` and its methods as `upstream:<amr value>`.
   */
  factors: string[];
  now: Date;
};

export type Step = 'verify_email' | 'change_password' | 'enrol_totp' | 'second_factor';

export type LoginCheck = {
  name: string;
  description: string;
  /** deny: the sign-in ends here, recorded with `reason`. Otherwise the step the person must take next. */
  outcome: { deny: AuthEventReason; message: string } | { step: Step };
  /** True when the check fails (as oidc-provider's Check: true means "prompt"). */
  fails: (s: SignInState, a: Attempt) => boolean;
};

const allows = (s: SignInState, method: 'totp' | 'email') => s.org.mfaMethods.includes(method);

/**
 * The second factors this person may use here: the authenticator app they enrolled, and a code by e-mail
 * where the organisation allows e-mail codes.
 */
export function secondFactorMethods(s: SignInState): ('totp' | 'email')[] {
  // The person's own authenticator app is always offered (the policy accepts it); e-mail codes where allowed.
  return [...(s.account.hasTotp ? ['totp' as const] : []), ...(allows(s, 'email') ? ['email' as const] : [])];
}

/** A second factor is needed when the person enrolled one, or the organisation requires one and e-mail codes serve. */
const needsSecondFactor = (s: SignInState) => s.account.hasTotp || (s.org.requireMfa && allows(s, 'email'));

/** The organisation's identity provider said the person used more than one factor there (its amr). */
const upstreamMfa = (a: Attempt) => a.provider === 'sso' && ['upstream:mfa', 'upstream:otp', 'upstream:hwk', 'upstream:swk', 'upstream:sms'].some((f) => a.factors.includes(f));

/**
 * A second factor was given: TOTP or a recovery code, an e-mail code where the organisation counts those, or
 * MFA done at the organisation's identity provider (not asked again).
 */
const secondFactorShown = (s: SignInState, a: Attempt) =>
  a.factors.includes('otp') || a.factors.includes('recovery') || (a.factors.includes('email') && allows(s, 'email')) || upstreamMfa(a);

export const loginChecks: readonly LoginCheck[] = [
  // Denials first: nothing a person does next could change them.
  {
    name: 'not_a_member', description: "not a member of this client's organisation",
    outcome: { deny: 'not_a_member', message: 'You do not have access to this application. Ask your administrator to add you.' },
    fails: (s) => s.membership === null,
  },
  {
    name: 'member_deactivated', description: 'the membership (or the whole account) is deactivated',
    outcome: { deny: 'deactivated', message: 'Your access to this organisation has been turned off. Ask your administrator.' },
    fails: (s) => s.membership?.status !== 'active' || s.account.status !== 'active',
  },
  {
    name: 'provider_not_allowed', description: 'the organisation does not allow this way of signing in',
    outcome: { deny: 'provider_not_allowed', message: 'This organisation does not allow signing in with a password. Use your company sign-in.' },
    fails: (s, a) => !s.org.loginProviders.includes(a.provider) || (s.org.ssoEnforced && a.provider !== 'sso'),
  },
  {
    name: 'temporary_password_expired', description: 'the temporary password is past its expiry',
    outcome: { deny: 'temporary_password_expired', message: 'Your temporary password has expired. Ask your administrator for a new one.' },
    fails: (s, a) => a.provider === 'password' && s.account.mustChangePassword && s.account.temporaryPasswordExpiresAt !== null && s.account.temporaryPasswordExpiresAt <= a.now,
  },
  {
    name: 'mfa_method_not_available', description: 'the organisation requires MFA, the person has none, and it allows no method that can be used here',
    outcome: { deny: 'mfa_method_not_available', message: 'This organisation requires a second factor that cannot be set up here. Ask your administrator.' },
    fails: (s) => s.org.requireMfa && !s.account.hasTotp && !allows(s, 'totp') && !allows(s, 'email'),
  },
  // Then the steps, in the order the person takes them.
  {
    // Trust across organisations: a password another organisation set opens this one's applications only
    // once the person shows control of the e-mail address (a code sent there).
    name: 'credential_not_trusted', description: 'the password was set by another organisation and the e-mail address is not verified',
    outcome: { step: 'verify_email' },
    fails: (s, a) => a.provider === 'password' && !a.factors.includes('email')
      && !passwordOpensOrg({ email_verified: s.account.emailVerified, password_set_by_org_id: s.account.passwordSetByOrgId }, s.org.id),
  },
  {
    name: 'temporary_password_must_change', description: 'a temporary password must be changed before anything else',
    outcome: { step: 'change_password' },
    fails: (s, a) => a.provider === 'password' && s.account.mustChangePassword,
  },
  {
    name: 'second_factor_needed', description: 'the person has a second factor (or the organisation requires one and sends e-mail codes) and has not given it',
    outcome: { step: 'second_factor' },
    fails: (s, a) => needsSecondFactor(s) && !secondFactorShown(s, a),
  },
  {
    name: 'mfa_enrolment_required', description: 'the organisation requires MFA, none is enrolled, and an authenticator app is the way',
    outcome: { step: 'enrol_totp' },
    fails: (s, a) => s.org.requireMfa && !s.account.hasTotp && !secondFactorShown(s, a),
  },
];

/** The first check that fails, or null: the person may sign in. */
export function evaluateLogin(state: SignInState, attempt: Attempt, checks: readonly LoginCheck[] = loginChecks): LoginCheck | null {
  return checks.find((c) => c.fails(state, attempt)) ?? null;
}

/** RFC 8176 methods for the factors shown: `pwd`, `otp`, and `mfa` when there were two or more. */
export function amrOf(factors: string[]): string[] {
  // A sign-in through the identity provider reports that provider's methods (its amr), as RFC 8176 values.
  const amr = factors.filter((f) => f !== 'sso').map((f) => (f === 'recovery' || f === 'email' ? 'otp' : f.replace(/^upstream:/, '')))
    .filter((f, i, all) => all.indexOf(f) === i);
  const multi = amr.includes('mfa') || amr.filter((f) => f !== 'mfa').length >= 2;
  return multi && !amr.includes('mfa') ? [...amr, 'mfa'] : amr;
}

export const ACR_ONE_FACTOR = 'urn:roster:loa:1fa';
export const ACR_MFA = 'urn:roster:loa:mfa';
export const acrOf = (factors: string[]) => (amrOf(factors).includes('mfa') ? ACR_MFA : ACR_ONE_FACTOR);

/** What the policy reads, in one query: the organisation, the account and its membership there, its factors. */
export async function loadSignInState(db: Knex, input: { orgId: string; accountId: string }): Promise<SignInState | undefined> {
  const row = await db('accounts as a')
    .join('organizations as o', (j) => j.on('o.id', '=', db.raw('?::uuid', [input.orgId])))
    .leftJoin('memberships as m', (j) => j.on('m.org_id', 'o.id').andOn('m.account_id', 'a.id'))
    .where('a.id', input.accountId)
    .first(
      'o.id as org_id', 'o.name as org_name', 'o.require_mfa', 'o.mfa_methods', 'o.login_providers', 'o.sso_enforced',
      'a.id', 'a.email', 'a.status', 'a.must_change_password', 'a.temporary_password_expires_at', 'a.email_verified', 'a.password_set_by_org_id',
      'm.id as membership_id', 'm.status as membership_status', 'm.role',
      db.raw("exists (select 1 from mfa_factors f where f.account_id = a.id and f.kind = 'totp' and f.confirmed_at is not null) as has_totp"),
    );
  if (!row) return undefined;
  return {
    org: { id: row.org_id, name: row.org_name, requireMfa: row.require_mfa, mfaMethods: row.mfa_methods, loginProviders: row.login_providers, ssoEnforced: row.sso_enforced },
    account: {
      id: row.id, email: row.email, status: row.status, mustChangePassword: row.must_change_password,
      temporaryPasswordExpiresAt: row.temporary_password_expires_at ? new Date(row.temporary_password_expires_at) : null,
      emailVerified: row.email_verified, passwordSetByOrgId: row.password_set_by_org_id, hasTotp: Boolean(row.has_totp),
    },
    membership: row.membership_id ? { id: row.membership_id, status: row.membership_status, role: row.role } : null,
  };
}

/**
 * The organisation's identity provider, when this address signs in there: its domain is one the organisation's
 * connection claims, or the organisation enforces SSO. Undefined otherwise (the password page follows).
 */
export async function ssoConnectionFor(db: Knex, sealer: Sealer, input: { orgId: string; email: string }): Promise<SsoConnectionWithSecret | undefined> {
  const domain = emailDomain(input.email);
  const row = await db('organizations as o').where('o.id', input.orgId)
    .first('o.sso_enforced', db.raw('exists (select 1 from sso_domains d where d.org_id = o.id and d.domain = ?) as claimed', [domain ?? '']));
  if (!row || !(row.sso_enforced || row.claimed)) return undefined;
  return getSsoConnectionForSignIn(db, sealer, { orgId: input.orgId });
}
