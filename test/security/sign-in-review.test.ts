// Adversarial: what the security review of the sign-in found, each shown closed, through the pages as a
// browser walks them (with a real openid-client as the application) and on the directory underneath.
// - An e-mailed code as the second factor: wrong codes, five tries, the resend limit (also under a burst of
//   requests at once), single use, expiry.
// - "Forgot your password?": the same page for any address, a single-use link of one hour (one a minute, also
//   under a burst), every session ended, and a password that is then the person's own (it opens every
//   organisation they belong to).
// - The second-factor page offers every factor the policy accepts (no dead end).
// - The step gate: a form of another step (enrol a TOTP while the second factor is asked, change an expired
//   temporary password at its denial) changes nothing.
// - Throttling: every attempt counts before it is checked (concurrent guesses cannot slip past), per
//   account whatever the spelling of the address, and per network.
// - Sessions: one live session per browser and organisation (a new sign-in supersedes the old, and takes its
//   grants); an organisation that begins to require MFA sends an existing session back through sign-in.
// - Tokens are stored as hashes; X-Forwarded-* from callers nobody trusts are ignored; a native app's
//   redirect URI works.
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { generate } from 'otplib';
import { formActions, headingOf, type PageResult } from '../../conformance/oidc/browser.ts';
import { createClient } from '../../src/directory/clients.ts';
import { Conflict, DirectoryError } from '../../src/directory/errors.ts';
import { ACR_MFA } from '../../src/directory/login-policy.ts';
import { confirmTotpEnrolment, startTotpEnrolment } from '../../src/directory/mfa.ts';
import { createSealer } from '../../src/directory/sealing.ts';
import { revokeSession } from '../../src/directory/sessions.ts';
import { changePassword } from '../../src/directory/sign-in.ts';
import { createPasswordHasher } from '../../src/directory/passwords.ts';
import { createThrottle, ipNetwork, throttleSubject } from '../../src/directory/throttle.ts';
import { hashSecret } from '../../src/directory/tokens.ts';
import { createUser, newOrg, TEST_SECRET as SECRET, type TestOrg, unique } from '../helpers.ts';
import { testDb } from '../setup.ts';
import {
  accountOf, actor, type App, authorize, codeIn, codeReached, countingHasher, csrfOf, eventsOf, interactionPayload, latestCodeTo, mailTo, normalised, otherCode,
  passwordSignIn, randomIp, registerApp, resetLinkIn, sessionsOf, type Srv, startServer, stopServer, TestBrowser, toApp, uidOf,
} from './sign-in-support.ts';

const sealer = createSealer(SECRET);
/** The path of each form action inside the interaction ('/email-code/send'), or the action itself elsewhere. */
const actionsOf = (p: PageResult) => formActions(p.html).map((a) => a.replace(/^.*\/oidc\/interaction\/[^/]+/, ''));
/** The interaction page's URL (no trailing slash) and a CSRF field for hand-made POSTs to it. */
const handle = (p: PageResult) => ({ base: new URL(`/oidc/interaction/${uidOf(p)}`, p.url).toString(), token: `_csrf=${encodeURIComponent(csrfOf(p))}` });
const invalidGrant = (err: unknown) => (err as { error?: string }).error === 'invalid_grant';

/** A member of `org` with a password the organisation set over SCIM (so it opens this organisation's applications). */
async function member(org: TestOrg, password = 'a password of this organisation 1') {
  const email = `${unique('person-')}@example.test`;
  const user = await createUser(org.scim, email, { password });
  return { email, password, userId: user.id, accountId: (await accountOf(email)).id as string };
}

/** A confirmed TOTP factor for the account (as an enrolment through the pages leaves), with its secret. */
async function enrolTotp(accountId: string, orgId: string): Promise<string> {
  const { secret } = await startTotpEnrolment(testDb(), sealer, { accountId, label: 'test', issuer: 'roster.test' });
  await confirmTotpEnrolment(testDb(), sealer, { accountId, orgId, code: await generate({ secret, epoch: Math.floor(Date.now() / 1000) - 30 }) });
  return secret;
}

describe('security review: the sign-in', function () {
  this.timeout(60_000);
  let srv: Srv;
  before(async () => { srv = await startServer(); });
  after(async () => { await stopServer(srv); });

  describe("an e-mailed code as the second factor (require_mfa, mfa_methods '{email}')", () => {
    async function setup() {
      const org = await newOrg();
      await testDb()('organizations').where({ id: org.org.id }).update({ require_mfa: true, mfa_methods: testDb().raw("'{email}'::text[]") });
      return { org, app: await registerApp(srv, org), person: await member(org) };
    }

    it('wrong codes get 401; five wrong tries kill the code (the right one then fails too); a new code at most every 30 s (429, Retry-After); the right new code signs in with amr pwd, otp, mfa', async () => {
      const { org, app, person } = await setup();
      const browser = new TestBrowser();
      const { page, finish } = await passwordSignIn(app, browser, person.email, person.password);
      assert.equal(page.status, 200, page.html.slice(0, 300));
      assert.equal(headingOf(page.html), 'Two-step verification');
      assert.deepEqual(actionsOf(page), ['/email-code/send'], 'only the e-mailed code is offered (no TOTP to enrol or give)');
      assert.ok(page.html.includes(`E-mail a code to ${person.email}`));
      assert.deepEqual(await mailTo(person.email), []);

      let p = await browser.submit(page, '/email-code/send');
      assert.equal(headingOf(p.html), 'Two-step verification');
      assert.match(p.html, /We sent a 6-digit code to/);
      const mails = await mailTo(person.email);
      assert.equal(mails.length, 1);
      assert.ok(mails[0].subject.includes(org.org.name), mails[0].subject);
      const first = codeIn(mails[0]);
      assert.match(first, /^\d{6}$/);

      p = await browser.submit(p, '/email-code', { email_code: otherCode(first) });
      assert.equal(p.status, 401);
      assert.equal(headingOf(p.html), 'Two-step verification');
      assert.match(p.html, /role="alert"/);

      // Another code at once: refused, nothing sent.
      const resend = await browser.submit(p, '/email-code/send');
      assert.equal(resend.status, 429, resend.html.slice(0, 300));
      const retryAfter = Number(resend.headers.get('retry-after'));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 30, `Retry-After: ${resend.headers.get('retry-after')}`);
      assert.equal((await mailTo(person.email)).length, 1);

      // Four more wrong codes: five in all. The right code is then refused: the code is dead.
      p = resend;
      for (let i = 2; i <= 5; i++) {
        p = await browser.submit(p, '/email-code', { email_code: otherCode(first, i) });
        assert.equal(p.status, 401, `wrong code ${i}`);
      }
      p = await browser.submit(p, '/email-code', { email_code: first }, toApp(app));
      assert.equal(p.status, 401, 'the right code after five wrong tries');
      assert.equal(codeReached(app, browser), false);
      assert.deepEqual(await sessionsOf(org.org.id, person.accountId), []);

      // 30 seconds later (the code's row made older): a new code, and it works.
      await testDb()('email_challenges').where({ account_id: person.accountId }).update({ created_at: testDb().raw("now() - interval '31 seconds'") });
      p = await browser.submit(p, '/email-code/send');
      assert.equal(headingOf(p.html), 'Two-step verification', `${p.status}`);
      const second = await latestCodeTo(person.email);
      assert.equal((await mailTo(person.email)).length, 2);
      p = await browser.submit(p, '/email-code', { email_code: second }, toApp(app));
      assert.ok(p.location?.startsWith(app.redirect), `${p.status} ${p.html.slice(0, 300)}`);
      const claims = (await finish(p.location!)).claims()!;
      assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
      assert.equal(claims.acr, ACR_MFA);
      const [session] = await sessionsOf(org.org.id, person.accountId);
      assert.deepEqual(session.factors, ['pwd', 'email']);

      const mfaEvents = (await eventsOf(org.org.id)).filter((e) => e.type === 'mfa_verification' && e.account_id === person.accountId);
      assert.deepEqual(mfaEvents.map((e) => [e.outcome, e.reason]), [...Array(6).fill(['failure', 'mfa_failed']), ['success', null]]);
      // The code is stored only as a keyed hash.
      const rows = JSON.stringify(await testDb()('email_challenges').where({ account_id: person.accountId }));
      assert.ok(!rows.includes(first) && !rows.includes(second), 'codes are not stored in clear');
    });

    it('a new code at most every 30 s, also when many are asked for at once: one e-mail and one live code each time, the other requests 429', async () => {
      const { app, person } = await setup();
      const browser = new TestBrowser();
      const { page } = await passwordSignIn(app, browser, person.email, person.password);
      assert.equal(headingOf(page.html), 'Two-step verification');
      const { base, token } = handle(page);
      const rounds: string[] = [];
      for (let round = 1; round <= 3; round++) {
        // 30 seconds on (the earlier codes made older), 20 requests at once.
        await testDb()('email_challenges').where({ account_id: person.accountId }).update({ created_at: testDb().raw("now() - interval '31 seconds'") });
        const mailsBefore = (await mailTo(person.email)).length;
        const answers = await Promise.all(Array.from({ length: 20 }, () => browser.post(`${base}/email-code/send`, token)));
        const sent = answers.filter((a) => a.status === 303).length;
        const refused = answers.filter((a) => a.status === 429).length;
        const mails = (await mailTo(person.email)).length - mailsBefore;
        const live = (await testDb()('email_challenges').where({ account_id: person.accountId, purpose: 'sign_in' }).whereNull('consumed_at')).length;
        rounds.push(`round ${round}: ${sent} sent, ${refused} refused, ${mails} e-mails, ${live} live codes`);
      }
      assert.deepEqual(rounds, [1, 2, 3].map((round) => `round ${round}: 1 sent, 19 refused, 1 e-mails, 1 live codes`));
    });

    it('a code works once, and for 10 minutes only', async () => {
      const { app, person } = await setup();
      const one = new TestBrowser();
      let p = (await passwordSignIn(app, one, person.email, person.password)).page;
      p = await one.submit(p, '/email-code/send');
      const code = await latestCodeTo(person.email);
      p = await one.submit(p, '/email-code', { email_code: code }, toApp(app));
      assert.ok(p.location?.startsWith(app.redirect), `${p.status} ${p.html.slice(0, 300)}`);

      // The same code at another sign-in: refused.
      const two = new TestBrowser();
      p = (await passwordSignIn(app, two, person.email, person.password)).page;
      const { base, token } = handle(p);
      const replay = await two.post(`${base}/email-code`, `${token}&email_code=${code}`);
      assert.equal(replay.status, 401);

      // A new code past its ten minutes: refused.
      await testDb()('email_challenges').where({ account_id: person.accountId }).update({ created_at: testDb().raw("now() - interval '31 seconds'") });
      p = await two.submit(p, '/email-code/send');
      const late = await latestCodeTo(person.email);
      assert.notEqual(late, code);
      const [challenge] = await testDb()('email_challenges').where({ account_id: person.accountId, purpose: 'sign_in' }).whereNull('consumed_at');
      assert.ok(Math.abs(new Date(challenge.expires_at).getTime() - new Date(challenge.created_at).getTime() - 10 * 60_000) < 2000, 'ten minutes');
      await testDb()('email_challenges').where({ id: challenge.id }).update({ expires_at: testDb().raw("now() - interval '1 second'") });
      p = await two.submit(p, '/email-code', { email_code: late }, toApp(app));
      assert.equal(p.status, 401);
      assert.equal(codeReached(app, two), false);
    });
  });

  describe('"Forgot your password?"', () => {
    it('the same "Check your e-mail" page for any address; the link sets a password (NIST rules) once, within an hour, ends every session, verifies the address, and makes the password the person\'s own (it opens their other organisation without a code)', async () => {
      const x = await newOrg();
      const y = await newOrg();
      const person = await member(x);
      await createUser(y.scim, person.email); // Y links the same person: X's password does not open Y by itself
      const appX = await registerApp(srv, x);
      const appY = await registerApp(srv, y);

      // A live session in X, with a refresh token.
      const before = await passwordSignIn(appX, new TestBrowser(), person.email, person.password);
      assert.ok(before.page.location?.startsWith(appX.redirect));
      const tokens = await before.finish(before.page.location!);

      // "Forgot your password?" for the person and for an address nobody has: the same page.
      const forgot = async (email: string) => {
        const browser = new TestBrowser();
        const { page } = await authorize(appX, browser);
        const pw = await browser.submit(page, '/email', { email });
        assert.ok(actionsOf(pw).includes('/forgot'), 'the password page offers "Forgot your password?"');
        return browser.submit(pw, '/forgot');
      };
      const nobody = `${unique('nobody-')}@example.test`;
      const known = await forgot(person.email);
      const unknown = await forgot(nobody);
      assert.equal(known.status, 200);
      assert.equal(unknown.status, known.status);
      assert.equal(headingOf(known.html), 'Check your e-mail');
      assert.equal(normalised(unknown.html, [nobody]), normalised(known.html, [person.email]));
      assert.deepEqual(await mailTo(nobody), []);
      const mails = await mailTo(person.email);
      assert.equal(mails.length, 1);
      const link = resetLinkIn(mails[0]);
      assert.ok(link.startsWith(`${srv.issuer}/account/reset-password?token=`), link);
      const token = new URL(link).searchParams.get('token')!;
      assert.ok(!JSON.stringify(await testDb()('email_challenges').where({ account_id: person.accountId })).includes(token), 'the token is stored only as a hash');

      // The link's form; a password the rules refuse keeps the link alive.
      const browser = new TestBrowser();
      let form = await browser.go(link);
      assert.equal(form.status, 200);
      assert.equal(headingOf(form.html), 'Choose a new password');
      const weak = await browser.submit(form, '/account/reset-password', { password: 'password123' });
      assert.equal(weak.status, 422);
      assert.equal(headingOf(weak.html), 'Choose a new password');
      form = weak;
      const chosen = 'my very own passphrase, chosen by me';
      const done = await browser.submit(form, '/account/reset-password', { password: chosen });
      assert.equal(done.status, 200, done.html.slice(0, 300));
      assert.equal(headingOf(done.html), 'Your password is changed');

      const account = await accountOf(person.email);
      assert.equal(account.email_verified, true);
      assert.equal(account.password_set_by_org_id, null, "the password is the person's own");
      assert.equal(account.must_change_password, false);
      const [old] = await sessionsOf(x.org.id, person.accountId);
      assert.equal(old.revoked_reason, 'password_changed');
      await assert.rejects(client.refreshTokenGrant(appX.config, tokens.refresh_token!), invalidGrant);
      assert.deepEqual((await eventsOf(x.org.id)).filter((e) => e.type === 'password_changed').map((e) => [e.outcome, e.reason]), [['success', 'password_reset']]);

      // Once only: the link is dead after use (the page, and its form again).
      for (const res of [await browser.go(link), await browser.submit(form, '/account/reset-password', { password: 'another passphrase for the link' })]) {
        assert.equal(res.status, 400);
        assert.equal(headingOf(res.html), 'This link no longer works');
      }
      // A made-up token, and a malformed one.
      for (const bad of [`${srv.issuer}/account/reset-password?token=${'A'.repeat(43)}`, `${srv.issuer}/account/reset-password?token=garbage`, `${srv.issuer}/account/reset-password`]) {
        const res = await new TestBrowser().go(bad);
        assert.equal(res.status, 400, bad);
        assert.equal(headingOf(res.html), 'This link no longer works', bad);
      }

      // The old password no longer works; the new one opens X, and Y too without a code (the person's own, the address verified).
      const oldTry = await passwordSignIn(appX, new TestBrowser(), person.email, person.password);
      assert.equal(oldTry.page.status, 401);
      const inY = await passwordSignIn(appY, new TestBrowser(), person.email, chosen);
      assert.ok(inY.page.location?.startsWith(appY.redirect), `${inY.page.status} ${headingOf(inY.page.html)}`);
      assert.equal((await inY.finish(inY.page.location!)).claims()!.org_id, y.org.id);
    });

    it('"Forgot your password?" asked for many times at once sends one link (at most one a minute)', async () => {
      const org = await newOrg();
      const app = await registerApp(srv, org);
      const person = await member(org);
      const pages = await Promise.all(Array.from({ length: 10 }, async () => {
        const browser = new TestBrowser();
        const { page } = await authorize(app, browser);
        return { browser, pw: await browser.submit(page, '/email', { email: person.email }) };
      }));
      const answers = await Promise.all(pages.map(({ browser, pw }) => browser.submit(pw, '/forgot')));
      assert.deepEqual([...new Set(answers.map((a) => headingOf(a.html)))], ['Check your e-mail']);
      assert.equal((await mailTo(person.email)).length, 1);
      assert.equal((await testDb()('email_challenges').where({ account_id: person.accountId, purpose: 'password_reset' }).whereNull('consumed_at')).length, 1);
    });

    it('an address the directory accepts but mail cannot carry (a comma): "Forgot your password?" answers the same page as for anyone, and sends nothing', async () => {
      const x = await newOrg();
      const odd = `${unique('a')},b@example.test`;
      const created = await x.scim.post('/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: odd, password: 'a password of this organisation 1' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const appX = await registerApp(srv, x);
      const browser = new TestBrowser();
      const { page } = await authorize(appX, browser);
      const pw = await browser.submit(page, '/email', { email: odd });
      const answer = await browser.submit(pw, '/forgot');
      assert.equal(answer.status, 200, answer.html.slice(0, 300));
      assert.equal(headingOf(answer.html), 'Check your e-mail');
      assert.deepEqual(await mailTo(odd), []);
    });

    it('a link past its hour no longer works', async () => {
      const x = await newOrg();
      const person = await member(x);
      const appX = await registerApp(srv, x);
      const browser = new TestBrowser();
      const { page } = await authorize(appX, browser);
      const pw = await browser.submit(page, '/email', { email: person.email });
      await browser.submit(pw, '/forgot');
      const link = resetLinkIn((await mailTo(person.email))[0]);
      const form = await browser.go(link);
      assert.equal(headingOf(form.html), 'Choose a new password');
      const [challenge] = await testDb()('email_challenges').where({ account_id: person.accountId, purpose: 'password_reset' });
      assert.ok(Math.abs(new Date(challenge.expires_at).getTime() - new Date(challenge.created_at).getTime() - 3600_000) < 2000, 'one hour');
      await testDb()('email_challenges').where({ id: challenge.id }).update({ expires_at: testDb().raw("now() - interval '1 second'") });
      for (const res of [await browser.go(link), await browser.submit(form, '/account/reset-password', { password: 'a passphrase too late for it' })]) {
        assert.equal(res.status, 400);
        assert.equal(headingOf(res.html), 'This link no longer works');
      }
      assert.equal((await accountOf(person.email)).password_set_by_org_id, x.org.id, 'nothing changed');
    });
  });

  describe('the step gate: a form of another step changes nothing', () => {
    it('posting /totp-enrol while the second factor is asked gives no new secret and does not replace the factor (the review\'s first attack)', async () => {
      const org = await newOrg();
      await testDb()('organizations').where({ id: org.org.id }).update({ require_mfa: true, mfa_methods: testDb().raw("'{totp}'::text[]") });
      const app = await registerApp(srv, org);
      const person = await member(org);
      await enrolTotp(person.accountId, org.org.id);
      const factorsBefore = await testDb()('mfa_factors').where({ account_id: person.accountId }).orderBy('id');
      const codesBefore = await testDb()('recovery_codes').where({ account_id: person.accountId }).orderBy('code_hash');
      assert.equal(factorsBefore.length, 1);

      // The attacker has the password, not the phone.
      const attacker = new TestBrowser();
      const { page } = await passwordSignIn(app, attacker, person.email, person.password);
      assert.equal(headingOf(page.html), 'Two-step verification');
      const { base, token } = handle(page);
      for (const code of ['123456', await generate({ secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP' })]) {
        const res = await attacker.post(`${base}/totp-enrol`, `${token}&code=${code}`);
        assert.equal(res.status, 303, `${res.status} ${res.html.slice(0, 300)}`);
        assert.equal(res.location, base);
      }
      const after = await attacker.go(base, toApp(app));
      assert.equal(headingOf(after.html), 'Two-step verification');
      for (const r of attacker.responses) {
        assert.doesNotMatch(r.html, /totp-secret|otpauth:|Save your recovery codes/, `a secret or recovery codes shown at ${r.url}`);
      }
      assert.deepEqual(await testDb()('mfa_factors').where({ account_id: person.accountId }).orderBy('id'), factorsBefore, 'the factor is the same, and no enrolment was started');
      assert.deepEqual(await testDb()('recovery_codes').where({ account_id: person.accountId }).orderBy('code_hash'), codesBefore);
      assert.equal(codeReached(app, attacker), false);
      assert.deepEqual(await sessionsOf(org.org.id, person.accountId), []);
    });

    it('posting /change-password at the denial of an expired temporary password does not sign in nor change the password (the review\'s second attack)', async () => {
      const org = await newOrg();
      const app = await registerApp(srv, org);
      await testDb()('accounts').where({ id: org.owner.accountId }).update({ temporary_password_expires_at: testDb().raw("now() - interval '1 hour'") });
      const accountBefore = await testDb()('accounts').where({ id: org.owner.accountId }).first();

      const browser = new TestBrowser();
      const { page } = await passwordSignIn(app, browser, org.owner.email, org.owner.temporaryPassword!);
      assert.equal(page.status, 403);
      assert.equal(headingOf(page.html), 'You cannot sign in here');
      const { base, token } = handle(page);
      const chosen = 'an attacker chosen passphrase 42';
      const res = await browser.post(`${base}/change-password`, `${token}&password=${encodeURIComponent(chosen)}`);
      assert.equal(res.status, 303, `${res.status} ${res.html.slice(0, 300)}`);
      assert.equal(res.location, base);
      const again = await browser.go(base, toApp(app));
      assert.equal(headingOf(again.html), 'You cannot sign in here');
      assert.deepEqual(await testDb()('accounts').where({ id: org.owner.accountId }).first(), accountBefore, 'the account is unchanged');
      assert.equal(codeReached(app, browser), false);
      assert.deepEqual(await sessionsOf(org.org.id, org.owner.accountId), []);
      assert.deepEqual((await eventsOf(org.org.id)).filter((e) => e.account_id === org.owner.accountId).map((e) => [e.type, e.outcome, e.reason]), [
        ['sign_in', 'failure', 'temporary_password_expired'],
      ]);
      // Nor does the chosen password work afterwards.
      const later = await passwordSignIn(app, new TestBrowser(), org.owner.email, chosen);
      assert.equal(later.page.status, 401);

      // Underneath too: the forced change replaces only a live temporary password.
      await assert.rejects(
        changePassword(testDb(), createPasswordHasher(), { forced: true, accountId: org.owner.accountId, orgId: org.org.id, newPassword: chosen }),
        (err: unknown) => err instanceof DirectoryError && err.rule === 'not_temporary',
      );
    });

    it('the other steps\' forms at each stage: 303 back to the page, nothing changed (no code sent at a denial, no identity switched after the password)', async () => {
      const org = await newOrg();
      await testDb()('organizations').where({ id: org.org.id }).update({ require_mfa: true, mfa_methods: testDb().raw("'{totp}'::text[]") });
      const app = await registerApp(srv, org);
      const person = await member(org);
      const other = await member(org, 'another member password 2');

      // At the change of a temporary password (the owner's first sign-in).
      const owner = new TestBrowser();
      const { page: change } = await passwordSignIn(app, owner, org.owner.email, org.owner.temporaryPassword!);
      assert.equal(headingOf(change.html), 'Choose a new password');
      let h = handle(change);
      for (const [action, fields] of [['/totp', 'code=123456'], ['/recovery', 'recovery_code=abcde-fghjk'], ['/totp-enrol', 'code=123456'], ['/email-code/send', ''], ['/email-code', 'email_code=123456']] as const) {
        const res = await owner.post(`${h.base}${action}`, `${h.token}&${fields}`);
        assert.equal(res.status, 303, `${action} at change_password: ${res.status}`);
      }
      assert.equal(headingOf((await owner.go(h.base)).html), 'Choose a new password');
      assert.deepEqual(await testDb()('mfa_factors').where({ account_id: org.owner.accountId }), [], 'no enrolment started before the password is changed');
      assert.deepEqual(await mailTo(org.owner.email), []);

      // At the enrolment: no second factor or password change by another form.
      const enrolling = new TestBrowser();
      const { page: enrol } = await passwordSignIn(app, enrolling, person.email, person.password);
      assert.equal(headingOf(enrol.html), 'Set up an authenticator app');
      h = handle(enrol);
      for (const [action, fields] of [['/totp', 'code=123456'], ['/change-password', 'password=a%20fresh%20passphrase%2077'], ['/email-code/send', ''], ['/email', `email=${encodeURIComponent(other.email)}`], ['/password', `password=${encodeURIComponent(other.password)}`]] as const) {
        const res = await enrolling.post(`${h.base}${action}`, `${h.token}&${fields}`);
        assert.equal(res.status, 303, `${action} at enrol_totp: ${res.status}`);
      }
      const still = await enrolling.go(h.base);
      assert.equal(headingOf(still.html), 'Set up an authenticator app');
      const pending = (await interactionPayload(uidOf(enrol)))!.payload as { result?: { roster?: { accountId?: string; email?: string } } };
      assert.equal(pending.result?.roster?.accountId, person.accountId, 'still the same person');
      assert.equal(pending.result?.roster?.email, person.email);
      assert.deepEqual(await mailTo(person.email), []);
      assert.equal(codeReached(app, enrolling), false);
    });
  });

  describe('the second-factor page offers what the policy asks for', () => {
    it("a person with an enrolled TOTP where the organisation allows neither 'totp' nor 'email' (only 'sms'): the second factor is asked (no denial), so the page must offer a way to give it", async () => {
      const org = await newOrg();
      const app = await registerApp(srv, org);
      const person = await member(org);
      const secret = await enrolTotp(person.accountId, org.org.id);
      await testDb()('organizations').where({ id: org.org.id }).update({ require_mfa: true, mfa_methods: testDb().raw("'{sms}'::text[]") });
      const browser = new TestBrowser();
      const { page, finish } = await passwordSignIn(app, browser, person.email, person.password);
      assert.equal(headingOf(page.html), 'Two-step verification', `${page.status}`);
      assert.ok(actionsOf(page).includes('/totp'), `a dead end: the page offers ${JSON.stringify(actionsOf(page))}`);
      const done = await browser.submit(page, '/totp', { code: await generate({ secret }) }, toApp(app));
      assert.ok(done.location?.startsWith(app.redirect), `${done.status} ${headingOf(done.html)}`);
      assert.deepEqual((await finish(done.location!)).claims()!.amr, ['pwd', 'otp', 'mfa']);
    });
  });

  describe('sessions', () => {
    it('signing in again in the same browser (prompt=login) supersedes the session of that organisation, which hands over its grants: revoking the new one ends every token that browser holds there', async () => {
      const org = await newOrg();
      const app1 = await registerApp(srv, org);
      const app2 = await registerApp(srv, org);
      const person = await member(org);
      const browser = new TestBrowser();

      const first = await passwordSignIn(app1, browser, person.email, person.password);
      assert.ok(first.page.location?.startsWith(app1.redirect));
      const tokens1 = await first.finish(first.page.location!);
      const [s1] = await sessionsOf(org.org.id, person.accountId);

      // Without prompt=login the second application needs no sign-in; with it, the person signs in again.
      const second = await passwordSignIn(app2, browser, person.email, person.password, { prompt: 'login' });
      assert.ok(second.page.location?.startsWith(app2.redirect), `${second.page.status} ${headingOf(second.page.html)}`);
      const tokens2 = await second.finish(second.page.location!);

      const rows = await sessionsOf(org.org.id, person.accountId);
      assert.equal(rows.length, 2);
      const old = rows.find((r) => r.id === s1.id)!;
      const current = rows.find((r) => r.id !== s1.id)!;
      assert.equal(old.revoked_reason, 'superseded');
      assert.equal(old.revoked_by, `user:${person.accountId}`);
      assert.equal(current.revoked_at, null);
      assert.equal(current.oidc_session_uid, old.oidc_session_uid, 'one browser');
      const grantsOf = (sessionId: string) => testDb()('session_grants').where({ org_id: org.org.id, session_id: sessionId }).pluck('grant_id');
      const oldGrants = await grantsOf(old.id);
      assert.ok(oldGrants.length >= 1);
      const currentGrants = await grantsOf(current.id);
      for (const g of oldGrants) assert.ok(currentGrants.includes(g), 'the new session holds the old one\'s grants');

      // Superseding ends nothing by itself: app1's tokens still work.
      const refreshed1 = await client.refreshTokenGrant(app1.config, tokens1.refresh_token!);
      assert.ok(refreshed1.access_token);

      // Revoking the live session reaches both applications' tokens.
      await revokeSession(testDb(), { orgId: org.org.id, sessionId: current.id, by: actor });
      await assert.rejects(client.refreshTokenGrant(app1.config, refreshed1.refresh_token!), invalidGrant);
      await assert.rejects(client.refreshTokenGrant(app2.config, tokens2.refresh_token!), invalidGrant);
      const again = await authorize(app1, browser);
      assert.equal(headingOf(again.page.html), 'Sign in', 'the browser signs in again');
    });

    it("an organisation that begins to require MFA sends an existing session back through sign-in (the session's factors no longer meet its policy)", async () => {
      const org = await newOrg();
      const app = await registerApp(srv, org);
      const person = await member(org);
      const browser = new TestBrowser();
      const first = await passwordSignIn(app, browser, person.email, person.password);
      assert.ok(first.page.location?.startsWith(app.redirect));
      await first.finish(first.page.location!);

      // While the policy holds, the live session serves the next authorization without a page.
      const quiet = await authorize(app, browser);
      assert.ok(quiet.page.location?.startsWith(app.redirect), `${quiet.page.status} ${headingOf(quiet.page.html)}`);
      await quiet.finish(quiet.page.location!);

      await testDb()('organizations').where({ id: org.org.id }).update({ require_mfa: true, mfa_methods: testDb().raw("'{email}'::text[]") });
      const { page, finish } = await authorize(app, browser);
      assert.equal(headingOf(page.html), 'Sign in', `${page.status} ${page.location}`);
      let p = await browser.submit(page, '/email', { email: person.email });
      p = await browser.submit(p, '/password', { password: person.password });
      assert.equal(headingOf(p.html), 'Two-step verification');
      p = await browser.submit(p, '/email-code/send');
      p = await browser.submit(p, '/email-code', { email_code: await latestCodeTo(person.email) }, toApp(app));
      assert.ok(p.location?.startsWith(app.redirect), `${p.status} ${p.html.slice(0, 300)}`);
      assert.deepEqual((await finish(p.location!)).claims()!.amr, ['pwd', 'otp', 'mfa']);
      const rows = await sessionsOf(org.org.id, person.accountId);
      assert.deepEqual(rows.map((r) => [r.factors, r.revoked_reason]), [[['pwd'], 'superseded'], [['pwd', 'email'], null]]);

      // The new session meets the policy: no page again.
      const after = await authorize(app, browser);
      assert.ok(after.page.location?.startsWith(app.redirect), `${after.page.status} ${headingOf(after.page.html)}`);
    });
  });

  describe('tokens at rest', () => {
    it('access and refresh tokens, codes and client-credentials tokens are stored as sha256:<hex> ids, with no jti in the payload; they still work', async () => {
      const org = await newOrg();
      const app = await registerApp(srv, org);
      const person = await member(org);
      const { page, finish } = await passwordSignIn(app, new TestBrowser(), person.email, person.password);
      assert.ok(page.location?.startsWith(app.redirect));
      const code = new URL(page.location!).searchParams.get('code')!;
      const tokens = await finish(page.location!);
      const refreshed = await client.refreshTokenGrant(app.config, tokens.refresh_token!);
      const machine = await client.clientCredentialsGrant(app.config);

      const secrets: [string, string, string][] = [
        ['AuthorizationCode', 'code', code],
        ['AccessToken', 'access token', tokens.access_token], ['RefreshToken', 'refresh token', tokens.refresh_token!],
        ['AccessToken', 'refreshed access token', refreshed.access_token], ['RefreshToken', 'rotated refresh token', refreshed.refresh_token!],
        ['ClientCredentials', 'client-credentials token', machine.access_token],
      ];
      for (const [model, what, secret] of secrets) {
        const row = await testDb()('oidc_payloads').where({ model, id: `sha256:${hashSecret(secret)}` }).first();
        assert.ok(row, `${what}: stored under sha256:<hex>`);
        const payload = typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload;
        assert.equal('jti' in payload, false, `${what}: no jti in the payload`);
        const [{ n }] = await testDb()('oidc_payloads').whereRaw('oidc_payloads::text like ?', [`%${secret}%`]).count({ n: '*' });
        assert.equal(Number(n), 0, `${what}: found in clear`);
      }
      // Every token this client holds, the rotated and consumed ones too.
      const ids: string[] = await testDb()('oidc_payloads').whereIn('model', ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'ClientCredentials'])
        .whereRaw("payload->>'clientId' = ?", [app.clientId]).pluck('id');
      assert.ok(ids.length >= secrets.length, `${ids.length} rows`);
      for (const id of ids) assert.match(id, /^sha256:[0-9a-f]{64}$/);

      // Found through their hashes: userinfo with the refreshed access token, introspection of the machine token.
      const info = await client.fetchUserInfo(app.config, refreshed.access_token, person.accountId);
      assert.equal(info.email, person.email);
      const introspected = await client.tokenIntrospection(app.config, machine.access_token);
      assert.equal(introspected.active, true);
    });
  });

  describe('forwarded headers', () => {
    let untrusted: Srv;
    before(async () => { untrusted = await startServer({ trustProxy: false }); });
    after(async () => { await stopServer(untrusted); });

    const forged = { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https', 'x-forwarded-port': '8443', 'x-forwarded-for': '203.0.113.9' };

    it('from callers express does not trust (TRUST_PROXY off), X-Forwarded-Host and -Proto are ignored: discovery names only the issuer, redirects and cookies stay on it', async () => {
      const res = await fetch(`${untrusted.issuer}/.well-known/openid-configuration`, { headers: forged });
      assert.equal(res.status, 200);
      const text = await res.text();
      const discovery = JSON.parse(text) as Record<string, unknown>;
      assert.equal(discovery.issuer, untrusted.issuer);
      assert.doesNotMatch(text, /evil\.example|https:\/\/|8443/);
      const urls = Object.entries(discovery).filter(([, v]) => typeof v === 'string' && /^[a-z]+:\/\//.test(v));
      assert.ok(urls.length >= 5, JSON.stringify(urls));
      for (const [k, v] of urls) assert.ok((v as string).startsWith(`${untrusted.issuer}/`) || v === untrusted.issuer, `${k}: ${v}`);

      // The authorization request's redirect to the sign-in page, and its cookies.
      const org = await newOrg();
      const app = await registerApp(untrusted, org);
      const url = client.buildAuthorizationUrl(app.config, {
        redirect_uri: app.redirect, scope: 'openid', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256', state: client.randomState(),
      });
      const auth = await fetch(url, { headers: forged, redirect: 'manual' });
      assert.equal(auth.status, 303);
      const location = new URL(auth.headers.get('location')!, untrusted.issuer);
      assert.equal(location.origin, untrusted.issuer, String(location));
      const cookies = auth.headers.getSetCookie();
      assert.ok(cookies.length > 0);
      for (const c of cookies) assert.doesNotMatch(c, /;\s*secure/i, `X-Forwarded-Proto was believed: ${c}`);
    });

    it('from callers nobody trusts, X-Forwarded-For gives no fresh network to the throttle: the address counted is the connection\'s', async () => {
      const limited = await startServer({ trustProxy: false, throttle: { perEmail: 1000, perIp: 3, windowSeconds: 60 } });
      // Every browser here connects from 127.0.0.1: that network's count (other suites' too) starts from nothing, and is left so.
      const loopback = () => testDb()('sign_in_throttle').where({ key: `ip:${hashSecret(ipNetwork('127.0.0.1'))}` }).delete();
      await loopback();
      try {
        const org = await newOrg();
        const app = await registerApp(limited, org);
        const person = await member(org);
        const statuses: number[] = [];
        for (let i = 0; i < 4; i++) {
          const browser = new TestBrowser(); // its own X-Forwarded-For each time
          statuses.push((await passwordSignIn(app, browser, `${unique('guess-')}@example.test`, `guess ${i}`)).page.status);
        }
        assert.deepEqual(statuses, [401, 401, 401, 429]);
        const browser = new TestBrowser();
        const { page } = await passwordSignIn(app, browser, person.email, person.password);
        assert.equal(page.status, 429);
        assert.equal(codeReached(app, browser), false);
        const events = (await eventsOf(org.org.id)).filter((e) => e.reason === 'throttled');
        assert.ok(events.every((e) => e.ip === '127.0.0.1' || e.ip === '::ffff:127.0.0.1'), `recorded from ${events.map((e) => e.ip).join(', ')}`);
      } finally {
        await loopback();
        await stopServer(limited);
      }
    });
  });

  describe("a native app's redirect URI", () => {
    it('com.example.app:/callback registers for a public client, and the app signs in with PKCE and exchanges the code', async () => {
      const org = await newOrg();
      const redirect = 'com.example.app:/callback';
      const { clientId, clientSecret } = await createClient(testDb(), { orgId: org.org.id, actor, redirectUris: [redirect], public: true });
      assert.equal(clientSecret, null);
      const config = await client.discovery(new URL(srv.issuer), clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
      const app: App = { org, clientId, redirect, config };
      const person = await member(org);
      const browser = new TestBrowser();
      const started = await authorize(app, browser);
      assert.equal(headingOf(started.page.html), 'Sign in', started.page.html.replace(/<style[\s\S]*?<\/style>/, '').slice(0, 1200));
      const { page, finish } = await passwordSignIn(app, browser, person.email, person.password);
      assert.ok(page.location?.startsWith(`${redirect}?`), `${page.status} ${page.location} ${page.html.replace(/<style[\s\S]*?<\/style>/, '').slice(0, 1200)}`);
      const claims = (await finish(page.location!)).claims()!;
      assert.equal(claims.sub, person.accountId);
      assert.equal(claims.org_id, org.org.id);
    });
  });
});

describe('security review: throttling through the pages', function () {
  this.timeout(120_000);
  let srv: Srv;
  const hashing = countingHasher();
  before(async () => { srv = await startServer({ passwords: hashing.hasher, throttle: { perEmail: 5, perIp: 1000, windowSeconds: 600 } }); });
  after(async () => { await stopServer(srv); });

  it("an attacker hammering an account cannot shut the person out of a browser they signed in with before (device cookie); a new browser waits", async () => {
    const org = await newOrg();
    const app = await registerApp(srv, org);
    const email = `${unique('hammered')}@example.test`;
    const password = 'the person knows this one';
    await createUser(org.scim, email, { password });
    const own = new TestBrowser();
    assert.equal(codeReached(app, own), false);
    await passwordSignIn(app, own, email, password);
    assert.equal(codeReached(app, own), true, 'first sign-in in the person\'s own browser');
    assert.ok([...own.cookies.values()].some((jar) => jar.has('roster_device')), 'the browser got a device cookie');

    for (let i = 0; i < 6; i++) await passwordSignIn(app, new TestBrowser(), email, `attacker guess ${i}`);
    const stranger = await passwordSignIn(app, new TestBrowser(), email, password);
    assert.equal(stranger.page.status, 429, 'a browser without the cookie shares the hammered counter');

    const again = await passwordSignIn(app, own, email, password, { prompt: 'login' });
    assert.ok(again.page.location?.startsWith(app.redirect), `${again.page.status}: the person's own browser still signs in`);
    const forged = new TestBrowser();
    for (const [host, jar] of own.cookies) if (jar.has('roster_device')) forged.cookies.set(host, new Map([['roster_device', { ...jar.get('roster_device')!, value: `${jar.get('roster_device')!.value.split('.')[0]}.forged` }]]));
    assert.equal((await passwordSignIn(app, forged, email, password)).page.status, 429, 'a forged device cookie counts for nothing');
  });

  /** `n` browsers, each at the password page of its own interaction for `email`. */
  async function atPasswordPage(app: App, email: string, n: number) {
    const ready: { browser: TestBrowser; pw: PageResult }[] = [];
    for (let i = 0; i < n; i += 10) {
      ready.push(...await Promise.all(Array.from({ length: Math.min(10, n - i) }, async () => {
        const browser = new TestBrowser();
        const { page } = await authorize(app, browser);
        return { browser, pw: await browser.submit(page, '/email', { email }) };
      })));
    }
    return ready;
  }

  it('40 wrong passwords at once, perEmail 5: at most 5 are checked (401), the others refused before any check (429)', async () => {
    const org = await newOrg();
    const app = await registerApp(srv, org);
    const person = await member(org);
    const ready = await atPasswordPage(app, person.email, 40);
    hashing.counts.verify = 0;
    const answers = await Promise.all(ready.map(({ browser, pw }, i) => browser.submit(pw, '/password', { password: `a wrong guess ${i}` }, toApp(app))));
    const statuses = answers.map((a) => a.status);
    const checked = statuses.filter((s) => s === 401).length;
    const refused = statuses.filter((s) => s === 429).length;
    assert.equal(checked + refused, 40, `statuses: ${statuses.join(',')}`);
    assert.ok(checked <= 5, `${checked} passwords were checked`);
    assert.equal(checked, 5, 'five attempts pass');
    assert.ok(hashing.counts.verify <= 5, `${hashing.counts.verify} argon2 verifications`);
    const reasons = (await eventsOf(org.org.id)).filter((e) => e.email === person.email).map((e) => e.reason);
    assert.equal(reasons.filter((r) => r === 'wrong_password').length, checked);
    assert.equal(reasons.filter((r) => r === 'throttled').length, refused);

    // The right password is refused too, until the window ends.
    const [late] = await atPasswordPage(app, person.email, 1);
    const right = await late.browser.submit(late.pw, '/password', { password: person.password }, toApp(app));
    assert.equal(right.status, 429);
    assert.equal(codeReached(app, late.browser), false);
  });

  it("'vİctim@…' and 'victim@…' (which PostgreSQL finds as one account) share one counter; so do spellings of an address nobody has (NFKC, lower case)", async () => {
    const org = await newOrg();
    const app = await registerApp(srv, org);
    const tag = unique('');
    const victim = `victim${tag}@example.test`;
    const password = 'the victim password 12';
    await createUser(org.scim, victim, { password });
    const account = await accountOf(victim);
    const variant = `vİctim${tag}@example.test`;
    assert.notEqual(variant.normalize('NFKC').toLowerCase(), victim, 'JavaScript lower-cases İ to i plus a dot: another string');
    assert.equal((await accountOf(variant))?.id, account.id, 'the database finds the account by either spelling');

    const spellings = [variant, victim.toUpperCase(), variant, victim, variant];
    for (const [i, spelling] of spellings.entries()) {
      const { page } = await passwordSignIn(app, new TestBrowser(), spelling, `wrong ${i}`);
      assert.equal(page.status, 401, `${spelling}: ${page.status}`);
    }
    const browser = new TestBrowser();
    const { page } = await passwordSignIn(app, browser, victim, password);
    assert.equal(page.status, 429, 'the sixth attempt on the account, whatever its spelling');
    assert.equal(codeReached(app, browser), false);
    const other = await passwordSignIn(app, new TestBrowser(), variant, password);
    assert.equal(other.page.status, 429);
    assert.ok(await testDb()('sign_in_throttle').where({ key: `subject:${hashSecret(`account:${account.id}`)}` }).first(), 'counted under the account');

    // Nobody's address: its NFKC, lower-case spellings count together.
    const nobody = `nobody${tag}@example.test`;
    const fullwidth = `ＮＯＢＯＤＹ${tag}@example.test`;
    assert.equal(fullwidth.normalize('NFKC').toLowerCase(), nobody);
    for (const [i, spelling] of [fullwidth, nobody, nobody.toUpperCase(), fullwidth, nobody].entries()) {
      const { page: p } = await passwordSignIn(app, new TestBrowser(), spelling, `guess ${i}`);
      assert.equal(p.status, 401, spelling);
    }
    assert.equal((await passwordSignIn(app, new TestBrowser(), fullwidth, 'guess 6')).page.status, 429);
  });

  it('a success starts the count again: after 4 wrong passwords and the right one, 5 more attempts pass and the 6th is refused', async () => {
    const org = await newOrg();
    const app = await registerApp(srv, org);
    const person = await member(org);
    for (let i = 1; i <= 4; i++) assert.equal((await passwordSignIn(app, new TestBrowser(), person.email, `wrong ${i}`)).page.status, 401);
    const ok = await passwordSignIn(app, new TestBrowser(), person.email, person.password);
    assert.ok(ok.page.location?.startsWith(app.redirect), `${ok.page.status}`);
    for (let i = 1; i <= 5; i++) assert.equal((await passwordSignIn(app, new TestBrowser(), person.email, `wrong again ${i}`)).page.status, 401, `attempt ${i} after the success`);
    assert.equal((await passwordSignIn(app, new TestBrowser(), person.email, person.password)).page.status, 429);
  });
});

describe('security review: the directory underneath', () => {
  describe('throttle', () => {
    it('perEmail 3: three attempts pass, the fourth is refused (every attempt counts, right or wrong); a success resets the subject', async () => {
      const throttle = createThrottle(testDb(), { perEmail: 3, perIp: 1000, windowSeconds: 60 });
      const key = { subject: throttleSubject({ accountId: null, email: `${unique('t')}@example.test` }), ip: randomIp() };
      assert.deepEqual([await throttle.attempt(key), await throttle.attempt(key), await throttle.attempt(key)], [0, 0, 0]);
      const wait = await throttle.attempt(key);
      assert.ok(wait >= 1 && wait <= 60, `wait ${wait}`);
      await throttle.succeed(key);
      assert.equal(await throttle.attempt(key), 0);
    });

    it('concurrent attempts cannot slip past the count: 40 at once with perEmail 5, exactly 5 pass', async () => {
      const throttle = createThrottle(testDb(), { perEmail: 5, perIp: 1000, windowSeconds: 60 });
      const subject = throttleSubject({ accountId: null, email: `${unique('race')}@example.test` });
      const waits = await Promise.all(Array.from({ length: 40 }, () => throttle.attempt({ subject, ip: randomIp() })));
      assert.equal(waits.filter((w) => w === 0).length, 5);
    });

    it('the subject: the account when the address has one, else the address typed, NFKC and lower case', () => {
      assert.equal(throttleSubject({ accountId: 'a1', email: 'vİctim@x.test' }), throttleSubject({ accountId: 'a1', email: 'victim@x.test' }));
      assert.equal(throttleSubject({ accountId: null, email: ' ＮＯＢＯＤＹ@X.test ' }), throttleSubject({ accountId: null, email: 'nobody@x.test' }));
      assert.notEqual(throttleSubject({ accountId: null, email: 'a@x.test' }), throttleSubject({ accountId: null, email: 'b@x.test' }));
    });

    it('the network: an IPv4 address (also IPv4-mapped), or the /64 of an IPv6 one', async () => {
      assert.equal(ipNetwork('203.0.113.7'), '203.0.113.7');
      assert.equal(ipNetwork('::ffff:203.0.113.7'), '203.0.113.7');
      assert.equal(ipNetwork('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), ipNetwork('2001:0db8:0001:0002::1'));
      assert.equal(ipNetwork('2001:db8:1:2::1'), '2001:db8:1:2::/64');
      assert.notEqual(ipNetwork('2001:db8:1:2::1'), ipNetwork('2001:db8:1:3::1'));
      assert.equal(ipNetwork('2001:DB8:1:2::1'), ipNetwork('2001:db8:1:2::2'));

      // Hosts of one /64 share the per-network count.
      const throttle = createThrottle(testDb(), { perEmail: 1000, perIp: 2, windowSeconds: 60 });
      const prefix = randomIp().split(':').slice(0, 4).join(':');
      const at = (host: string) => throttle.attempt({ subject: throttleSubject({ accountId: null, email: `${unique('n')}@example.test` }), ip: `${prefix}::${host}` });
      assert.deepEqual([await at('1'), await at('2')], [0, 0]);
      assert.ok((await at('3')) > 0, 'a third host of the same /64 is refused');
    });
  });

  describe('TOTP enrolment', () => {
    it('startTotpEnrolment and confirmTotpEnrolment refuse (Conflict) while a confirmed TOTP exists: the factor is not replaced', async () => {
      const org = await newOrg();
      const person = await member(org);
      const secret = await enrolTotp(person.accountId, org.org.id);
      const before = await testDb()('mfa_factors').where({ account_id: person.accountId });
      const conflict = (err: unknown) => err instanceof Conflict && err.rule === 'already_enrolled';
      await assert.rejects(startTotpEnrolment(testDb(), sealer, { accountId: person.accountId, label: 'x', issuer: 'roster.test' }), conflict);
      // Even with a stray unconfirmed row and a right code for it.
      await testDb()('mfa_factors').insert({ account_id: person.accountId, kind: 'totp', secret_sealed: 'stray' });
      await assert.rejects(confirmTotpEnrolment(testDb(), sealer, { accountId: person.accountId, orgId: org.org.id, code: await generate({ secret }) }), conflict);
      const after = await testDb()('mfa_factors').where({ account_id: person.accountId }).whereNotNull('confirmed_at');
      assert.deepEqual(after, before);
    });
  });
});
