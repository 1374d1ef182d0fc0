// Adversarial: the sign-in pages, walked as a browser would (conformance/oidc/browser.ts), with a real
// openid-client as the application. The cross-organisation attack on a shared account (a password another
// organisation set asks for a code e-mailed to the address), user enumeration (a non-member's right password
// answered as a wrong one), brute force (throttling, never a lockout for good), CSRF, every denial of the
// login policy, TOTP replay and recovery codes, cookies and headers, hostile input, and a password change
// ending every other session. More of the security review's findings: sign-in-review.test.ts.
//
// Each browser comes from its own address (X-Forwarded-For, believed: trustProxy), so the per-IP throttle
// of one test never counts another's failures.
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { generate } from 'otplib';
import { formActions, headingOf, type PageResult } from '../../conformance/oidc/browser.ts';
import { markEmailVerified } from '../../src/directory/accounts.ts';
import { createPasswordHasher } from '../../src/directory/passwords.ts';
import { ipNetwork } from '../../src/directory/throttle.ts';
import { hashSecret } from '../../src/directory/tokens.ts';
import { createUser, newOrg, unique } from '../helpers.ts';
import { testDb } from '../setup.ts';
import {
  accountOf, type App, assertCleanClientError, authorize, codeReached, countingHasher, csrfOf, eventsOf, interactionPayload, latestCodeTo, mailTo,
  normalised, passwordSignIn, personAt, randomIp, registerApp, sessionsOf, type Srv, startServer, stopServer, TestBrowser, toApp, uidOf,
} from './sign-in-support.ts';

const B_PASSWORD = 'chosen by organisation B, 2024';

describe('security: sign-in through the pages', function () {
  this.timeout(60_000);
  let srv: Srv;
  const hashing = countingHasher();

  before(async () => { srv = await startServer({ passwords: hashing.hasher }); });
  after(async () => { await stopServer(srv); });

  describe('the cross-organisation attack on a shared account', () => {
    /** B creates A's CEO's account over SCIM with a password B chose; A's SCIM then provisions its CEO (a link). */
    async function attack() {
      const a = await newOrg();
      const b = await newOrg();
      const ceo = `ceo@${unique('a-domain-')}.test`;
      const inB = await createUser(b.scim, ceo, { password: B_PASSWORD });
      await createUser(a.scim, ceo);
      const account = await accountOf(ceo);
      assert.equal(account.managed_by_org_id, b.org.id);
      assert.equal(account.password_set_by_org_id, b.org.id);
      assert.equal(account.email_verified, false);
      return { a, b, ceo, account, inB, appA: await registerApp(srv, a), appB: await registerApp(srv, b) };
    }

    /** The path of a form action inside the interaction: '/email-code/send'. */
    const actionsOf = (p: PageResult) => formActions(p.html).map((a) => a.replace(/^.*\/oidc\/interaction\/[^/]+/, ''));

    it("B's password at A's application asks for proof of the address ('Confirm your e-mail address'), sends nothing by itself, and no other step's form gets past it: no session in A, no code for A", async () => {
      const { a, ceo, account, appA } = await attack();
      const browser = new TestBrowser();
      const { page } = await passwordSignIn(appA, browser, ceo, B_PASSWORD);
      assert.equal(page.status, 200, page.html.slice(0, 400));
      assert.equal(headingOf(page.html), 'Confirm your e-mail address');
      // The only way on: a code e-mailed to the address, sent when the person asks for it.
      assert.deepEqual(actionsOf(page), ['/email-code/send']);
      assert.ok(page.html.includes(`E-mail a code to ${ceo}`), page.html);
      assert.deepEqual(await mailTo(ceo), [], 'nothing is sent before the person asks');
      assert.equal((await eventsOf(a.org.id)).filter((e) => e.outcome === 'success').length, 0);
      assert.deepEqual(await sessionsOf(a.org.id, account.id), []);
      assert.equal(codeReached(appA, browser), false, browser.locations().join('\n'));

      // Reloading the page, or "continue" (posted by hand), does not get further.
      const again = await browser.go(page.url, toApp(appA));
      assert.equal(headingOf(again.html), 'Confirm your e-mail address');
      const base = page.url.replace(/\/$/, '');
      const token = `_csrf=${encodeURIComponent(csrfOf(again))}`;
      const continued = await browser.post(`${base}/continue`, token);
      assert.equal(headingOf(continued.html), 'Confirm your e-mail address', `${continued.status} ${continued.location}`);
      assert.equal(continued.location, null);

      // The forms of other steps (posted by hand: the page offers none of them) are answered with the
      // interaction's page, and change nothing.
      const before = {
        account: await testDb()('accounts').where({ id: account.id }).first(),
        factors: await testDb()('mfa_factors').where({ account_id: account.id }),
        codes: await testDb()('recovery_codes').where({ account_id: account.id }),
      };
      for (const [action, fields] of [
        ['/totp', 'code=123456'], ['/recovery', 'recovery_code=abcde-fghjk'], ['/totp-enrol', 'code=123456'],
        ['/change-password', 'password=an%20attacker%20chosen%20passphrase'], ['/password', `password=${encodeURIComponent(B_PASSWORD)}`], ['/email', `email=${encodeURIComponent(ceo)}`],
        ['/forgot', ''],
      ] as const) {
        const res = await browser.post(`${base}${action}`, `${token}&${fields}`);
        assert.equal(res.status, 303, `${action}: ${res.status} ${res.html.slice(0, 300)}`);
        assert.equal(res.location, base, `${action}: back to the interaction's page`);
      }
      assert.deepEqual({
        account: await testDb()('accounts').where({ id: account.id }).first(),
        factors: await testDb()('mfa_factors').where({ account_id: account.id }),
        codes: await testDb()('recovery_codes').where({ account_id: account.id }),
      }, before);
      assert.equal(headingOf((await browser.go(base)).html), 'Confirm your e-mail address');
      assert.deepEqual(await sessionsOf(a.org.id, account.id), []);
      assert.equal(codeReached(appA, browser), false);
      assert.equal((await eventsOf(a.org.id)).filter((e) => e.outcome === 'success').length, 0);
    });

    it('an attacker without the mailbox gets nowhere: the code goes to the address only, guesses are refused, five of them kill the code (then the right code fails too)', async () => {
      const { a, ceo, account, appA } = await attack();
      const attacker = new TestBrowser();
      const { page } = await passwordSignIn(appA, attacker, ceo, B_PASSWORD);
      assert.equal(headingOf(page.html), 'Confirm your e-mail address');
      const base = page.url.replace(/\/$/, '');
      const token = `_csrf=${encodeURIComponent(csrfOf(page))}`;

      // A guess before any code was sent: refused.
      const early = await attacker.post(`${base}/email-code`, `${token}&email_code=000000`);
      assert.equal(early.status, 401, early.html.slice(0, 300));

      let p = await attacker.submit(page, '/email-code/send');
      assert.equal(headingOf(p.html), 'Confirm your e-mail address');
      assert.match(p.html, /We sent a 6-digit code to/);
      const mails = await mailTo(ceo);
      assert.equal(mails.length, 1);
      assert.equal(mails[0].to_address.toLowerCase(), ceo.toLowerCase());
      const code = await latestCodeTo(ceo);
      assert.ok(!attacker.responses.some((r) => r.html.includes(code)), 'the code is in the e-mail only');

      for (let i = 1; i <= 5; i++) {
        p = await attacker.submit(p, '/email-code', { email_code: String((Number(code) + i) % 1_000_000).padStart(6, '0') });
        assert.equal(p.status, 401, `guess ${i}: ${p.status}`);
        assert.equal(headingOf(p.html), 'Confirm your e-mail address');
      }
      // Even the right code now fails: the code was tried too often.
      p = await attacker.submit(p, '/email-code', { email_code: code }, toApp(appA));
      assert.equal(p.status, 401, `${p.status} ${p.html.slice(0, 300)}`);
      assert.equal(codeReached(appA, attacker), false);
      assert.deepEqual(await sessionsOf(a.org.id, account.id), []);
      assert.equal((await accountOf(ceo)).email_verified, false);
      const events = (await eventsOf(a.org.id)).filter((e) => e.account_id === account.id);
      assert.equal(events.filter((e) => e.outcome === 'success').length, 0, JSON.stringify(events));
      assert.equal(events.filter((e) => e.type === 'mfa_verification' && e.reason === 'mfa_failed').length, 7);
    });

    it("with the code from the mailbox the person gets through (the address is then verified), but the next sign-in at A asks again: B's password stays B's, and so does a new one B sets", async () => {
      const { a, b, ceo, account, inB, appA, appB } = await attack();
      const person = new TestBrowser();
      const { page, finish } = await passwordSignIn(appA, person, ceo, B_PASSWORD);
      assert.equal(headingOf(page.html), 'Confirm your e-mail address');
      let p = await person.submit(page, '/email-code/send');
      p = await person.submit(p, '/email-code', { email_code: await latestCodeTo(ceo) }, toApp(appA));
      assert.ok(p.location?.startsWith(appA.redirect), `${p.status} ${p.html.slice(0, 400)}`);
      const claims = (await finish(p.location!)).claims()!;
      assert.equal(claims.sub, account.id);
      assert.equal(claims.org_id, a.org.id);
      assert.equal(claims.email_verified, true);
      const [session] = await sessionsOf(a.org.id, account.id);
      assert.deepEqual(session.factors, ['pwd', 'email']);
      const after = await accountOf(ceo);
      assert.equal(after.email_verified, true);
      assert.equal(after.password_set_by_org_id, b.org.id, 'the password is still the one B set');

      // The next sign-in at A: the code again.
      const next = await passwordSignIn(appA, new TestBrowser(), ceo, B_PASSWORD);
      assert.equal(headingOf(next.page.html), 'Confirm your e-mail address');

      // B waits for the verification, then sets a new password over SCIM: it still opens only B's applications.
      const chosenByB = 'set by B after the verification 9';
      const res = await b.scim.patch(`/Users/${inB.id}`, [{ op: 'replace', path: 'password', value: chosenByB }]);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal((await accountOf(ceo)).password_set_by_org_id, b.org.id);
      const atA = new TestBrowser();
      const tried = await passwordSignIn(appA, atA, ceo, chosenByB);
      assert.equal(headingOf(tried.page.html), 'Confirm your e-mail address');
      assert.equal(codeReached(appA, atA), false);
      const atB = await passwordSignIn(appB, new TestBrowser(), ceo, chosenByB);
      assert.ok(atB.page.location?.startsWith(appB.redirect), `${atB.page.status} ${atB.page.html.slice(0, 300)}`);
    });

    it("the same password at B's application (B set it) signs the person in to B", async () => {
      const { b, ceo, account, appB } = await attack();
      const browser = new TestBrowser();
      const { page, finish } = await passwordSignIn(appB, browser, ceo, B_PASSWORD);
      assert.ok(page.location?.startsWith(appB.redirect), `${page.status} ${page.html.slice(0, 400)}`);
      const claims = (await finish(page.location!)).claims()!;
      assert.equal(claims.sub, account.id);
      assert.equal(claims.org_id, b.org.id);
      assert.equal((await sessionsOf(b.org.id, account.id)).length, 1);
    });

    it("the rule: a verified address does not make B's password open A; a password that is the person's own (set through the e-mailed link: set by nobody) opens A once the address is verified", async () => {
      const { a, ceo, account, appA } = await attack();
      await markEmailVerified(testDb(), account.id);
      const verified = await passwordSignIn(appA, new TestBrowser(), ceo, B_PASSWORD);
      assert.equal(headingOf(verified.page.html), 'Confirm your e-mail address', 'still asked: the password is B\'s');

      // The person's own password (what the reset link leaves: set by no organisation, the address verified).
      const own = 'the person\u2019s own passphrase 3';
      await testDb()('accounts').where({ id: account.id }).update({ password_hash: await createPasswordHasher().hash(own), password_set_by_org_id: null });
      const browser = new TestBrowser();
      const { page, finish } = await passwordSignIn(appA, browser, ceo, own);
      assert.ok(page.location?.startsWith(appA.redirect), `${page.status} ${page.html.slice(0, 400)}`);
      const claims = (await finish(page.location!)).claims()!;
      assert.equal(claims.org_id, a.org.id);
      assert.equal(claims.email_verified, true);

      // Not yet verified: the person's own password asks for the code too.
      await testDb()('accounts').where({ id: account.id }).update({ email_verified: false });
      const unverified = await passwordSignIn(appA, new TestBrowser(), ceo, own);
      assert.equal(headingOf(unverified.page.html), 'Confirm your e-mail address');
    });
  });

  describe('no user enumeration', () => {
    it('an unknown e-mail and a wrong password: the same status and page, one password verification each, recorded apart', async () => {
      const org = await newOrg();
      const app = await registerApp(srv, org);
      const known = `${unique('known')}@example.test`;
      await createUser(org.scim, known, { password: 'the right password 1' });
      const unknown = `${unique('nobody')}@example.test`;

      const attempt = async (email: string, password: string) => {
        const browser = new TestBrowser();
        const { page } = await authorize(app, browser);
        const pw = await browser.submit(page, '/email', { email });
        hashing.counts.verify = 0;
        const res = await browser.submit(pw, '/password', { password }, toApp(app));
        return { pw, res, verified: hashing.counts.verify };
      };
      const u = await attempt(unknown, 'some password 123');
      const k = await attempt(known, 'not the right one 1');

      assert.equal(u.verified, 1, 'an unknown e-mail runs one password verification');
      assert.equal(k.verified, 1, 'a known e-mail runs one password verification');
      assert.equal(u.res.status, 401);
      assert.equal(k.res.status, u.res.status);
      assert.equal(normalised(k.res.html, [known]), normalised(u.res.html, [unknown]));
      assert.equal(normalised(k.pw.html, [known]), normalised(u.pw.html, [unknown]), 'the password page, too, is the same');
      assert.equal(headingOf(u.res.html), 'Enter your password');

      const events = await eventsOf(org.org.id);
      const byEmail = (email: string) => events.filter((e) => e.email === email).map((e) => [e.type, e.outcome, e.reason]);
      assert.deepEqual(byEmail(unknown), [['sign_in', 'failure', 'unknown_account']]);
      assert.deepEqual(byEmail(known), [['sign_in', 'failure', 'wrong_password']]);
    });
  });

  describe('CSRF', () => {
    it('a POST without _csrf, or with the _csrf of another interaction, gets 403 and changes nothing', async () => {
      const { org, app, email, password, account } = await personAt(srv, 'csrf', 'the right password 2');

      const browser = new TestBrowser();
      const { page, finish } = await authorize(app, browser);
      const uid = uidOf(page);
      const emailAction = new URL(`/oidc/interaction/${uid}/email`, page.url).toString();
      const passwordAction = new URL(`/oidc/interaction/${uid}/password`, page.url).toString();

      // On the e-mail page: a forged e-mail is not taken.
      const before0 = await interactionPayload(uid);
      const noToken = await browser.request(emailAction, { form: { email } });
      assert.equal(noToken.status, 403);
      assert.deepEqual(await interactionPayload(uid), before0);
      assert.equal(headingOf((await browser.go(page.url)).html), 'Sign in');

      // The same CSRF cookie in another browser's interaction: its token is bound to that interaction.
      const other = new TestBrowser();
      const jar = browser.cookies.get(new URL(page.url).host)!;
      other.cookies.set(new URL(page.url).host, new Map([['roster_csrf', jar.get('roster_csrf')!]]));
      const { page: otherPage } = await authorize(app, other);
      assert.equal(other.cookies.get(new URL(page.url).host)!.get('roster_csrf')!.value, jar.get('roster_csrf')!.value);
      const otherToken = /name="_csrf" value="([^"]+)"/.exec(otherPage.html)![1];
      const ownToken = /name="_csrf" value="([^"]+)"/.exec(page.html)![1];
      assert.notEqual(otherToken, ownToken);

      const pw = await browser.submit(page, '/email', { email });
      assert.equal(headingOf(pw.html), 'Enter your password');
      const before = { interaction: await interactionPayload(uid), events: await eventsOf(org.org.id), sessions: await sessionsOf(org.org.id, account.id) };
      const attempts: [string, Record<string, string>][] = [
        ['no _csrf', { password }],
        ['an empty _csrf', { _csrf: '', password }],
        ["another interaction's _csrf", { _csrf: otherToken, password }],
        ['a _csrf one character off', { _csrf: `${ownToken.slice(0, -1)}${ownToken.endsWith('A') ? 'B' : 'A'}`, password }],
      ];
      for (const [what, form] of attempts) {
        const res = await browser.request(passwordAction, { form });
        assert.equal(res.status, 403, `${what}: ${res.status}`);
        assert.equal(res.location, null, what);
        assertCleanClientError(res, what);
      }
      const repeated = await browser.post(passwordAction, `_csrf=${encodeURIComponent(ownToken)}&_csrf=${encodeURIComponent(ownToken)}&password=${encodeURIComponent(password)}`);
      assert.equal(repeated.status, 403, 'a repeated _csrf');

      assert.deepEqual(await interactionPayload(uid), before.interaction, 'the pending state is unchanged');
      const events = await eventsOf(org.org.id);
      assert.deepEqual(events, before.events, 'no auth event');
      assert.equal(events.filter((e) => e.type === 'sign_in' && e.outcome === 'success').length, 0);
      assert.deepEqual(await sessionsOf(org.org.id, account.id), before.sessions);
      assert.equal(codeReached(app, browser), false);
      const same = await browser.go(page.url);
      assert.equal(headingOf(same.html), 'Enter your password');
      assert.equal(normalised(same.html), normalised(pw.html), 'the next GET shows the same page');

      // And with its own token the form works.
      const done = await browser.submit(same, '/password', { password }, toApp(app));
      assert.ok(done.location?.startsWith(app.redirect), `${done.status} ${done.html.slice(0, 300)}`);
      assert.equal((await finish(done.location!)).claims()!.sub, account.id);
    });
  });

  describe('every denial through the pages is recorded with its reason', () => {
    async function deniedWith(app: App, email: string, password: string, reason: string) {
      const account = await accountOf(email);
      const browser = new TestBrowser();
      const { page } = await passwordSignIn(app, browser, email, password);
      assert.equal(page.status, 403, `${reason}: ${page.status} ${page.html.slice(0, 400)}`);
      assert.equal(headingOf(page.html), 'You cannot sign in here', reason);
      const events = (await eventsOf(app.org.org.id)).filter((e) => e.account_id === account.id);
      assert.deepEqual(events.map((e) => [e.type, e.outcome, e.reason]), [['sign_in', 'failure', reason]]);
      assert.deepEqual(await sessionsOf(app.org.org.id, account.id), [], `${reason}: no session`);
      assert.equal(codeReached(app, browser), false, reason);
      return page;
    }

    it("not a member (the account exists only in another organisation): the right password gets the answer of a wrong one (401, the same page), recorded as unknown_account with no account", async () => {
      const a = await newOrg();
      const c = await newOrg();
      const app = await registerApp(srv, a);
      const email = `${unique('elsewhere')}@example.test`;
      await createUser(c.scim, email, { password: 'a password of org c' });
      const member = `${unique('member')}@example.test`;
      await createUser(a.scim, member, { password: 'a password of org a' });
      const nobody = `${unique('nobody')}@example.test`;

      const answers: Record<string, { status: number; html: string }> = {};
      for (const [what, email_, password] of [
        ['right password, not a member', email, 'a password of org c'], ['wrong password, not a member', email, 'not the password of org c'],
        ['wrong password, a member', member, 'not the password of org a'], ['unknown address', nobody, 'a password of org c'],
      ] as const) {
        const browser = new TestBrowser();
        const { page } = await passwordSignIn(app, browser, email_, password);
        assert.equal(codeReached(app, browser), false, what);
        answers[what] = { status: page.status, html: normalised(page.html, [email_]) };
      }
      for (const [what, answer] of Object.entries(answers)) {
        assert.equal(answer.status, 401, what);
        assert.equal(answer.html, answers['wrong password, a member'].html, `${what}: the same page as a member's wrong password`);
      }
      assert.equal(headingOf(answers['right password, not a member'].html), 'Enter your password');

      const account = await accountOf(email);
      const events = await eventsOf(a.org.id);
      assert.deepEqual(events.filter((e) => e.email === email).map((e) => [e.type, e.outcome, e.reason, e.account_id]), [
        ['sign_in', 'failure', 'unknown_account', null], ['sign_in', 'failure', 'unknown_account', null],
      ]);
      assert.equal(events.filter((e) => e.account_id === account.id).length, 0, "A's events name no account of another organisation");
      assert.equal(events.filter((e) => e.reason === 'not_a_member').length, 0);
      assert.deepEqual(events.filter((e) => e.email === member).map((e) => [e.reason, e.account_id]), [['wrong_password', (await accountOf(member)).id]]);
      assert.deepEqual(await sessionsOf(a.org.id, account.id), []);
      assert.deepEqual(await eventsOf(c.org.id), [], 'nothing is recorded in the organisation the person belongs to');
    });

    it('member deactivated', async () => {
      const a = await newOrg();
      const email = `${unique('gone')}@example.test`;
      const user = await createUser(a.scim, email, { password: 'a password of org a' });
      const res = await a.scim.patch(`/Users/${user.id}`, [{ op: 'replace', path: 'active', value: false }]);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      await deniedWith(await registerApp(srv, a), email, 'a password of org a', 'deactivated');
    });

    it('provider not allowed: the organisation allows only SSO', async () => {
      const a = await newOrg();
      const email = `${unique('sso-only')}@example.test`;
      await createUser(a.scim, email, { password: 'a password of org a' });
      await testDb()('organizations').where({ id: a.org.id }).update({ login_providers: testDb().raw("'{sso}'::text[]") });
      await deniedWith(await registerApp(srv, a), email, 'a password of org a', 'provider_not_allowed');
    });

    it('temporary password expired', async () => {
      const a = await newOrg();
      await testDb()('accounts').where({ id: a.owner.accountId }).update({ temporary_password_expires_at: testDb().raw("now() - interval '1 hour'") });
      const page = await deniedWith(await registerApp(srv, a), a.owner.email, a.owner.temporaryPassword!, 'temporary_password_expired');
      assert.doesNotMatch(page.html, /Choose a new password/);
    });

    it("MFA required, and the organisation allows neither 'totp' nor 'email' (only 'sms'): no method can be used here", async () => {
      const a = await newOrg();
      const email = `${unique('mfa-sms')}@example.test`;
      await createUser(a.scim, email, { password: 'a password of org a' });
      await testDb()('organizations').where({ id: a.org.id }).update({ require_mfa: true, mfa_methods: testDb().raw("'{sms}'::text[]") });
      await deniedWith(await registerApp(srv, a), email, 'a password of org a', 'mfa_method_not_available');
    });
  });

  describe('TOTP and recovery codes', () => {
    it('a TOTP code is accepted once (replay refused); a recovery code works once; the secret is sealed and the codes hashed', async () => {
      const org = await newOrg();
      await testDb()('organizations').where({ id: org.org.id }).update({ require_mfa: true, mfa_methods: testDb().raw("'{totp}'::text[]") });
      const app = await registerApp(srv, org);
      const email = `${unique('totp')}@example.test`;
      const password = 'the right password 3';
      await createUser(org.scim, email, { password });
      const account = await accountOf(email);

      // Enrolment: the secret shown is not what is stored.
      const first = new TestBrowser();
      let { page } = await passwordSignIn(app, first, email, password);
      assert.equal(headingOf(page.html), 'Set up an authenticator app');
      const secret = /id="totp-secret">([^<]+)</.exec(page.html)![1].replace(/\s+/g, '');
      assert.match(secret, /^[A-Z2-7]{16,}$/);
      const factors = await testDb()('mfa_factors').where({ account_id: account.id });
      assert.equal(factors.length, 1);
      const stored = JSON.stringify(factors[0]);
      for (const form of [secret, secret.toLowerCase(), Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')]) {
        assert.ok(!stored.includes(form), 'the base32 secret is not stored in clear');
      }
      const epoch = Math.floor(Date.now() / 1000);
      const enrolCode = await generate({ secret, epoch });
      page = await first.submit(page, '/totp-enrol', { code: enrolCode });
      assert.equal(headingOf(page.html), 'Save your recovery codes');
      const codes = [...page.html.matchAll(/<li>([a-z0-9-]+)<\/li>/g)].map((m) => m[1]);
      assert.equal(codes.length, 10);
      const rows = await testDb()('recovery_codes').where({ account_id: account.id });
      assert.equal(rows.length, 10);
      const rowText = JSON.stringify(rows);
      for (const c of codes) {
        assert.ok(!rowText.includes(c) && !rowText.includes(c.replace(/-/g, '')), `recovery code ${c} stored in clear`);
      }
      page = await first.submit(page, '/continue', {}, toApp(app));
      assert.ok(page.location?.startsWith(app.redirect), page.html.slice(0, 300));

      // The enrolment's code again, at the next sign-in: refused (replay). A code of the next time step: accepted.
      const second = new TestBrowser();
      let p = (await passwordSignIn(app, second, email, password)).page;
      assert.equal(headingOf(p.html), 'Two-step verification');
      p = await second.submit(p, '/totp', { code: enrolCode });
      assert.equal(p.status, 401, 'the code used at enrolment is refused');
      const nextCode = await generate({ secret, epoch: epoch + 30 });
      p = await second.submit(p, '/totp', { code: nextCode }, toApp(app));
      assert.ok(p.location?.startsWith(app.redirect), `${p.status} ${p.html.slice(0, 300)}`);

      // The same code at another sign-in: refused. A recovery code: once.
      const third = new TestBrowser();
      p = (await passwordSignIn(app, third, email, password)).page;
      p = await third.submit(p, '/totp', { code: nextCode });
      assert.equal(p.status, 401, 'a code already accepted is refused at another sign-in');
      assert.equal(codeReached(app, third), false);
      p = await third.submit(p, '/recovery', { recovery_code: codes[0] }, toApp(app));
      assert.ok(p.location?.startsWith(app.redirect), `${p.status} ${p.html.slice(0, 300)}`);

      const fourth = new TestBrowser();
      const signIn = await passwordSignIn(app, fourth, email, password);
      p = await fourth.submit(signIn.page, '/recovery', { recovery_code: codes[0] });
      assert.equal(p.status, 401, 'a used recovery code is refused');
      assert.equal(codeReached(app, fourth), false);
      p = await fourth.submit(p, '/recovery', { recovery_code: codes[1].toUpperCase() }, toApp(app));
      assert.ok(p.location?.startsWith(app.redirect), `${p.status} ${p.html.slice(0, 300)}`);
      assert.deepEqual((await signIn.finish(p.location!)).claims()!.amr, ['pwd', 'otp', 'mfa']);

      const used = await testDb()('recovery_codes').where({ account_id: account.id }).whereNotNull('used_at');
      assert.equal(used.length, 2);
      const failures = (await eventsOf(org.org.id)).filter((e) => e.account_id === account.id && e.outcome === 'failure').map((e) => [e.type, e.reason]);
      assert.deepEqual(failures, [['mfa_verification', 'mfa_failed'], ['mfa_verification', 'mfa_failed'], ['recovery_code_used', 'mfa_failed']]);
    });
  });

  describe('cookies and headers', () => {
    async function walk(browser: TestBrowser) {
      const org = await newOrg();
      const app = await registerApp(srv, org);
      const email = `${unique('cookies')}@example.test`;
      await createUser(org.scim, email, { password: 'the right password 4' });
      const { passwordPage, page } = await passwordSignIn(app, browser, email, 'the right password 4');
      assert.ok(page.location?.startsWith(app.redirect), `${page.status} ${page.html.slice(0, 300)}`);
      return { app, passwordPage };
    }

    it('the pages send a Content-Security-Policy; every cookie is HttpOnly and SameSite=Lax', async () => {
      const browser = new TestBrowser();
      await walk(browser);
      const pages = browser.responses.filter((r) => /\/oidc\/interaction\//.test(r.url) && r.status === 200);
      assert.ok(pages.length >= 2, `${pages.length} pages`);
      for (const p of pages) {
        const csp = p.headers.get('content-security-policy') ?? '';
        assert.match(csp, /default-src 'none'/, p.url);
        assert.match(csp, /frame-ancestors 'none'/, p.url);
        assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, p.url);
        assert.match(p.headers.get('cache-control') ?? '', /no-store/, p.url);
      }
      const cookies = browser.setCookies();
      const names = new Set(cookies.map((c) => c.split('=')[0]));
      for (const name of ['roster_csrf', '_interaction', '_session']) assert.ok(names.has(name), `${name} among ${[...names].join(', ')}`);
      for (const c of cookies) {
        assert.match(c, /;\s*httponly/i, c);
        assert.match(c, /;\s*samesite=lax/i, c);
      }
    });

    it('behind a trusted proxy that says https (X-Forwarded-Proto), every cookie set is Secure', async () => {
      const browser = new TestBrowser({ headers: { 'x-forwarded-proto': 'https' }, downgrade: true });
      await walk(browser);
      const cookies = browser.setCookies().filter((c) => !/^[^=]+=;/.test(c));
      assert.ok(cookies.length >= 3, cookies.join('\n'));
      for (const c of cookies) {
        assert.match(c, /;\s*secure/i, c);
        assert.match(c, /;\s*httponly/i, c);
        assert.match(c, /;\s*samesite=lax/i, c);
      }
    });
  });

  describe('bad input never gets a 500', () => {
    it('repeated fields, a 20 kB password, a body that is not UTF-8, unknown paths: a 4xx page, no stack trace, nothing changed', async () => {
      const { org, app, email, password, account } = await personAt(srv, 'hostile', 'the right password 5');

      const browser = new TestBrowser();
      const { page, finish } = await authorize(app, browser);
      const uid = uidOf(page);
      const base = new URL(`/oidc/interaction/${uid}`, page.url).toString();
      const csrf = /name="_csrf" value="([^"]+)"/.exec(page.html)![1];
      const token = `_csrf=${encodeURIComponent(csrf)}`;
      // The throttle's rows of this person (by account) and of this browser's network (throttle.ts: keys hashed).
      const throttleKeys = [`subject:${hashSecret(`account:${account.id}`)}`, `ip:${hashSecret(ipNetwork(browser.ip))}`];
      const snapshot = async () => ({
        interaction: await interactionPayload(uid),
        events: await eventsOf(org.org.id),
        sessions: await sessionsOf(org.org.id, account.id),
        account: await testDb()('accounts').where({ id: account.id }).first(),
        throttle: await testDb()('sign_in_throttle').whereIn('key', throttleKeys).orderBy('key'),
      });

      // On the e-mail page.
      let before = await snapshot();
      const onEmail: [string, () => Promise<PageResult>][] = [
        ['email=a&email=b', () => browser.post(`${base}/email`, `${token}&email=${encodeURIComponent(email)}&email=other%40example.test`)],
        ['email[]=a (an array)', () => browser.post(`${base}/email`, `${token}&email[]=${encodeURIComponent(email)}`)],
        ['raw bytes that are not UTF-8', () => browser.post(`${base}/email`, Buffer.concat([Buffer.from(`${token}&email=`), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('%40example.test')]))],
        ['percent-encoded bytes that are not UTF-8', () => browser.post(`${base}/email`, `${token}&email=%FF%FE%C3%28%40example.test`)],
        ['a body declared ISO-8859-1 (the pages are UTF-8: no browser sends this)', () => browser.post(`${base}/email`, Buffer.from(`${token}&email=J\xf6rg%40example.test`, 'latin1'), 'application/x-www-form-urlencoded; charset=iso-8859-1')],
        ['a JSON body', () => browser.post(`${base}/email`, JSON.stringify({ _csrf: csrf, email }), 'application/json')],
      ];
      const problems: string[] = [];
      for (const [what, send] of onEmail) {
        const res = await send();
        try {
          assertCleanClientError(res, what);
          assert.equal(res.location, null, `${what}: redirected to ${res.location}`);
          assert.deepEqual(await snapshot(), before, `${what}: state changed`);
        } catch (err) {
          problems.push(`on the e-mail page, ${(err as Error).message.split('\n')[0]}`);
          before = await snapshot();
        }
      }
      let current = await browser.go(base);
      if (headingOf(current.html) !== 'Sign in') {
        problems.push(`on the e-mail page, the sign-in moved on to "${headingOf(current.html)}" (${/Signing in as <strong>([^<]*)</.exec(current.html)?.[1]})`);
        current = await browser.submit(current, '/restart');
      }

      // On the password page.
      const pw = await browser.submit(current, '/email', { email });
      assert.equal(headingOf(pw.html), 'Enter your password');
      before = await snapshot();
      const onPassword: [string, () => Promise<PageResult>][] = [
        ['a 20 kB password', () => browser.post(`${base}/password`, `${token}&password=${'x'.repeat(20_000)}`)],
        ['a 20 kB password of multi-byte characters', () => browser.post(`${base}/password`, `${token}&password=${encodeURIComponent('ü'.repeat(7_000))}`)],
        ['raw password bytes that are not UTF-8', () => browser.post(`${base}/password`, Buffer.concat([Buffer.from(`${token}&password=`), Buffer.from([0xff, 0xfe, 0xfd, 0x80])]))],
        ['too many fields', () => browser.post(`${base}/password`, `${token}&${Array.from({ length: 200 }, (_, i) => `f${i}=1`).join('&')}`)],
        ['email=a&email=b to the e-mail form', () => browser.post(`${base}/email`, `${token}&email=a%40example.test&email=b%40example.test`)],
        ['a GET of an unknown page of the interaction', () => browser.request(`${base}/nonexistent`)],
        ['a GET of a form action', () => browser.request(`${base}/password`)],
        ['a POST to an unknown page of the interaction', () => browser.post(`${base}/nonexistent`, `${token}&password=x`)],
        ['a GET of an unknown interaction', () => browser.request(new URL('/oidc/interaction/not-an-interaction-uid', page.url).toString())],
        ['a POST to an unknown interaction', () => browser.post(new URL('/oidc/interaction/not-an-interaction-uid/password', page.url).toString(), `${token}&password=x`)],
        ['a GET of a path with bad percent-encoding', () => browser.request(`${base}/%E0%A4%A`)],
      ];
      for (const [what, send] of onPassword) {
        const res = await send();
        try {
          assertCleanClientError(res, what);
          assert.equal(res.location, null, `${what}: redirected to ${res.location}`);
          assert.deepEqual(await snapshot(), before, `${what}: state changed`);
        } catch (err) {
          problems.push(`on the password page, ${(err as Error).message.split('\n')[0]}`);
          before = await snapshot();
        }
      }
      assert.deepEqual(problems, []);

      // The sign-in is where it was, and goes on.
      const same = await browser.go(base);
      assert.equal(normalised(same.html), normalised(pw.html));
      const done = await browser.submit(same, '/password', { password }, toApp(app));
      assert.ok(done.location?.startsWith(app.redirect), `${done.status} ${done.html.slice(0, 300)}`);
      assert.equal((await finish(done.location!)).claims()!.sub, account.id);
      // The snapshot watched the throttle's real rows: the one attempt that counted left this network's row.
      assert.deepEqual((await testDb()('sign_in_throttle').whereIn('key', throttleKeys)).map((r) => r.key), [throttleKeys[1]]);
    });

    it('a long password that fits in the form (12 kB) is a wrong password like any other, not an error', async () => {
      const org = await newOrg();
      const app = await registerApp(srv, org);
      const email = `${unique('long')}@example.test`;
      await createUser(org.scim, email, { password: 'the right password 6' });
      const browser = new TestBrowser();
      const { page } = await passwordSignIn(app, browser, email, 'y'.repeat(12_000));
      assert.equal(page.status, 401, page.html.slice(0, 300));
      assert.equal(headingOf(page.html), 'Enter your password');
      assert.deepEqual((await eventsOf(org.org.id)).filter((e) => e.email === email).map((e) => e.reason), ['wrong_password']);
    });
  });

  describe('a password change', () => {
    it("the forced change of a temporary password revokes the person's other sessions, in other organisations too", async () => {
      const o = await newOrg();
      const q = await newOrg();
      const email = o.owner.email;
      await createUser(q.scim, email); // Q's IdP provisions the same person: a membership of the same account
      const appO = await registerApp(srv, o);
      const appQ = await registerApp(srv, q);
      const accountId = o.owner.accountId;

      // A first sign-in to O (changing the temporary password), then one to Q in another browser.
      const b1 = new TestBrowser();
      let s1 = await passwordSignIn(appO, b1, email, o.owner.temporaryPassword!);
      assert.equal(headingOf(s1.page.html), 'Choose a new password');
      const done1 = await b1.submit(s1.page, '/change-password', { password: 'first chosen passphrase' }, toApp(appO));
      assert.ok(done1.location?.startsWith(appO.redirect), done1.html.slice(0, 300));
      const tokensO = await s1.finish(done1.location!);
      // The password changed from O's temporary one is still O's: at Q the person shows the address is theirs.
      const b2 = new TestBrowser();
      const s2 = await passwordSignIn(appQ, b2, email, 'first chosen passphrase');
      assert.equal(headingOf(s2.page.html), 'Confirm your e-mail address', `${s2.page.status} ${s2.page.html.slice(0, 300)}`);
      const sent = await b2.submit(s2.page, '/email-code/send');
      const intoQ = await b2.submit(sent, '/email-code', { email_code: await latestCodeTo(email) }, toApp(appQ));
      assert.ok(intoQ.location?.startsWith(appQ.redirect), `${intoQ.status} ${intoQ.html.slice(0, 300)}`);
      const tokensQ = await s2.finish(intoQ.location!);
      const [liveO] = await sessionsOf(o.org.id, accountId);
      const [liveQ] = await sessionsOf(q.org.id, accountId);
      assert.equal(liveO.revoked_at, null);
      assert.equal(liveQ.revoked_at, null);

      // O's admin gives a new temporary password (as a reset does); the person signs in and must change it.
      const temporary = 'temporary again 7f3k';
      await testDb()('accounts').where({ id: accountId }).update({
        password_hash: await createPasswordHasher().hash(temporary), must_change_password: true, temporary_password_expires_at: testDb().raw("now() + interval '1 day'"),
      });
      const b3 = new TestBrowser();
      s1 = await passwordSignIn(appO, b3, email, temporary);
      assert.equal(headingOf(s1.page.html), 'Choose a new password');
      const done3 = await b3.submit(s1.page, '/change-password', { password: 'second chosen passphrase' }, toApp(appO));
      assert.ok(done3.location?.startsWith(appO.redirect), done3.html.slice(0, 300));
      const tokens3 = await s1.finish(done3.location!);

      const afterO = await sessionsOf(o.org.id, accountId);
      const afterQ = await sessionsOf(q.org.id, accountId);
      assert.equal(afterO.length, 2);
      const oldO = afterO.find((s) => s.id === liveO.id)!;
      assert.ok(oldO.revoked_at, 'the earlier session in O is revoked');
      assert.equal(oldO.revoked_reason, 'password_changed');
      assert.ok(afterQ[0].revoked_at, 'the session in Q is revoked');
      assert.equal(afterQ[0].revoked_reason, 'password_changed');
      assert.equal(afterO.find((s) => s.id !== liveO.id)!.revoked_at, null, 'the new session is live');
      const revokedEvents = (await eventsOf(q.org.id)).filter((e) => e.account_id === accountId && e.type === 'session_revoked');
      assert.deepEqual(revokedEvents.map((e) => e.reason), ['password_changed']);

      // What the applications held under the old sessions stops working; the new one works.
      const invalidGrant = (err: unknown) => (err as { error?: string }).error === 'invalid_grant';
      await assert.rejects(client.refreshTokenGrant(appO.config, tokensO.refresh_token!), invalidGrant);
      await assert.rejects(client.refreshTokenGrant(appQ.config, tokensQ.refresh_token!), invalidGrant);
      assert.ok((await client.refreshTokenGrant(appO.config, tokens3.refresh_token!)).access_token);
      // And the browser that was signed in to Q must sign in again.
      const again = await authorize(appQ, b2);
      assert.equal(headingOf(again.page.html), 'Sign in');
      assert.equal(b2.locations().filter((l) => l.startsWith(appQ.redirect)).length, 1, 'no new code for Q without signing in');
    });
  });
});

describe('security: sign-in throttling', function () {
  this.timeout(60_000);

  describe('per e-mail', () => {
    let srv: Srv;
    before(async () => { srv = await startServer({ throttle: { perEmail: 3, perIp: 1000, windowSeconds: 8 } }); });
    after(async () => { await stopServer(srv); });

    /** Three wrong passwords, then a fourth attempt with `fourth`: the answer to the fourth. */
    async function failThreeTimes(app: App, browser: TestBrowser, email: string, fourth: string) {
      const { page, finish } = await authorize(app, browser);
      let p = await browser.submit(page, '/email', { email });
      for (let i = 1; i <= 3; i++) {
        p = await browser.submit(p, '/password', { password: `wrong password ${i}` });
        assert.equal(p.status, 401, `failure ${i}: ${p.status}`);
      }
      const throttled = await browser.submit(p, '/password', { password: fourth }, toApp(app));
      return { throttled, finish };
    }

    it('after 3 failures the 4th attempt, even with the right password, gets 429 and Retry-After; an unknown e-mail the same; after the window the right password works', async () => {
      const { org, app, email, password, account } = await personAt(srv, 'throttled', 'the right password 7');

      const browser = new TestBrowser();
      const { throttled, finish } = await failThreeTimes(app, browser, email, password);
      assert.equal(throttled.status, 429, throttled.html.slice(0, 300));
      const retryAfter = throttled.headers.get('retry-after');
      assert.match(String(retryAfter), /^[1-9]\d*$/, `Retry-After: ${retryAfter}`);
      assert.match(throttled.html, /Too many attempts/);
      assert.equal(codeReached(app, browser), false);
      assert.deepEqual(await sessionsOf(org.org.id, account.id), []);

      const nobody = `${unique('nobody')}@example.test`;
      const other = new TestBrowser();
      const unknown = (await failThreeTimes(app, other, nobody, 'any password at all')).throttled;
      assert.equal(unknown.status, 429);
      assert.match(String(unknown.headers.get('retry-after')), /^[1-9]\d*$/);
      assert.equal(normalised(unknown.html, [nobody]), normalised(throttled.html, [email]), 'the page does not tell whether the e-mail has an account');

      const events = await eventsOf(org.org.id);
      const reasons = (e: string) => events.filter((x) => x.email === e).map((x) => x.reason);
      assert.deepEqual(reasons(email), ['wrong_password', 'wrong_password', 'wrong_password', 'throttled']);
      assert.deepEqual(reasons(nobody), ['unknown_account', 'unknown_account', 'unknown_account', 'throttled']);

      // Never locked for good: once the window has passed, the right password works.
      let p = throttled;
      for (let tries = 0; p.status === 429 && tries < 600; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        p = await browser.submit(p, '/password', { password }, toApp(app));
      }
      assert.ok(p.location?.startsWith(app.redirect), `${p.status} ${p.html.slice(0, 300)}`);
      assert.equal((await finish(p.location!)).claims()!.sub, account.id);
    });
  });

  describe('per IP', () => {
    let srv: Srv;
    before(async () => { srv = await startServer({ throttle: { perEmail: 1000, perIp: 2, windowSeconds: 60 } }); });
    after(async () => { await stopServer(srv); });

    it('failures on different e-mails from one address count together: that address is refused, another is not', async () => {
      const org = await newOrg();
      const app = await registerApp(srv, org);
      const email = `${unique('victim')}@example.test`;
      const password = 'the right password 8';
      await createUser(org.scim, email, { password });
      const ip = randomIp();

      for (const e of [`${unique('guess')}@example.test`, `${unique('guess')}@example.test`]) {
        const { page } = await passwordSignIn(app, new TestBrowser({ ip }), e, 'a guessed password');
        assert.equal(page.status, 401);
      }
      const attacker = new TestBrowser({ ip });
      const { page } = await passwordSignIn(app, attacker, email, password);
      assert.equal(page.status, 429, page.html.slice(0, 300));
      assert.match(String(page.headers.get('retry-after')), /^[1-9]\d*$/);
      assert.match(page.html, /Too many attempts/);
      assert.equal(codeReached(app, attacker), false);
      assert.deepEqual((await eventsOf(org.org.id)).filter((e) => e.email === email).map((e) => e.reason), ['throttled']);

      const person = new TestBrowser();
      const ok = await passwordSignIn(app, person, email, password);
      assert.ok(ok.page.location?.startsWith(app.redirect), `${ok.page.status} ${ok.page.html.slice(0, 300)}`);
    });
  });
});
