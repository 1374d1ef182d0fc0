// Upstream SSO end to end through Roster's sign-in pages: openid-client is the application (the relying party),
// a second oidc-provider (upstream-idp.ts) is the organisation's identity provider, and the browser walks from
// the application to Roster's e-mail page, to the upstream, back through {ISSUER}/sso/callback, and on to the
// application with a code. Linking an existing member, just-in-time provisioning and its refusal, the e-mail
// checks, enforced SSO, MFA done upstream (or asked here), the one-identity rule, and tampered answers.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import * as client from 'openid-client';
import { alertsOf, Browser, formActions, headingOf, hiddenFields, type PageResult } from '../../conformance/oidc/browser.ts';
import { createClient } from '../../src/directory/clients.ts';
import { ACR_MFA } from '../../src/directory/login-policy.ts';
import { getOutboxMessage, listOutbox } from '../../src/directory/outbox.ts';
import { createSealer } from '../../src/directory/sealing.ts';
import { ensureSigningKey } from '../../src/directory/signing-keys.ts';
import { setSsoConnection } from '../../src/directory/sso.ts';
import { createApp } from '../../src/http/app.ts';
import { createOidcService, type OidcService } from '../../src/oidc/provider.ts';
import { clearDiscoveryCache } from '../../src/oidc/upstream.ts';
import { createUser, newOrg, TEST_SECRET as SECRET, unique } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { startUpstreamIdp, type UpstreamIdp } from './upstream-idp.ts';

const actor = { type: 'system', id: 'test' } as const;
const REDIRECT = 'https://app.example/callback';
const sealer = createSealer(SECRET);

type OrgOptions = { claimOwnerDomain?: boolean; jitProvisioning?: boolean; ssoEnforced?: boolean; allowIdentityLinking?: boolean; requireMfa?: boolean; mfaMethods?: string[] };

describe('Upstream SSO through the sign-in pages (openid-client as the application, a real upstream OpenID provider)', function () {
  this.timeout(60_000);
  let server: Server;
  let issuer: string;
  let oidc: OidcService;
  let idp: UpstreamIdp;

  before(async () => {
    await ensureSigningKey(testDb(), sealer);
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    oidc = await createOidcService({ db: testDb(), issuer, sealer, secret: SECRET, trustProxy: false, logger: pino({ level: 'silent' }) });
    server.on('request', createApp({ db: testDb(), logger: pino({ level: 'silent' }), issuer, oidc: oidc.handler }));
    // The upstream knows Roster by the redirect URI an admin registers there: {ISSUER}/sso/callback.
    idp = await startUpstreamIdp({ redirectUri: `${issuer}/sso/callback` });
  });
  after(async () => {
    await idp.stop();
    await oidc.stop();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    clearDiscoveryCache();
  });

  const callbackUrl = () => `${issuer}/sso/callback`;
  const toApp = (u: string) => u.startsWith(REDIRECT);

  /**
   * An organisation (owner owner@<name>.test) whose connection to the upstream claims sso-<name>.test (and the
   * owner's domain with `claimOwnerDomain`), and an application of it.
   */
  async function setup(opts: OrgOptions = {}) {
    const org = await newOrg();
    const domain = `sso-${org.org.name}.test`;
    const domains = opts.claimOwnerDomain ? [domain, org.owner.email.split('@')[1]] : [domain];
    await setSsoConnection(testDb(), sealer, {
      orgId: org.org.id, actor, issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret, domains, jitProvisioning: opts.jitProvisioning,
    });
    await testDb()('organizations').where({ id: org.org.id }).update({
      sso_enforced: opts.ssoEnforced ?? false,
      allow_identity_linking: opts.allowIdentityLinking ?? true,
      require_mfa: opts.requireMfa ?? false,
      ...(opts.mfaMethods ? { mfa_methods: testDb().raw('?::text[]', [`{${opts.mfaMethods.join(',')}}`]) } : {}),
    });
    const { clientId, clientSecret } = await createClient(testDb(), { orgId: org.org.id, actor, redirectUris: [REDIRECT], public: false });
    const config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
    return { ...org, orgId: org.org.id, domain, config, clientId };
  }

  /** The application sends the browser to Roster; the first page (the e-mail page) and how to redeem the code. */
  async function authorize(config: client.Configuration, browser: Browser) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid email profile', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state,
    });
    const page = await browser.go(url.toString(), { stopAt: toApp });
    assert.equal(headingOf(page.html), 'Sign in', page.html.slice(0, 300));
    return { page, finish: (callback: string) => client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state }) };
  }

  /** From the application to the e-mail page, the address typed, and every redirect followed (upstream included). */
  async function signIn(config: client.Configuration, email: string, browser = new Browser()) {
    const { page, finish } = await authorize(config, browser);
    const after = await browser.submit(page, '/email', { email }, { stopAt: toApp });
    return { browser, first: page, page: after, finish };
  }

  /** Posts the e-mail page's form once, following no redirect: where the page sends the browser. */
  async function postEmail(browser: Browser, page: PageResult, email: string) {
    const form = [...page.html.matchAll(/<form\b[^>]*>[\s\S]*?<\/form>/gi)].map((m) => m[0]).find((f) => /action="[^"]*\/email"/.test(f));
    assert.ok(form, 'the e-mail form');
    const action = new URL(/action="([^"]*)"/.exec(form)![1].replace(/&amp;/g, '&'), page.url).toString();
    return browser.request(action, { form: { ...hiddenFields(form), email } });
  }

  /** Back at the application with a code: the tokens it gets for it. */
  async function redeem(result: { page: PageResult; finish: (callback: string) => ReturnType<typeof client.authorizationCodeGrant> }) {
    assert.equal(result.page.status, 303, `not back at the application: ${result.page.status} ${headingOf(result.page.html)} ${alertsOf(result.page.html).join(' ')}`);
    assert.ok(result.page.location && toApp(result.page.location), String(result.page.location));
    assert.equal(new URL(result.page.location).searchParams.get('error'), null, result.page.location);
    return result.finish(result.page.location);
  }

  /** The refusal page of the SSO step: a 403 HTML page saying why. */
  function assertRefused(page: PageResult, message: RegExp) {
    assert.equal(page.status, 403, `expected a refusal page, got ${page.status} ${page.location ?? ''} ${headingOf(page.html)}`);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(headingOf(page.html), 'Company sign-in did not work');
    assert.match(alertsOf(page.html).join(' '), message);
  }

  const events = (orgId: string) => testDb()('auth_events').where({ org_id: orgId }).orderBy('id').select('type', 'outcome', 'reason', 'account_id', 'email');
  const account = (email: string) => testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first();
  const identities = (accountId: string) => testDb()('identities').where({ account_id: accountId }).orderBy('created_at').select('provider', 'subject', 'org_id');
  const sessions = (orgId: string) => testDb()('sessions').where({ org_id: orgId }).select('account_id', 'provider', 'factors');

  it('an existing member (created by SCIM) signs in at the upstream and is linked; the application gets the member with the upstream\'s amr', async () => {
    const { orgId, scim, domain, config, clientId } = await setup();
    const email = `lin@${domain}`;
    await createUser(scim, email);
    const before = await account(email);
    assert.equal(before.email_verified, false, 'a SCIM-created address is not verified yet');
    const person = idp.addAccount({ email, emailVerified: true, givenName: 'Lin', familyName: 'Chen', amr: ['pwd'] });

    const browser = new Browser();
    const { page: first, finish } = await authorize(config, browser);
    // The e-mail page sends a claimed address straight to the organisation's identity provider.
    const toUpstream = await postEmail(browser, first, email);
    assert.equal(toUpstream.status, 303);
    const authUrl = new URL(toUpstream.location!);
    assert.equal(authUrl.origin, idp.issuer);
    assert.equal(authUrl.searchParams.get('client_id'), idp.clientId);
    assert.equal(authUrl.searchParams.get('redirect_uri'), callbackUrl());
    assert.equal(authUrl.searchParams.get('login_hint'), email);
    assert.equal(authUrl.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(authUrl.searchParams.get('nonce'), 'a nonce');
    assert.match(authUrl.searchParams.get('state') ?? '', /^[\w-]{10,64}\.[\w-]+$/, 'the state names the interaction');

    const page = await browser.go(toUpstream.location!, { stopAt: toApp });
    const tokens = await redeem({ page, finish });
    const claims = tokens.claims()!;
    assert.equal(claims.sub, before.id);
    assert.equal(claims.email, email);
    assert.equal(claims.email_verified, true);
    assert.equal(claims.org_id, orgId);
    assert.equal(claims.role, 'member');
    assert.deepEqual(claims.amr, ['pwd'], 'the methods the upstream reported');

    assert.deepEqual(await identities(before.id), [{ provider: idp.issuer, subject: person.sub, org_id: orgId }]);
    assert.equal((await account(email)).email_verified, true, 'the upstream verified it');
    assert.equal((await testDb()('memberships').where({ org_id: orgId, account_id: before.id })).length, 1);
    assert.deepEqual(await events(orgId), [
      { type: 'sso_redirect', outcome: 'success', reason: null, account_id: null, email },
      { type: 'identity_linked', outcome: 'success', reason: null, account_id: before.id, email: null },
      { type: 'sso_sign_in', outcome: 'success', reason: null, account_id: before.id, email: null },
      { type: 'sign_in', outcome: 'success', reason: null, account_id: before.id, email: null },
    ]);
    assert.ok((await testDb()('auth_events').where({ org_id: orgId, type: 'sso_sign_in' }).first()).client_id === clientId, 'the event names the application');
    assert.deepEqual(await sessions(orgId), [{ account_id: before.id, provider: 'sso', factors: ['sso', 'upstream:pwd'] }]);

    // The next sign-in (another browser) is a returning one: no second identity, no second link event.
    const again = await redeem(await signIn(config, email));
    assert.equal(again.claims()!.sub, before.id);
    assert.equal((await identities(before.id)).length, 1);
    assert.equal((await events(orgId)).filter((e) => e.type === 'identity_linked').length, 1);
  });

  it('a person with no membership is provisioned just in time as a member', async () => {
    const { orgId, domain, config } = await setup();
    const email = `grace@${domain}`;
    const person = idp.addAccount({ email, emailVerified: true, givenName: 'Grace', familyName: 'Hopper', amr: ['pwd'] });
    assert.equal(await account(email), undefined);

    const tokens = await redeem(await signIn(config, email));
    const created = await account(email);
    assert.ok(created, 'an account was created');
    const claims = tokens.claims()!;
    assert.deepEqual([claims.sub, claims.email, claims.org_id, claims.role, claims.given_name, claims.family_name], [created.id, email, orgId, 'member', 'Grace', 'Hopper']);
    assert.equal(created.email_verified, true);
    const [membership] = await testDb()('memberships').where({ org_id: orgId, account_id: created.id });
    assert.deepEqual([membership.role, membership.status, membership.user_name], ['member', 'active', email]);
    assert.deepEqual(await identities(created.id), [{ provider: idp.issuer, subject: person.sub, org_id: orgId }]);
    assert.deepEqual((await events(orgId)).map((e) => [e.type, e.outcome, e.account_id]), [
      ['sso_redirect', 'success', null],
      ['jit_provisioned', 'success', created.id],
      ['identity_linked', 'success', created.id],
      ['sso_sign_in', 'success', created.id],
      ['sign_in', 'success', created.id],
    ]);
  });

  it('with just-in-time provisioning off, a person with no membership is refused with a page, and nothing is created', async () => {
    const { orgId, domain, config } = await setup({ jitProvisioning: false });
    const email = `newcomer@${domain}`;
    idp.addAccount({ email, emailVerified: true, givenName: 'New', familyName: 'Comer' });

    const { page } = await signIn(config, email);
    assertRefused(page, /do not have access to this application yet/);
    assert.equal(await account(email), undefined, 'no account');
    assert.deepEqual(await events(orgId), [
      { type: 'sso_redirect', outcome: 'success', reason: null, account_id: null, email },
      { type: 'sso_sign_in', outcome: 'failure', reason: 'jit_disabled', account_id: null, email },
    ]);
    assert.deepEqual(await sessions(orgId), []);
  });

  it('an e-mail address the upstream did not verify is refused with a page and an event', async () => {
    const { orgId, scim, domain, config } = await setup();
    const unverified = `unverified@${domain}`;
    const silent = `silent@${domain}`;
    await createUser(scim, unverified);
    idp.addAccount({ email: unverified, emailVerified: false });
    idp.addAccount({ email: silent, emailVerified: undefined }); // says nothing about it

    assertRefused((await signIn(config, unverified)).page, /did not confirm your e-mail address/);
    assertRefused((await signIn(config, silent)).page, /did not confirm your e-mail address/);
    const failures = (await events(orgId)).filter((e) => e.type === 'sso_sign_in');
    assert.deepEqual(failures, [
      { type: 'sso_sign_in', outcome: 'failure', reason: 'email_not_verified', account_id: null, email: unverified },
      { type: 'sso_sign_in', outcome: 'failure', reason: 'email_not_verified', account_id: null, email: silent },
    ]);
    const member = await account(unverified);
    assert.deepEqual(await identities(member.id), [], 'not linked');
    assert.equal(member.email_verified, false);
    assert.equal(await account(silent), undefined, 'not provisioned');
    assert.deepEqual(await sessions(orgId), []);
  });

  it('an address outside the claimed domains (the upstream answers with another one than typed) is refused', async () => {
    const { orgId, domain, config } = await setup();
    const typed = `dan@${domain}`;
    const elsewhere = `dan@${unique('elsewhere-')}.test`;
    idp.addAccount({ email: elsewhere, aliases: [typed], emailVerified: true });

    const { page } = await signIn(config, typed);
    assertRefused(page, /gave an e-mail address this organisation does not sign in with/);
    assert.deepEqual((await events(orgId)).filter((e) => e.type === 'sso_sign_in'), [
      { type: 'sso_sign_in', outcome: 'failure', reason: 'email_outside_domains', account_id: null, email: typed },
    ]);
    assert.equal(await account(elsewhere), undefined);
    assert.equal(await account(typed), undefined);
  });

  it('an upstream that refuses the person: a refusal page, and the failure is an event', async () => {
    const { orgId, domain, config } = await setup();
    const email = `blocked@${domain}`;
    idp.addAccount({ email, emailVerified: true, deny: { error: 'access_denied', description: 'the person is suspended upstream' } });
    const { page } = await signIn(config, email);
    assertRefused(page, /refused or could not complete the sign-in/);
    assert.deepEqual((await events(orgId)).filter((e) => e.type === 'sso_sign_in'), [
      { type: 'sso_sign_in', outcome: 'failure', reason: 'upstream_error', account_id: null, email },
    ]);
    assert.deepEqual(await sessions(orgId), []);
    const [failure] = await testDb()('auth_events').where({ org_id: orgId, type: 'sso_sign_in', outcome: 'failure' }).select('detail');
    assert.equal(failure.detail, 'access_denied: the person is suspended upstream', "the identity provider's own error is kept");
  });

  it('with SSO enforced, the password page never appears, even for an address whose domain no connection claims', async () => {
    const { orgId, owner, config } = await setup({ ssoEnforced: true });
    // The owner's address (owner@<name>.test) is not in the claimed domain, and the owner has a password.
    const browser = new Browser();
    const { page: first } = await authorize(config, browser);
    const posted = await postEmail(browser, first, owner.email);
    assert.equal(posted.status, 303);
    assert.ok(posted.location?.startsWith(`${idp.issuer}/`), `sent to the organisation's identity provider, not ${posted.location}`);
    // The upstream does not know the owner: it answers with an error, and Roster refuses.
    const page = await browser.go(posted.location!, { stopAt: toApp });
    assertRefused(page, /refused or could not complete/);
    assert.notEqual(headingOf(page.html), 'Enter your password');
    assert.deepEqual((await events(orgId)).map((e) => [e.type, e.outcome, e.reason]), [['sso_redirect', 'success', null], ['sso_sign_in', 'failure', 'upstream_error']]);

    // Back to the sign-in (the browser's back button, a reload): still no password page.
    const reload = await browser.go(first.url, { stopAt: toApp });
    const offered = headingOf(reload.html) === 'Enter your password' || formActions(reload.html).some((a) => a.endsWith('/password'));
    if (offered) {
      // The policy must refuse the password anyway (provider_not_allowed): the page should not have been shown.
      let p = await browser.submit(reload, '/password', { password: owner.temporaryPassword! }, { stopAt: toApp });
      if (headingOf(p.html) === 'Choose a new password') p = await browser.submit(p, '/change-password', { password: 'around the identity provider' }, { stopAt: toApp });
      assert.ok(!(p.location && toApp(p.location) && !new URL(p.location).searchParams.get('error')), 'the password signed the owner in although the organisation enforces SSO');
      assert.equal(p.status, 403, `${p.status} ${headingOf(p.html)}`);
      assert.match(alertsOf(p.html).join(' '), /does not allow signing in with a password/);
    }
    assert.deepEqual(await sessions(orgId), []);
    assert.ok(!offered, `after a refused company sign-in, an organisation that enforces SSO offered the password page (${headingOf(reload.html)}); the password was then refused by the policy (provider_not_allowed)`);
  });

  it('a claimed address is never offered the password page: not while the company sign-in is under way, not after it refused', async () => {
    // The owner's own domain is claimed, and the owner has a (temporary) password; the upstream does not know the owner.
    const { orgId, owner, config } = await setup({ claimOwnerDomain: true });
    const problems: string[] = [];
    const browser = new Browser();
    const { page: first, finish } = await authorize(config, browser);
    const posted = await postEmail(browser, first, owner.email);
    assert.ok(posted.location?.startsWith(`${idp.issuer}/`), `sent to the identity provider, not ${posted.location}`);

    // While the person is away at the identity provider, the sign-in page is reloaded (another tab, the back button).
    const during = await browser.go(first.url, { stopAt: toApp });
    if (headingOf(during.html) === 'Enter your password') problems.push('while the company sign-in is under way, the interaction shows the password page');

    const refused = await browser.go(posted.location!, { stopAt: toApp });
    assertRefused(refused, /refused or could not complete/);
    const reload = await browser.go(first.url, { stopAt: toApp });
    if (headingOf(reload.html) === 'Enter your password') {
      problems.push('after the identity provider refused, the interaction shows the password page');
      // What the password does there: the owner signs in with it, around the identity provider's refusal.
      let p = await browser.submit(reload, '/password', { password: owner.temporaryPassword! }, { stopAt: toApp });
      if (headingOf(p.html) === 'Choose a new password') p = await browser.submit(p, '/change-password', { password: 'around the identity provider' }, { stopAt: toApp });
      if (p.location && toApp(p.location) && !new URL(p.location).searchParams.get('error')) {
        const tokens = await finish(p.location);
        problems.push(`the password signed the owner in to the application (amr ${JSON.stringify(tokens.claims()!.amr)}) after the identity provider refused`);
      }
    }
    assert.deepEqual(problems, [], `an address whose domain the connection claims signs in at the identity provider only:\n- ${problems.join('\n- ')}`);
    assert.deepEqual(await sessions(orgId), []);
  });

  it('an address whose domain is not claimed (SSO not enforced) gets the normal password page', async () => {
    const { orgId, owner, config } = await setup();
    const { browser, page: password } = await signIn(config, owner.email);
    assert.equal(password.status, 200, `${password.status} ${password.location ?? ''}`);
    assert.equal(headingOf(password.html), 'Enter your password');
    const change = await browser.submit(password, '/password', { password: owner.temporaryPassword! });
    assert.equal(headingOf(change.html), 'Choose a new password');
    assert.ok(!(await events(orgId)).some((e) => e.type === 'sso_redirect' || e.type === 'sso_sign_in'), 'nothing went to the identity provider');
  });

  it('MFA done upstream (amr mfa) satisfies an organisation that requires MFA: no second factor asked, amr reported', async () => {
    const { orgId, domain, config } = await setup({ requireMfa: true, mfaMethods: ['totp', 'email'] });
    const email = `strong@${domain}`;
    idp.addAccount({ email, emailVerified: true, amr: ['pwd', 'mfa'] });

    const tokens = await redeem(await signIn(config, email));
    const claims = tokens.claims()!;
    assert.deepEqual(claims.amr, ['pwd', 'mfa']);
    assert.equal(claims.acr, ACR_MFA);
    const [session] = await sessions(orgId);
    assert.deepEqual(session.factors, ['sso', 'upstream:pwd', 'upstream:mfa']);
    assert.ok(!(await events(orgId)).some((e) => e.type === 'mfa_verification'), 'no second factor was asked');
    assert.deepEqual(await listOutbox(testDb(), { limit: 10, orgId }), [], 'no code was e-mailed');
  });

  it('without MFA upstream, an organisation that requires MFA by e-mail code asks for the code (read from the outbox)', async () => {
    const { orgId, domain, config } = await setup({ requireMfa: true, mfaMethods: ['email'] });
    const email = `weak@${domain}`;
    idp.addAccount({ email, emailVerified: true, amr: ['pwd'] });

    const { browser, page, finish } = await signIn(config, email);
    assert.equal(page.status, 200, `${page.status} ${page.location}`);
    assert.equal(headingOf(page.html), 'Two-step verification');
    assert.ok(!formActions(page.html).some((a) => a.endsWith('/totp')), 'the organisation allows e-mail codes only');
    const sent = await browser.submit(page, '/email-code/send');
    assert.equal(headingOf(sent.html), 'Two-step verification');
    assert.match(sent.html, /We sent a 6-digit code to/);

    const [queued] = await listOutbox(testDb(), { limit: 10, orgId });
    assert.equal(queued?.to, email);
    const message = await getOutboxMessage(testDb(), queued.id);
    const code = /\b(\d{6})\b/.exec(message.text)?.[1];
    assert.ok(code, `a 6-digit code in the message: ${message.text}`);

    const wrong = await browser.submit(sent, '/email-code', { email_code: code === '000000' ? '111111' : '000000' });
    assert.equal(wrong.status, 401);
    const done = await browser.submit(wrong, '/email-code', { email_code: code }, { stopAt: toApp });
    const tokens = await redeem({ page: done, finish });
    const claims = tokens.claims()!;
    assert.equal(claims.email, email);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(claims.acr, ACR_MFA);
    assert.deepEqual((await events(orgId)).filter((e) => e.type === 'mfa_verification').map((e) => [e.outcome, e.reason]), [['failure', 'mfa_failed'], ['success', null]]);
  });

  it('identity linking off: one identity per account, a second one is refused; on: it is linked', async () => {
    for (const allowIdentityLinking of [false, true]) {
      const { orgId, scim, domain, config } = await setup({ allowIdentityLinking });
      const email = `ada@${domain}`;
      await createUser(scim, email);
      const first = idp.addAccount({ email, emailVerified: true });
      const linked = await redeem(await signIn(config, email));
      const accountId = linked.claims()!.sub;
      assert.deepEqual(await identities(accountId), [{ provider: idp.issuer, subject: first.sub, org_id: orgId }]);

      // The upstream now knows the same address under another subject (a re-created upstream account).
      const second = idp.addAccount({ email, emailVerified: true });
      const { page, finish } = await signIn(config, email);
      if (!allowIdentityLinking) {
        assertRefused(page, /already signs in another way, and this organisation allows only one/);
        assert.deepEqual(await identities(accountId), [{ provider: idp.issuer, subject: first.sub, org_id: orgId }]);
        assert.deepEqual((await events(orgId)).filter((e) => e.outcome === 'failure'), [
          { type: 'sso_sign_in', outcome: 'failure', reason: 'identity_linking_off', account_id: null, email },
        ]);
        assert.equal((await sessions(orgId)).length, 1, 'only the first sign-in');
      } else {
        const tokens = await redeem({ page, finish });
        assert.equal(tokens.claims()!.sub, accountId);
        assert.deepEqual((await identities(accountId)).map((i) => i.subject).sort(), [first.sub, second.sub].sort());
        assert.equal((await events(orgId)).filter((e) => e.type === 'identity_linked').length, 2);
      }
    }
  });

  it('a tampered answer (another state at /sso/callback, or a wrong state at the interaction) gets a 400 page and signs nobody in', async () => {
    const { orgId, domain, config } = await setup();
    const email = `eve@${domain}`;
    idp.addAccount({ email, emailVerified: true });
    const isCallback = (u: string) => u.startsWith(callbackUrl());

    // The browser goes to the upstream and is sent back to the callback: stop there, with the genuine answer.
    const browser = new Browser();
    const { page: first, finish } = await authorize(config, browser);
    const back = await browser.submit(first, '/email', { email }, { stopAt: isCallback });
    assert.ok(back.location && isCallback(back.location), `sent back to ${back.location}`);
    const genuine = new URL(back.location);
    const state = genuine.searchParams.get('state')!;
    const uid = state.slice(0, state.indexOf('.'));
    assert.ok(first.url.includes(`/oidc/interaction/${uid}`), 'the state names this interaction');

    const noSignIn = async () => {
      const seen = await events(orgId);
      assert.ok(!seen.some((e) => e.type === 'sso_sign_in' || e.type === 'sign_in' || e.type === 'identity_linked' || e.type === 'jit_provisioned'), JSON.stringify(seen));
      assert.deepEqual(await sessions(orgId), []);
      assert.equal(await account(email), undefined);
    };
    const assertExpired = (page: PageResult) => {
      assert.equal(page.status, 400, `${page.status} ${page.location ?? ''} ${headingOf(page.html)}`);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      assert.equal(headingOf(page.html), 'This sign-in has expired');
    };

    // 1. The callback with this interaction's uid but another random part.
    const forged = new URL(genuine);
    forged.searchParams.set('state', `${uid}.${client.randomState()}`);
    const forgedPage = await browser.go(forged.toString(), { stopAt: toApp });
    assertExpired(forgedPage);
    await noSignIn();

    // 2. The interaction's own SSO page, with a wrong state (and the genuine code).
    const direct = new URL(`${issuer}/oidc/interaction/${uid}/sso`);
    for (const [k, v] of genuine.searchParams) direct.searchParams.set(k, v);
    direct.searchParams.set('state', 'wrong');
    assertExpired(await browser.go(direct.toString(), { stopAt: toApp }));
    direct.searchParams.delete('state');
    assertExpired(await browser.go(direct.toString(), { stopAt: toApp }));
    await noSignIn();

    // 3. The answer with the state of another browser's sign-in: it leads to that interaction, which is not this browser's.
    const other = new Browser();
    const otherStart = await authorize(config, other);
    const otherBack = await other.submit(otherStart.page, '/email', { email }, { stopAt: isCallback });
    const stolen = new URL(genuine);
    stolen.searchParams.set('state', new URL(otherBack.location!).searchParams.get('state')!);
    assertExpired(await browser.go(stolen.toString(), { stopAt: toApp }));
    await noSignIn();

    // The genuine answer still completes this browser's sign-in: the forgeries changed nothing.
    const done = await browser.go(genuine.toString(), { stopAt: toApp });
    const tokens = await redeem({ page: done, finish });
    assert.equal(tokens.claims()!.email, email);
  });

  it('/sso/callback with a garbage state (or none, or a POST) is a 400 HTML page', async () => {
    const browser = new Browser();
    for (const query of ['?state=garbage&code=abc', '?code=abc', '', '?state=..&code=x', '?state=%3Cscript%3E.x']) {
      const page = await browser.request(`${callbackUrl()}${query}`);
      assert.equal(page.status, 400, `${query}: ${page.status} ${page.location ?? ''}`);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/, query);
      assert.equal(headingOf(page.html), 'This sign-in has expired', query);
      assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
      assert.ok(!page.html.includes('<script'), query);
    }
    const posted = await browser.request(`${callbackUrl()}?state=${'a'.repeat(20)}.b`, { form: { code: 'x' } });
    assert.equal(posted.status, 400);
    // A well-formed state naming no interaction: on to the interaction, which does not exist.
    const unknown = await browser.go(`${callbackUrl()}?state=${'a'.repeat(20)}.b&code=x`, { stopAt: toApp });
    assert.equal(unknown.status, 400, `${unknown.status} ${headingOf(unknown.html)}`);
    assert.match(unknown.headers.get('content-type') ?? '', /^text\/html/);
  });
});

