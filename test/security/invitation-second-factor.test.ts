// The invitation page must not reset the account's sign-in throttle on a password alone (a review finding).
//
// The sign-in pages count every attempt (password and second factor) on one counter per account, and
// start it again (throttle.succeed) only once the whole sign-in is done, second factor included. The
// invitation page (src/oidc/invitation-pages.ts) counts its password attempts on the same counter and never
// starts it again: were it to, on a right password, someone who knows the password and holds an invitation
// link would get the counter that limits their guesses at the *second factor* wiped. What this file shows: with a limit of 4, after the password and two wrong TOTP
// codes at the sign-in page, and one right password on the invitation page, the next guess at the code is
// refused (429).
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { generate } from 'otplib';
import { Browser, type PageResult } from '../../conformance/oidc/browser.ts';
import { createClient } from '../../src/directory/clients.ts';
import { unique } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { adminServer, invitationTokenSentTo, REDIRECT } from '../admin/support.ts';

const LIMIT = 4;

describe('security: a password on the invitation page does not reset the second factor\'s throttle', function () {
  this.timeout(60_000);
  const server = adminServer({ throttle: { perEmail: LIMIT, perIp: 1000, windowSeconds: 300 } });

  const stopAt = (u: string) => u.startsWith(REDIRECT);

  /** The sign-in pages of a new application of `orgId`, up to the page after the password. */
  async function passwordStep(orgId: string, browser: Browser, email: string, password: string): Promise<PageResult> {
    const { clientId, clientSecret } = await createClient(testDb(), { orgId, actor: { type: 'system', id: 'test' }, redirectUris: [REDIRECT], public: false });
    const config = await client.discovery(new URL(server.issuer()), clientId, undefined, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid email', code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256', state: 's',
    });
    let page = await browser.go(url.toString(), { stopAt });
    page = await browser.submit(page, '/email', { email });
    return browser.submit(page, '/password', { password }, { stopAt });
  }

  it('after the password and wrong TOTP codes at sign-in, a right password on the invitation page gives the code guesser no fresh count', async () => {
    // A person with a password of their own (chose it on org A's invitation page) and an authenticator app (A requires one).
    const a = await server.newTeam();
    const email = `${unique('inv-totp-')}@example.test`;
    const password = `the person's own passphrase ${unique()}`;
    assert.equal((await a.call('POST', '/invitations', { emails: [email], role: 'member' })).status, 201);
    const joining = new Browser();
    const first = await joining.go(server.invitationUrl(await invitationTokenSentTo(email)));
    assert.equal((await joining.submit(first, '/account/invitation', { password })).status, 200);
    await testDb()('organizations').where({ id: a.id }).update({ require_mfa: true, mfa_methods: testDb().raw("'{totp}'::text[]") });
    const owner = new Browser();
    let page = await passwordStep(a.id, owner, email, password);
    const secret = /id="totp-secret">([^<]+)</.exec(page.html)?.[1]?.replace(/\s+/g, '');
    assert.ok(secret, `the enrolment page: ${page.status} ${page.html.slice(0, 300)}`);
    page = await owner.submit(page, '/totp-enrol', { code: await generate({ secret, epoch: Math.floor(Date.now() / 1000) }) });
    page = await owner.submit(page, '/continue', {}, { stopAt });
    assert.ok(page.location?.startsWith(REDIRECT), `enrolled and signed in: ${page.status} ${page.html.slice(0, 300)}`);

    // Another organisation invites the same address: a link to it is in the mailbox.
    const b = await server.newTeam();
    assert.equal((await b.call('POST', '/invitations', { emails: [email], role: 'member' })).status, 201);
    const token = await invitationTokenSentTo(email);

    // The attacker knows the password, not the app's codes. Sign-in at A: the password (1), two wrong codes (2, 3).
    const attacker = new Browser();
    let codePage = await passwordStep(a.id, attacker, email, password);
    assert.match(codePage.html, /Two-step verification/);
    for (const code of ['000000', '111111']) {
      codePage = await attacker.submit(codePage, '/totp', { code });
      assert.equal(codePage.status, 401, `a wrong code ${code}`);
    }

    // The right password on the invitation page (4: still within the limit).
    const inv = await attacker.go(server.invitationUrl(token));
    const joined = await attacker.submit(inv, '/account/invitation', { password });
    assert.equal(joined.status, 200, joined.html.slice(0, 300));

    // The limit (4) is used up: the next guess at the second factor is refused.
    const next = await attacker.submit(codePage, '/totp', { code: '222222' });
    assert.equal(next.status, 429, `the fifth attempt on the account is throttled (got ${next.status}: the invitation page reset the count)`);
  });
});
