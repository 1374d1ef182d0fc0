// The login policy as data: each named check fails in its own situation and only there, the first failing
// check decides (a denial before any step; among the steps, proof of the e-mail address for a password
// another organisation set, then a temporary password change, then the second factor, then enrolment), the
// factors shown become amr/acr (RFC 8176), and which password opens which organisation (passwordOpensOrg).
import assert from 'node:assert/strict';
import { passwordOpensOrg } from '../../src/directory/accounts.ts';
import {
  ACR_MFA, ACR_ONE_FACTOR, acrOf, amrOf, type Attempt, evaluateLogin, loadSignInState, loginChecks, type LoginCheck, secondFactorMethods, type SignInState,
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
  { check: 'temporary_password_expired', what: 'a temporary password past its expiry', apply: (s) => { s.account.mustChangePassword = true; s.account.temporaryPasswordExpiresAt = new Date(NOW.getTime() - HOUR); } },
  { check: 'mfa_method_not_available', what: "MFA required, none enrolled, neither 'totp' nor 'email' allowed", apply: (s) => { s.org.requireMfa = true; s.org.mfaMethods = ['sms']; } },
  { check: 'credential_not_trusted', what: 'another organisation set the password (the e-mail verified or not)', apply: (s) => { s.account.passwordSetByOrgId = OTHER_ORG; } },
  { check: 'temporary_password_must_change', what: 'a temporary password within its expiry', apply: (s) => { s.account.mustChangePassword = true; s.account.temporaryPasswordExpiresAt = new Date(NOW.getTime() + HOUR); } },
  { check: 'second_factor_needed', what: 'a TOTP factor, only the password shown', apply: (s) => { s.account.hasTotp = true; } },
  { check: 'mfa_enrolment_required', what: "MFA required, none enrolled, TOTP allowed and 'email' not", apply: (s) => { s.org.requireMfa = true; s.org.mfaMethods = ['totp']; } },
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
      else assert.ok(['verify_email', 'change_password', 'enrol_totp', 'second_factor'].includes(stepOf(c)!), c.name);
    }
  });

  it('the checks, in order: the denials (membership, the way of signing in, the credential, MFA that cannot be met), then the steps', () => {
    assert.deepEqual(loginChecks.map((c) => [c.name, denyOf(c) ?? stepOf(c)]), [
      ['not_a_member', 'not_a_member'],
      ['member_deactivated', 'deactivated'],
      ['provider_not_allowed', 'provider_not_allowed'],
      ['temporary_password_expired', 'temporary_password_expired'],
      ['mfa_method_not_available', 'mfa_method_not_available'],
      ['credential_not_trusted', 'verify_email'],
      ['temporary_password_must_change', 'change_password'],
      ['second_factor_needed', 'second_factor'],
      ['mfa_enrolment_required', 'enrol_totp'],
    ]);
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

  it("credential_not_trusted is a step (verify_email), not a denial: another organisation's password never opens this one by itself, verified address or not; a code e-mailed to the address, shown in this sign-in, lets it through; this organisation's own password, and the person's own once verified, open it", () => {
    const s = situated(situations.find((x) => x.check === 'credential_not_trusted')!);
    s.account.emailVerified = false;
    assert.equal(stepOf(evaluateLogin(s, password())), 'verify_email');
    assert.equal(denyOf(evaluateLogin(s, password())), undefined, 'not a denial');
    s.account.emailVerified = true;
    assert.equal(stepOf(evaluateLogin(s, password())), 'verify_email', 'a verified address does not make the password of another organisation open this one');
    assert.equal(evaluateLogin(s, password(['pwd', 'email'])), null, 'the code e-mailed to the address, in this sign-in');
    s.org.mfaMethods = ['totp'];
    assert.equal(evaluateLogin(s, password(['pwd', 'email'])), null, "the proof of the address is asked whatever second factors the organisation allows");
    assert.equal(stepOf(evaluateLogin(s, password(['pwd', 'otp']))), 'verify_email', 'a TOTP code is no proof of the address');
    s.org.mfaMethods = ['totp', 'email'];
    s.account.passwordSetByOrgId = ORG;
    s.account.emailVerified = false;
    assert.equal(evaluateLogin(s, password()), null, 'set by this organisation (the address need not be verified)');
    s.account.passwordSetByOrgId = null;
    assert.equal(stepOf(evaluateLogin(s, password())), 'verify_email', "the person's own password, the address not verified");
    s.account.emailVerified = true;
    assert.equal(evaluateLogin(s, password()), null, "the person's own password (set through the e-mailed link), the address verified");
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
    none.account.hasTotp = true;
    assert.notEqual(evaluateLogin(none, password())?.name, 'mfa_method_not_available', 'an enrolled TOTP can still be used');
    const enrol = situated(situations.find((x) => x.check === 'mfa_enrolment_required')!);
    assert.equal(stepOf(evaluateLogin(enrol, password())), 'enrol_totp');
    enrol.account.hasTotp = true;
    assert.equal(evaluateLogin(enrol, password(['pwd', 'otp'])), null);
    const notRequired = base();
    notRequired.org.mfaMethods = ['email'];
    assert.equal(evaluateLogin(notRequired, password()), null, 'MFA not required: nothing to enrol');
    notRequired.org.mfaMethods = ['sms'];
    assert.equal(evaluateLogin(notRequired, password()), null, 'MFA not required: no method needed');
  });

  it("MFA required where 'email' is allowed and no TOTP is enrolled: the second factor is a code by e-mail (no denial, no enrolment)", () => {
    for (const methods of [['email'], ['totp', 'email']]) {
      const s = base();
      s.org.requireMfa = true;
      s.org.mfaMethods = methods;
      assert.equal(evaluateLogin(s, password())?.name, 'second_factor_needed', methods.join(','));
      assert.deepEqual(secondFactorMethods(s), ['email'], methods.join(','));
      assert.equal(evaluateLogin(s, password(['pwd', 'email'])), null, `${methods.join(',')}: the e-mailed code is the second factor`);
    }
    // Where e-mail codes are not allowed, an e-mailed code (the proof of the address) is not a second factor.
    const totpOnly = base();
    totpOnly.org.requireMfa = true;
    totpOnly.org.mfaMethods = ['totp'];
    assert.equal(stepOf(evaluateLogin(totpOnly, password(['pwd', 'email']))), 'enrol_totp');
    totpOnly.account.hasTotp = true;
    assert.equal(stepOf(evaluateLogin(totpOnly, password(['pwd', 'email']))), 'second_factor');
    assert.deepEqual(secondFactorMethods(totpOnly), ['totp']);
    // Not required, no TOTP: nothing is asked, whatever is allowed.
    const optional = base();
    assert.equal(evaluateLogin(optional, password()), null);
    optional.account.hasTotp = true;
    assert.deepEqual(secondFactorMethods(optional), ['totp', 'email'], 'an enrolled TOTP, and the e-mail code the organisation allows');
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

  it('order: among denials, membership first, then the way of signing in, then the credential, then MFA that cannot be met', () => {
    const all = base();
    // Every denial's situation at once (the membership's last: there is none), and every step's that can hold with them.
    for (const s of situations.filter((x) => isDeny(checkNamed(x.check))).reverse()) s.apply(all);
    all.account.passwordSetByOrgId = OTHER_ORG;
    all.account.emailVerified = false;
    const expected = ['not_a_member', 'member_deactivated', 'provider_not_allowed', 'temporary_password_expired', 'mfa_method_not_available'];
    for (const name of expected) {
      assert.equal(evaluateLogin(all, password())?.name, name);
      // Clear this denial's situation and look at the next.
      if (name === 'not_a_member') all.membership = { id: 'm', status: 'deactivated', role: 'member' };
      if (name === 'member_deactivated') all.membership!.status = 'active';
      if (name === 'provider_not_allowed') all.org.loginProviders = ['password'];
      if (name === 'temporary_password_expired') all.account.temporaryPasswordExpiresAt = new Date(NOW.getTime() + HOUR);
      if (name === 'mfa_method_not_available') all.org.mfaMethods = ['totp'];
    }
    // Then the steps, in turn.
    assert.equal(stepOf(evaluateLogin(all, password())), 'verify_email');
    assert.equal(stepOf(evaluateLogin(all, password(['pwd', 'email']))), 'change_password');
    all.account.mustChangePassword = false;
    assert.equal(stepOf(evaluateLogin(all, password(['pwd', 'email']))), 'enrol_totp');
  });

  it('order: among steps, the proof of the address first (for a password of another organisation), then the temporary password, then the second factor, then enrolment', () => {
    const s = base();
    s.account.passwordSetByOrgId = OTHER_ORG; // B's temporary password, at A
    s.account.mustChangePassword = true;
    s.account.temporaryPasswordExpiresAt = new Date(NOW.getTime() + HOUR);
    s.account.hasTotp = true;
    s.org.requireMfa = true;
    assert.equal(stepOf(evaluateLogin(s, password())), 'verify_email');
    assert.equal(stepOf(evaluateLogin(s, password(['pwd', 'email']))), 'change_password');
    s.account.mustChangePassword = false;
    s.org.mfaMethods = ['totp'];
    assert.equal(stepOf(evaluateLogin(s, password(['pwd', 'email']))), 'second_factor', 'the enrolled TOTP: the e-mailed code is not a second factor here');
    assert.equal(evaluateLogin(s, password(['pwd', 'email', 'otp'])), null);
    s.account.hasTotp = false;
    assert.equal(stepOf(evaluateLogin(s, password(['pwd', 'email']))), 'enrol_totp');
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
    enrol.org.mfaMethods = ['totp'];
    assert.equal(stepOf(evaluateLogin(enrol, password())), 'change_password');
    const byEmail = base();
    byEmail.account.mustChangePassword = true;
    byEmail.org.requireMfa = true;
    byEmail.org.mfaMethods = ['email'];
    assert.equal(stepOf(evaluateLogin(byEmail, password())), 'change_password');
    // Once changed (the flag cleared), the next steps follow in turn.
    withTotp.account.mustChangePassword = false;
    assert.equal(stepOf(evaluateLogin(withTotp, password())), 'second_factor');
    enrol.account.mustChangePassword = false;
    assert.equal(stepOf(evaluateLogin(enrol, password())), 'enrol_totp');
    byEmail.account.mustChangePassword = false;
    assert.equal(stepOf(evaluateLogin(byEmail, password())), 'second_factor');
  });

  it('takes a list of checks: a new rule is one more check, asked in its place', () => {
    const extra: LoginCheck = { name: 'weekend', description: 'no sign-in on test days', outcome: { step: 'second_factor' }, fails: () => true };
    assert.equal(evaluateLogin(base(), password(), [extra]), extra);
    assert.equal(evaluateLogin(situated(situations[0]), password(), [...loginChecks, extra])?.name, 'not_a_member');
    assert.equal(evaluateLogin(base(), password(), [...loginChecks, extra]), extra);
  });
});

describe('directory: which password opens which organisation (passwordOpensOrg)', () => {
  it("the organisation that set it, or nobody (the person's own, through the e-mailed link) once the address is verified; never another organisation's", () => {
    const cases: [string | null, boolean, boolean, string][] = [
      [ORG, false, true, 'set by this organisation, address not verified'],
      [ORG, true, true, 'set by this organisation, address verified'],
      [OTHER_ORG, false, false, 'set by another organisation, address not verified'],
      [OTHER_ORG, true, false, 'set by another organisation, address verified (the attack: set a password after the person verified)'],
      [null, true, true, "the person's own, address verified"],
      [null, false, false, "the person's own, address not verified"],
    ];
    for (const [setBy, verified, opens, what] of cases) {
      assert.equal(passwordOpensOrg({ password_set_by_org_id: setBy, email_verified: verified }, ORG), opens, what);
    }
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
    assert.deepEqual(amrOf(['email']), ['otp'], 'an e-mailed code is a one-time password');
    assert.deepEqual(amrOf(['pwd', 'email']), ['pwd', 'otp', 'mfa']);
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
