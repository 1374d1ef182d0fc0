// Signing in through the pages with a real openid-client as the relying party: code + PKCE, the forced
// change of a temporary password, TOTP, claims, refresh rotation and replay, revocation, logout.
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { generate } from 'otplib';
import { Browser, headingOf } from '../../conformance/oidc/browser.ts';
import { createClient } from '../../src/directory/clients.ts';
import { createOrganization } from '../../src/directory/organizations.ts';
import { hasTotp, resetMfa } from '../../src/directory/mfa.ts';
import type { OidcService } from '../../src/oidc/provider.ts';
import { type Srv, startServer, stopServer } from '../oidc-server.ts';
import { unique } from '../helpers.ts';
import { testDb } from '../setup.ts';

const actor = { type: 'system', id: 'test' } as const;
const REDIRECT = 'https://app.example/callback';

describe('Sign-in (authorization code flow through the pages)', function () {
  this.timeout(60_000);
  let srv: Srv;
  let issuer: string;
  let oidc: OidcService;

  before(async () => {
    srv = await startServer();
    ({ issuer, oidc } = srv);
  });
  after(() => stopServer(srv));

  async function setup() {
    const name = unique('signin-');
    const created = await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
    const { clientId, clientSecret } = await createClient(testDb(), { orgId: created.org.id, actor, redirectUris: [REDIRECT], public: false });
    const config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
    return { created, config, clientId };
  }

  async function authorize(config: client.Configuration, browser: Browser, scope = 'openid email profile offline_access') {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state });
    const page = await browser.go(url.toString(), { stopAt: (u) => u.startsWith(REDIRECT) });
    return { page, finish: (callback: string) => client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state }) };
  }

  it('a new owner signs in with the temporary password, must change it first, and the app gets the claims', async () => {
    const { created, config } = await setup();
    const browser = new Browser();
    const { page, finish } = await authorize(config, browser);
    assert.equal(headingOf(page.html), 'Sign in');
    assert.match(page.html, new RegExp(created.org.name));
    const password = await browser.submit(page, '/email', { email: created.owner.email });
    assert.equal(headingOf(password.html), 'Enter your password');
    const change = await browser.submit(password, '/password', { password: created.owner.temporaryPassword! });
    assert.equal(headingOf(change.html), 'Choose a new password');
    const weak = await browser.submit(change, '/change-password', { password: 'password123' });
    assert.equal(weak.status, 422);
    const done = await browser.submit(weak, '/change-password', { password: 'correct horse battery staple' }, { stopAt: (u) => u.startsWith(REDIRECT) });
    assert.equal(done.status, 303, done.html.slice(0, 300));
    assert.ok(done.location?.startsWith(REDIRECT), String(done.location));
    const tokens = await finish(done.location!);
    const claims = tokens.claims()!;
    assert.equal(claims.email, created.owner.email);
    assert.equal(claims.org_id, created.org.id);
    assert.equal(claims.org_name, created.org.name);
    assert.equal(claims.role, 'owner');
    assert.deepEqual(claims.amr, ["pwd"]);
    assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.email, created.owner.email);
  });

  it('TOTP: an organisation that requires MFA makes the person enrol before the app gets a code; the next sign-in asks for the code', async () => {
    const { created, config } = await setup();
    await testDb()('organizations').where({ id: created.org.id }).update({ require_mfa: true, mfa_methods: testDb().raw("'{totp}'::text[]") });
    const browser = new Browser();
    let { page } = await authorize(config, browser);
    page = await browser.submit(page, '/email', { email: created.owner.email });
    page = await browser.submit(page, '/password', { password: created.owner.temporaryPassword! });
    page = await browser.submit(page, '/change-password', { password: 'a long enough passphrase' });
    assert.equal(headingOf(page.html), 'Set up an authenticator app');
    const secret = /id="totp-secret">([^<]+)</.exec(page.html)![1].replace(/\s+/g, '');
    page = await browser.submit(page, '/totp-enrol', { code: await generate({ secret }) });
    assert.equal(headingOf(page.html), 'Save your recovery codes');
    const codes = [...page.html.matchAll(/<li>([a-z0-9-]+)<\/li>/g)].map((m) => m[1]);
    assert.equal(codes.length, 10);
    page = await browser.submit(page, '/continue', {}, { stopAt: (u) => u.startsWith(REDIRECT) });
    assert.ok(page.location?.startsWith(REDIRECT), page.html.slice(0, 400));

    // A new browser: password, then the second factor (a recovery code works once).
    const other = new Browser();
    const second = await authorize(config, other);
    let p = await other.submit(second.page, '/email', { email: created.owner.email });
    p = await other.submit(p, '/password', { password: 'a long enough passphrase' });
    assert.equal(headingOf(p.html), 'Two-step verification');
    const wrong = await other.submit(p, '/totp', { code: '000000' });
    assert.equal(wrong.status, 401);
    p = await other.submit(wrong, '/recovery', { recovery_code: codes[0] }, { stopAt: (u) => u.startsWith(REDIRECT) });
    assert.ok(p.location?.startsWith(REDIRECT));
    const tokens = await second.finish(p.location!);
    assert.deepEqual(tokens.claims()!.amr, ['pwd', 'otp', 'mfa']);
  });

  it('a public client must use PKCE: without it the request is refused, with it the person signs in (no secret anywhere)', async () => {
    const name = unique('public-');
    const created = await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` });
    const { clientId, clientSecret } = await createClient(testDb(), { orgId: created.org.id, actor, redirectUris: [REDIRECT], public: true });
    assert.equal(clientSecret, null);
    const config = await client.discovery(new URL(issuer), clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    const browser = new Browser();
    const without = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', state: 's' });
    const refused = await browser.go(without.toString(), { stopAt: (u) => u.startsWith(REDIRECT) });
    assert.ok(refused.location?.startsWith(REDIRECT), refused.html.slice(0, 200));
    assert.equal(new URL(refused.location!).searchParams.get('error'), 'invalid_request');
    assert.match(new URL(refused.location!).searchParams.get('error_description') ?? '', /PKCE/);

    const { page, finish } = await authorize(config, browser, 'openid email');
    let p = await browser.submit(page, '/email', { email: created.owner.email });
    p = await browser.submit(p, '/password', { password: created.owner.temporaryPassword! });
    p = await browser.submit(p, '/change-password', { password: 'public client passphrase' }, { stopAt: (u) => u.startsWith(REDIRECT) });
    const tokens = await finish(p.location!);
    assert.equal(tokens.claims()!.email, created.owner.email);
  });

  it('resetting MFA (by the managing organisation only) deletes the factor and ends the person\'s sessions there', async () => {
    const { created, config } = await setup();
    await testDb()('organizations').where({ id: created.org.id }).update({ require_mfa: true, mfa_methods: testDb().raw("'{totp}'::text[]") });
    const browser = new Browser();
    let { page, finish } = await authorize(config, browser);
    page = await browser.submit(page, '/email', { email: created.owner.email });
    page = await browser.submit(page, '/password', { password: created.owner.temporaryPassword! });
    page = await browser.submit(page, '/change-password', { password: 'reset me later please' });
    const secret = /id="totp-secret">([^<]+)</.exec(page.html)![1].replace(/\s+/g, '');
    page = await browser.submit(page, '/totp-enrol', { code: await generate({ secret }) });
    page = await browser.submit(page, '/continue', {}, { stopAt: (u) => u.startsWith(REDIRECT) });
    const tokens = await finish(page.location!);
    const accountId = created.owner.accountId;

    const other = await createOrganization(testDb(), { name: unique('other-'), ownerEmail: `boss@${unique('o')}.test` });
    await assert.rejects(resetMfa(testDb(), { orgId: other.org.id, accountId, by: actor }), /no account this organisation manages/);
    assert.equal(await hasTotp(testDb(), accountId), true, 'another organisation cannot reset it');

    await resetMfa(testDb(), { orgId: created.org.id, accountId, by: actor });
    assert.equal(await hasTotp(testDb(), accountId), false);
    await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token!), (e: { error?: string }) => e.error === 'invalid_grant');
    const live = await testDb()('sessions').where({ org_id: created.org.id, account_id: accountId }).whereNull('revoked_at');
    assert.equal(live.length, 0);
    const again = await authorize(config, browser);
    assert.equal(headingOf(again.page.html), 'Sign in', 'the browser must sign in again');
  });
});
