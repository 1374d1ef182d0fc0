// The login policy as data: each named check fails in its own situation and only there, the first failing
// check decides (a denial before any step; among the steps, a temporary password change before anything
// else), and the factors shown become amr/acr (RFC 8176).
import assert from 'node:assert/strict';
import {
  ACR_MFA, ACR_ONE_FACTOR, acrOf, amrOf, type Attempt, evaluateLogin, loadSignInState, loginChecks, type LoginCheck, type SignInState,
} from '../../src/directory/login-policy.ts';
import { createUser, newOrg, unique } from '../helpers.ts';
import { testDb } from '../setup.ts';

const ORG = '11111111-1111-4111-8111-111111111111';
const OTHER_ORG = '22222222-2222-4222-8222-222222222222';
const NOW = new Date('2030-01-01T12:00:00Z');
const HOUR = 3600_000;

/** A person who may sign in: an active member, a password they own (verified e-mail), no second factor asked. */
function base(): SignInState {
  return {
    org: { id: ORG, name: 'Org', requireMfa: false, mfaMethods: ['totp', 'email'], loginProviders: ['password'], ssoEnforced: false },
    account: {
      id: 'acct', email: 'p@example.test', status: 'active', mustChangePassword: false, temporaryPasswordExpiresAt: null,
      emailVerified: true, passwordSetByOrgId: null, hasTotp: false,
    },
    membership: { id: 'm', status: 'active', role: 'member' },
  };
}
const password = (factors: string[] = ['pwd']): Attempt => ({ provider: 'password', factors, now: NOW });

type Situation = { check: string; what: string; apply: (s: SignInState) => void; attempt?: Attempt };

/** Each check's situation: a change of the passing state that makes that check (and, by order, no earlier one) fail. */
const situations: Situation[] = [
  { check: 'not_a_member', what: 'no membership in the organisation', apply: (s) => { s.membership = null; } },
  { check: 'member_deactivated', what: 'the membership is deactivated', apply: (s) => { s.membership!.status = 'deactivated'; } },
  { check: 'provider_not_allowed', what: 'the organisation allows only SSO', apply: (s) => { s.org.loginProviders = ['sso']; } },
  { check: 'credential_not_trusted', what: 'another organisation set the password, e-mail unverified', apply: (s) => { s.account.emailVerified = false; s.account.passwordSetByOrgId = OTHER_ORG; } },
  { check: 'temporary_password_expired', what: 'a temporary password past its expiry', apply: (s) => { s.account.mustChangePassword = true; s.account.temporaryPasswordExpiresAt = new Date(NOW.getTime() - HOUR); } },
  { check: 'temporary_password_must_change', what: 'a temporary password within its expiry', apply: (s) => { s.account.mustChangePassword = true; s.account.temporaryPasswordExpiresAt = new Date(NOW.getTime() + HOUR); } },
  { check: 'second_factor_needed', what: 'a TOTP factor, only the password shown', apply: (s) => { s.account.hasTotp = true; } },
  { check: 'mfa_method_not_available', what: 'MFA required, none enrolled, only e-mail codes allowed', apply: (s) => { s.org.requireMfa = true; s.org.mfaMethods = ['email']; } },
  { check: 'mfa_enrolment_required', what: 'MFA required, none enrolled, TOTP allowed', apply: (s) => { s.org.requireMfa = true; s.org.mfaMethods = ['totp']; } },
];

const situated = (sit: Situation, from = base()) => { sit.apply(from); return from; };
const checkNamed = (name: string) => loginChecks.find((c) => c.name === name)!;
const isDeny = (c: LoginCheck) => 'deny' in c.outcome;
const stepOf = (c: LoginCheck | null) => (c && 'step' in c.outcome ? c.outcome.step : undefined);
const denyOf = (c: LoginCheck | null) => (c && 'deny' in c.outcome ? c.outcome.deny : undefined);

describe('directory: login policy (evaluateLogin)', () => {
  it('lets a person who meets every rule in: no check fails', () => {
    assert.equal(evaluateLogin(base(), password()), null);
    for (const c of loginChecks) assert.equal(c.fails(base(), password()), false, `${c.name} fails on the passing state`);
  });

  it('has one situation per check here, and every check is named, described and either denies with a message or asks for a step', () => {
    assert.deepEqual(situations.map((s) => s.check).sort(), loginChecks.map((c) => c.name).sort());
    assert.equal(new Set(loginChecks.map((c) => c.name)).size, loginChecks.length);
    for (const c of loginChecks) {
      assert.ok(c.description.length > 0, c.name);
      if (isDeny(c)) assert.ok((c.outcome as { message: string }).message.length > 0, c.name);
      else assert.ok(['change_password', 'enrol_totp', 'second_factor'].includes(stepOf(c)!), c.name);
    }
  });

  for (const sit of situations) {
    it(`${sit.check}: fails exactly when ${sit.what}`, () => {
      const check = checkNamed(sit.check);
      assert.equal(check.fails(base(), password()), false, 'not on the passing state');
      assert.equal(check.fails(situated(sit), password()), true, 'in its situation');
      assert.equal(evaluateLogin(situated(sit), password())?.name, sit.check, 'and it is the check that decides there');
    });
  }

  it('not_a_member and member_deactivated deny with their reasons; a deactivated account is denied even with an active membership', () => {
    assert.equal(denyOf(evaluateLogin(situated(situations[0]), password())), 'not_a_member');
    assert.equal(denyOf(evaluateLogin(situated(situations[1]), password())), 'deactivated');
    const s = base();
    s.account.status = 'deactivated';
    assert.equal(evaluateLogin(s, password())?.name, 'member_deactivated');
  });

  it('provider_not_allowed: a password where the organisation enforces SSO; SSO itself passes where it is allowed', () => {
    const enforced = base();
    enforced.org.loginProviders = ['password', 'sso'];
    enforced.org.ssoEnforced = true;
    assert.equal(evaluateLogin(enforced, password())?.name, 'provider_not_allowed');
    assert.equal(denyOf(evaluateLogin(enforced, password())), 'provider_not_allowed');
    assert.equal(evaluateLogin(enforced, { provider: 'sso', factors: [], now: NOW }), null);
    const passwordOnly = base();
    assert.equal(evaluateLogin(passwordOnly, { provider: 'sso', factors: [], now: NOW })?.name, 'provider_not_allowed');
  });

  it("credential_not_trusted: another organisation's password opens this one only once the e-mail is verified; this organisation's own password opens it", () => {
    const s = situated(situations.find((x) => x.check === 'credential_not_trusted')!);
    assert.equal(denyOf(evaluateLogin(s, password())), 'credential_not_trusted');
    s.account.passwordSetByOrgId = ORG;
    assert.equal(evaluateLogin(s, password()), null, 'set by this organisation');
    s.account.passwordSetByOrgId = OTHER_ORG;
    s.account.emailVerified = true;
    assert.equal(evaluateLogin(s, password()), null, 'the person showed control of the address');
    s.account.emailVerified = false;
    const sso = base();
    sso.org.loginProviders = ['sso'];
    sso.account.emailVerified = false;
    sso.account.passwordSetByOrgId = OTHER_ORG;
    assert.equal(evaluateLogin(sso, { provider: 'sso', factors: [], now: NOW }), null, 'not a password sign-in: the check does not apply');
  });

  it('temporary_password_expired: at or past the expiry; before it, or with no expiry, the change is asked instead; no temporary password, no check', () => {
    const s = base();
    s.account.mustChangePassword = true;
    s.account.temporaryPasswordExpiresAt = NOW;
    assert.equal(denyOf(evaluateLogin(s, password())), 'temporary_password_expired', 'at the expiry');
    s.account.temporaryPasswordExpiresAt = new Date(NOW.getTime() + 1);
    assert.equal(stepOf(evaluateLogin(s, password())), 'change_password');
    s.account.temporaryPasswordExpiresAt = null;
    assert.equal(stepOf(evaluateLogin(s, password())), 'change_password');
    s.account.mustChangePassword = false;
    s.account.temporaryPasswordExpiresAt = new Date(NOW.getTime() - HOUR);
    assert.equal(evaluateLogin(s, password()), null, 'an old expiry of a password already changed');
  });

  it('second_factor_needed: a TOTP or a recovery code satisfies it; the password alone does not', () => {
    const s = situated(situations.find((x) => x.check === 'second_factor_needed')!);
    assert.equal(stepOf(evaluateLogin(s, password())), 'second_factor');
    assert.equal(evaluateLogin(s, password(['pwd', 'otp'])), null);
    assert.equal(evaluateLogin(s, password(['pwd', 'recovery'])), null);
    s.org.requireMfa = true;
    s.org.mfaMethods = ['email'];
    assert.equal(stepOf(evaluateLogin(s, password())), 'second_factor', 'an enrolled TOTP is asked for even where only e-mail could be enrolled');
    assert.equal(evaluateLogin(s, password(['pwd', 'otp'])), null);
  });

  it('mfa_method_not_available denies, mfa_enrolment_required asks to enrol; neither once a TOTP factor is enrolled and shown', () => {
    const none = situated(situations.find((x) => x.check === 'mfa_method_not_available')!);
    assert.equal(denyOf(evaluateLogin(none, password())), 'mfa_method_not_available');
    const enrol = situated(situations.find((x) => x.check === 'mfa_enrolment_required')!);
    assert.equal(stepOf(evaluateLogin(enrol, password())), 'enrol_totp');
    enrol.account.hasTotp = true;
    assert.equal(evaluateLogin(enrol, password(['pwd', 'otp'])), null);
    const notRequired = base();
    notRequired.org.mfaMethods = ['email'];
    assert.equal(evaluateLogin(notRequired, password()), null, 'MFA not required: nothing to enrol');
  });

  it('order: every denial wins over every step it meets (nobody is asked to change a password, or enrol, only to be turned away)', () => {
    const denials = situations.filter((s) => isDeny(checkNamed(s.check)));
    const steps = situations.filter((s) => !isDeny(checkNamed(s.check)));
    let combined = 0;
    for (const step of steps) {
      for (const deny of denials) {
        const s = situated(deny, situated(step));
        if (!checkNamed(step.check).fails(s, password()) || !checkNamed(deny.check).fails(s, password())) continue; // the two cannot hold together
        combined++;
        const decided = evaluateLogin(s, password());
        assert.equal(decided?.name, deny.check, `${deny.check} with ${step.check}: decided by ${decided?.name}`);
      }
    }
    assert.ok(combined >= 15, `${combined} combinations`);
  });

  it('order: among denials, membership first, then the way of signing in, then the credential', () => {
    const all = base();
    // Every denial's situation at once (the membership's last: there is none).
    for (const s of situations.filter((x) => isDeny(checkNamed(x.check))).reverse()) s.apply(all);
    const expected = ['not_a_member', 'member_deactivated', 'provider_not_allowed', 'credential_not_trusted', 'temporary_password_expired'];
    for (const name of expected) {
      assert.equal(evaluateLogin(all, password())?.name, name);
      // Clear this denial's situation and look at the next.
      if (name === 'not_a_member') all.membership = { id: 'm', status: 'deactivated', role: 'member' };
      if (name === 'member_deactivated') all.membership!.status = 'active';
      if (name === 'provider_not_allowed') all.org.loginProviders = ['password'];
      if (name === 'credential_not_trusted') all.account.emailVerified = true;
      if (name === 'temporary_password_expired') all.account.temporaryPasswordExpiresAt = null;
    }
  });

  it('order: a temporary password is changed before anything else is asked (second factor, enrolment)', () => {
    const withTotp = base();
    withTotp.account.mustChangePassword = true;
    withTotp.account.hasTotp = true;
    withTotp.org.requireMfa = true;
    assert.equal(stepOf(evaluateLogin(withTotp, password())), 'change_password');
    const enrol = base();
    enrol.account.mustChangePassword = true;
    enrol.org.requireMfa = true;
    assert.equal(stepOf(evaluateLogin(enrol, password())), 'change_password');
    // Once changed (the flag cleared), the next steps follow in turn.
    withTotp.account.mustChangePassword = false;
    assert.equal(stepOf(evaluateLogin(withTotp, password())), 'second_factor');
    enrol.account.mustChangePassword = false;
    assert.equal(stepOf(evaluateLogin(enrol, password())), 'enrol_totp');
  });

  it('takes a list of checks: a new rule is one more check, asked in its place', () => {
    const extra: LoginCheck = { name: 'weekend', description: 'no sign-in on test days', outcome: { step: 'second_factor' }, fails: () => true };
    assert.equal(evaluateLogin(base(), password(), [extra]), extra);
    assert.equal(evaluateLogin(situated(situations[0]), password(), [...loginChecks, extra])?.name, 'not_a_member');
    assert.equal(evaluateLogin(base(), password(), [...loginChecks, extra]), extra);
  });
});

describe('directory: login policy (amr and acr)', () => {
  it('amrOf: the methods shown, a recovery code counts as otp, duplicates once, mfa with two or more methods', () => {
    assert.deepEqual(amrOf([]), []);
    assert.deepEqual(amrOf(['pwd']), ['pwd']);
    assert.deepEqual(amrOf(['pwd', 'pwd']), ['pwd']);
    assert.deepEqual(amrOf(['otp']), ['otp']);
    assert.deepEqual(amrOf(['recovery']), ['otp']);
    assert.deepEqual(amrOf(['pwd', 'otp']), ['pwd', 'otp', 'mfa']);
    assert.deepEqual(amrOf(['pwd', 'recovery']), ['pwd', 'otp', 'mfa']);
    assert.deepEqual(amrOf(['pwd', 'otp', 'recovery']), ['pwd', 'otp', 'mfa']);
  });

  it('acrOf: one factor, or MFA when two methods were shown', () => {
    assert.notEqual(ACR_ONE_FACTOR, ACR_MFA);
    assert.equal(acrOf(['pwd']), ACR_ONE_FACTOR);
    assert.equal(acrOf(['pwd', 'pwd']), ACR_ONE_FACTOR);
    assert.equal(acrOf(['otp', 'recovery']), ACR_ONE_FACTOR, 'two codes of one method are one factor');
    assert.equal(acrOf(['pwd', 'otp']), ACR_MFA);
    assert.equal(acrOf(['pwd', 'recovery']), ACR_MFA);
  });
});

describe('directory: login policy (loadSignInState)', () => {
  it('reads the organisation, the account and its membership there in one go; no membership in another organisation', async () => {
    const a = await newOrg();
    const b = await newOrg();
    const email = `${unique('policy')}@example.test`;
    await createUser(a.scim, email, { password: 'a password of org a' });
    const account = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first();
    await testDb()('organizations').where({ id: a.org.id }).update({ require_mfa: true, mfa_methods: ['totp'], login_providers: ['password', 'sso'] });
    const inA = (await loadSignInState(testDb(), { orgId: a.org.id, accountId: account.id }))!;
    assert.deepEqual(inA.org, { id: a.org.id, name: a.org.name, requireMfa: true, mfaMethods: ['totp'], loginProviders: ['password', 'sso'], ssoEnforced: false });
    assert.deepEqual(inA.account, {
      id: account.id, email, status: 'active', mustChangePassword: false, temporaryPasswordExpiresAt: null,
      emailVerified: false, passwordSetByOrgId: a.org.id, hasTotp: false,
    });
    assert.equal(inA.membership?.status, 'active');
    assert.equal(inA.membership?.role, 'member');
    const inB = (await loadSignInState(testDb(), { orgId: b.org.id, accountId: account.id }))!;
    assert.equal(inB.membership, null);
    assert.equal(evaluateLogin(inB, { provider: 'password', factors: ['pwd'], now: new Date() })?.name, 'not_a_member');
    assert.equal(await loadSignInState(testDb(), { orgId: a.org.id, accountId: '00000000-0000-4000-8000-000000000000' }), undefined);
  });
});
