// What a sign-in leaves behind and how it ends, with a real openid-client as the relying party: refresh
// token rotation and replay detection (one use after another, and several at once), single use of a code,
// introspection and revocation, userinfo and the ID token's claims, RP-initiated logout, an admin revoking a
// session (also in a browser signed in to two organisations), SCIM deactivation, and the session and
// auth-event views.
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { Browser, headingOf, type PageResult } from '../../conformance/oidc/browser.ts';
import { listAuthEvents } from '../../src/directory/auth-events.ts';
import { createClient } from '../../src/directory/clients.ts';
import { ACR_ONE_FACTOR } from '../../src/directory/login-policy.ts';
import { listSessions, revokeSession } from '../../src/directory/sessions.ts';
import type { OidcService } from '../../src/oidc/provider.ts';
import { type Srv, startServer, stopServer } from '../oidc-server.ts';
import { createUser, newOrg, type TestOrg, unique } from '../helpers.ts';
import { testDb } from '../setup.ts';

const actor = { type: 'system', id: 'test' } as const;
const REDIRECT = 'https://app.example/callback';
const PASSWORD = 'a long enough passphrase for the sessions test';
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1';

/** The token endpoint refused the grant with `invalid_grant`. */
const invalidGrant = (err: unknown) => {
  assert.ok(err instanceof client.ResponseBodyError, `expected an OAuth error response, got ${String(err)}`);
  assert.equal(err.error, 'invalid_grant', `${err.error}: ${err.error_description}`);
  return true;
};

describe('Sign-in sessions: tokens, logout and revocation through the provider', function () {
  this.timeout(60_000);
  let srv: Srv;
  let issuer: string;
  let oidc: OidcService;

  before(async () => {
    srv = await startServer();
    ({ issuer, oidc } = srv);
  });
  after(() => stopServer(srv));

  type Person = { org: TestOrg; config: client.Configuration; clientId: string; email: string; password: string; accountId: string; memberId: string };

  /** An organisation with a confidential client, and a member (created over SCIM, with a password) to sign in. */
  async function setup(): Promise<Person> {
    const org = await newOrg();
    const { clientId, clientSecret } = await createClient(testDb(), { orgId: org.org.id, actor, redirectUris: [REDIRECT], public: false });
    const config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(clientSecret!), { execute: [client.allowInsecureRequests] });
    const email = `${unique('member-')}@example.test`;
    const user = await createUser(org.scim, email, { password: PASSWORD });
    const membership = await testDb()('memberships').where({ org_id: org.org.id, id: user.id }).first('account_id');
    return { org, config, clientId, email, password: PASSWORD, accountId: membership.account_id, memberId: user.id };
  }

  async function authorize(config: client.Configuration, browser: Browser, scope = 'openid email profile offline_access') {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state, nonce });
    const page = await browser.go(url.toString(), { stopAt: (u) => u.startsWith(REDIRECT) });
    return { page, finish: (callback: string) => client.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce }) };
  }

  /** Walks e-mail and password to the application's redirect URI; returns the tokens. */
  async function signIn(p: Person, browser: Browser) {
    const { page, finish } = await authorize(p.config, browser);
    assert.equal(headingOf(page.html), 'Sign in', page.html.slice(0, 400));
    const passwordPage = await browser.submit(page, '/email', { email: p.email });
    assert.equal(headingOf(passwordPage.html), 'Enter your password');
    const done = await browser.submit(passwordPage, '/password', { password: p.password }, { stopAt: (u) => u.startsWith(REDIRECT) });
    assert.ok(done.location?.startsWith(REDIRECT), `expected the redirect to the application, got ${done.status}: ${done.html.slice(0, 400)}`);
    return finish(done.location!);
  }

  /** A new authorization request in this browser: straight back to the application (a live session), or a page. */
  async function again(p: Person, browser: Browser): Promise<PageResult> {
    return (await authorize(p.config, browser)).page;
  }

  const sessionRows = (p: Person) => testDb()('sessions').where({ org_id: p.org.org.id, account_id: p.accountId }).orderBy('created_at', 'desc');

  it('refresh tokens rotate: each refresh gives a new one; a reused one is refused, and so is its successor (the grant is revoked)', async () => {
    const p = await setup();
    const tokens = await signIn(p, new Browser());
    const first = tokens.refresh_token!;
    assert.ok(first, 'offline_access gives a refresh token');

    const second = await client.refreshTokenGrant(p.config, first);
    assert.ok(second.refresh_token, 'a refresh gives a refresh token');
    assert.notEqual(second.refresh_token, first, 'a new one');
    assert.notEqual(second.access_token, tokens.access_token);
    const third = await client.refreshTokenGrant(p.config, second.refresh_token!);
    assert.ok(third.refresh_token);
    assert.notEqual(third.refresh_token, second.refresh_token, 'a new one again');
    assert.notEqual(third.refresh_token, first);
    assert.equal((await client.tokenIntrospection(p.config, third.access_token)).active, true, 'the newest access token works');

    // The second refresh token was used already: replaying it is refused...
    await assert.rejects(client.refreshTokenGrant(p.config, second.refresh_token!), invalidGrant);
    // ...and revokes the whole grant: its successor (the live refresh token) and the access tokens stop too.
    await assert.rejects(client.refreshTokenGrant(p.config, third.refresh_token!), invalidGrant);
    assert.equal((await client.tokenIntrospection(p.config, third.access_token)).active, false, 'the grant\'s access token is revoked');
    await assert.rejects(client.refreshTokenGrant(p.config, first), invalidGrant);
  });

  it('a refresh token used several times at once (a race, as across instances): at most one use succeeds, and the reuse revokes the grant', async () => {
    const p = await setup();
    const tokens = await signIn(p, new Browser());
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => client.refreshTokenGrant(p.config, tokens.refresh_token!)));
    const succeeded = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    const refused = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
    for (const err of refused) invalidGrant(err);
    assert.ok(succeeded.length <= 1, `one refresh token was exchanged ${succeeded.length} times at once: replay detection must not depend on timing`);
    // The reuse was detected: whatever was issued under the grant stops, as with a replay one after the other.
    for (const t of succeeded) await assert.rejects(client.refreshTokenGrant(p.config, t.refresh_token!), invalidGrant);
  });

  it('an authorization code redeemed several times at once: at most one redemption succeeds, and the reuse revokes the grant', async () => {
    const p = await setup();
    const browser = new Browser();
    const { page, finish } = await authorize(p.config, browser);
    let step = await browser.submit(page, '/email', { email: p.email });
    step = await browser.submit(step, '/password', { password: p.password }, { stopAt: (u) => u.startsWith(REDIRECT) });
    assert.ok(step.location?.startsWith(REDIRECT), `${step.status}: ${step.html.slice(0, 300)}`);
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => finish(step.location!)));
    const succeeded = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    for (const r of results) if (r.status === 'rejected') invalidGrant(r.reason);
    assert.ok(succeeded.length <= 1, `one authorization code was redeemed ${succeeded.length} times at once`);
    for (const t of succeeded) await assert.rejects(client.refreshTokenGrant(p.config, t.refresh_token!), invalidGrant);
  });

  it('introspection describes the access token (active, sub, client_id); revoking the refresh token makes it unusable', async () => {
    const p = await setup();
    const tokens = await signIn(p, new Browser());
    const sub = tokens.claims()!.sub;
    assert.equal(sub, p.accountId);

    const info = await client.tokenIntrospection(p.config, tokens.access_token);
    assert.equal(info.active, true);
    assert.equal(info.sub, p.accountId);
    assert.equal(info.client_id, p.clientId);
    const refreshInfo = await client.tokenIntrospection(p.config, tokens.refresh_token!);
    assert.equal(refreshInfo.active, true, 'the refresh token introspects as active too');

    await client.tokenRevocation(p.config, tokens.refresh_token!);
    assert.equal((await client.tokenIntrospection(p.config, tokens.refresh_token!)).active, false, 'the revoked refresh token is inactive');
    await assert.rejects(client.refreshTokenGrant(p.config, tokens.refresh_token!), invalidGrant);
  });

  it('userinfo gives email, org_id, org_name and role; the ID token has amr ["pwd"] and the one-factor acr', async () => {
    const p = await setup();
    const tokens = await signIn(p, new Browser());
    const claims = tokens.claims()!;
    assert.equal(claims.sub, p.accountId);
    assert.deepEqual(claims.amr, ['pwd']);
    assert.equal(claims.acr, ACR_ONE_FACTOR);
    assert.equal(typeof claims.auth_time, 'number');
    assert.equal(claims.email, p.email);
    assert.equal(claims.org_id, p.org.org.id);

    const info = await client.fetchUserInfo(p.config, tokens.access_token, claims.sub);
    assert.equal(info.sub, p.accountId);
    assert.equal(info.email, p.email);
    assert.equal(info.org_id, p.org.org.id);
    assert.equal(info.org_name, p.org.org.name);
    assert.equal(info.role, 'member');
  });

  it('RP-initiated logout: confirmed, back at post_logout_redirect_uri; the session is revoked (logout), its refresh token refused, and the browser must sign in again', async () => {
    const p = await setup();
    const browser = new Browser();
    const tokens = await signIn(p, browser);
    // With a live session the same browser goes straight back to the application.
    const silent = await again(p, browser);
    assert.ok(silent.location?.startsWith(REDIRECT), `a live session signs in without a page: ${silent.status} ${headingOf(silent.html)}`);

    const endSession = client.buildEndSessionUrl(p.config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: REDIRECT, state: 'after-logout' });
    assert.ok(endSession.toString().startsWith(`${issuer}/oidc/session/end`), endSession.toString());
    const confirm = await browser.go(endSession.toString(), { stopAt: (u) => u.startsWith(REDIRECT) });
    assert.equal(confirm.status, 200, confirm.html.slice(0, 400));
    assert.equal(headingOf(confirm.html), 'Sign out?');
    const form = /<form\b[^>]*>[\s\S]*?<\/form>/i.exec(confirm.html)?.[0] ?? '';
    assert.match(form, /<input[^>]*type="hidden"[^>]*name="xsrf"/, 'the form carries its CSRF token');
    assert.match(confirm.html, /<button[^>]*type="submit"[^>]*value="yes"[^>]*name="logout"/);
    const out = await browser.submit(confirm, '/session/end/confirm', { logout: 'yes' }, { stopAt: (u) => u.startsWith(REDIRECT) });
    assert.ok(out.location, `expected a redirect, got ${out.status}: ${out.html.slice(0, 400)}`);
    const back = new URL(out.location);
    assert.equal(`${back.origin}${back.pathname}`, REDIRECT);
    assert.equal(back.searchParams.get('state'), 'after-logout');

    const [row] = await sessionRows(p);
    assert.ok(row, 'the sign-in recorded a session');
    assert.notEqual(row.revoked_at, null, 'the session is revoked');
    assert.equal(row.revoked_reason, 'logout');
    const logoutEvents = await testDb()('auth_events').where({ org_id: p.org.org.id, account_id: p.accountId, type: 'logout' });
    assert.equal(logoutEvents.length, 1, 'one logout event');
    await assert.rejects(client.refreshTokenGrant(p.config, tokens.refresh_token!), invalidGrant);

    const next = await again(p, browser);
    assert.equal(next.status, 200, `${next.status} ${next.location}`);
    assert.equal(headingOf(next.html), 'Sign in');
  });

  it('an admin revoking one session: its refresh token is refused at once, and that browser is sent back to sign-in', async () => {
    const p = await setup();
    const browser = new Browser();
    const tokens = await signIn(p, browser);
    const other = new Browser();
    const otherTokens = await signIn(p, other);
    const silent = await again(p, browser);
    assert.ok(silent.location?.startsWith(REDIRECT), 'a live session signs in without a page');

    const live = await listSessions(testDb(), { orgId: p.org.org.id, accountId: p.accountId, limit: 10 });
    assert.equal(live.length, 2, 'one session per browser');
    // The first browser's session is the older one (newest first).
    const target = live[1];
    await revokeSession(testDb(), { orgId: p.org.org.id, sessionId: target.id, by: { type: 'user', id: 'admin-1' } });

    await assert.rejects(client.refreshTokenGrant(p.config, tokens.refresh_token!), invalidGrant);
    const next = await again(p, browser);
    assert.equal(next.status, 200, `${next.status} ${next.location}`);
    assert.equal(headingOf(next.html), 'Sign in');

    // The other browser's session is untouched.
    const refreshed = await client.refreshTokenGrant(p.config, otherTokens.refresh_token!);
    assert.ok(refreshed.refresh_token);
    assert.ok((await again(p, other)).location?.startsWith(REDIRECT), 'the other browser still signs in without a page');
    const after = await listSessions(testDb(), { orgId: p.org.org.id, accountId: p.accountId, all: true, limit: 10 });
    const revoked = after.find((s) => s.id === target.id)!;
    assert.equal(revoked.revokedReason, 'revoked_by_admin');
    assert.equal(revoked.revokedBy, 'user:admin-1');
    assert.deepEqual(after.filter((s) => s.revokedAt === null).map((s) => s.id), [live[0].id]);
  });

  it('a sign-in without offline_access: revoking its session (admin) revokes the access token it was given at once', async () => {
    const p = await setup();
    const browser = new Browser();
    const { page, finish } = await authorize(p.config, browser, 'openid email');
    let step = await browser.submit(page, '/email', { email: p.email });
    step = await browser.submit(step, '/password', { password: p.password }, { stopAt: (u) => u.startsWith(REDIRECT) });
    assert.ok(step.location?.startsWith(REDIRECT), `${step.status}: ${step.html.slice(0, 300)}`);
    const tokens = await finish(step.location!);
    assert.equal(tokens.refresh_token, undefined, 'no offline_access, no refresh token');
    assert.equal((await client.tokenIntrospection(p.config, tokens.access_token)).active, true);

    const [session] = await listSessions(testDb(), { orgId: p.org.org.id, accountId: p.accountId, limit: 10 });
    await revokeSession(testDb(), { orgId: p.org.org.id, sessionId: session.id, by: { type: 'user', id: 'admin-1' } });
    assert.equal((await client.tokenIntrospection(p.config, tokens.access_token)).active, false, 'the access token issued under the revoked session is revoked with it');
    assert.equal(headingOf((await again(p, browser)).html), 'Sign in');
  });

  it('a browser signed in to two organisations: revoking the session of one revokes its tokens (without offline_access too) and re-prompts only its applications', async () => {
    const a = await setup();
    // The same person in a second organisation, signing in from the same browser (the password is the
    // person's own, set through an e-mailed link: it opens B's applications too).
    const orgB = await newOrg();
    const { clientId: clientIdB, clientSecret: secretB } = await createClient(testDb(), { orgId: orgB.org.id, actor, redirectUris: [REDIRECT], public: false });
    const configB = await client.discovery(new URL(issuer), clientIdB, undefined, client.ClientSecretBasic(secretB!), { execute: [client.allowInsecureRequests] });
    await createUser(orgB.scim, a.email);
    await testDb()('accounts').where({ id: a.accountId }).update({ email_verified: true, password_set_by_org_id: null });
    const b: Person = { ...a, org: orgB, config: configB, clientId: clientIdB };

    const browser = new Browser();
    const walk = async (p: Person, scope: string) => {
      const { page, finish } = await authorize(p.config, browser, scope);
      assert.equal(headingOf(page.html), 'Sign in', `${p.org.org.name}: ${page.status} ${page.location}`);
      let step = await browser.submit(page, '/email', { email: p.email });
      step = await browser.submit(step, '/password', { password: p.password }, { stopAt: (u) => u.startsWith(REDIRECT) });
      assert.ok(step.location?.startsWith(REDIRECT), `${step.status}: ${step.html.slice(0, 300)}`);
      return finish(step.location!);
    };
    const tokensA = await walk(a, 'openid email');
    const tokensB = await walk(b, 'openid email offline_access');
    assert.equal(tokensA.refresh_token, undefined);
    assert.equal(tokensA.claims()!.org_id, a.org.org.id);
    assert.equal(tokensB.claims()!.org_id, orgB.org.id);

    const [sessionA] = await listSessions(testDb(), { orgId: a.org.org.id, accountId: a.accountId, limit: 10 });
    await revokeSession(testDb(), { orgId: a.org.org.id, sessionId: sessionA.id, by: { type: 'user', id: 'admin-a' } });

    assert.equal((await client.tokenIntrospection(a.config, tokensA.access_token)).active, false, "the access token issued under A's revoked session is revoked with it");
    assert.equal(headingOf((await again(a, browser)).html), 'Sign in', "A's applications ask for sign-in again");
    // B's session, and what was issued under it, is B's business.
    assert.equal((await client.tokenIntrospection(b.config, tokensB.access_token)).active, true);
    assert.ok((await client.refreshTokenGrant(b.config, tokensB.refresh_token!)).refresh_token);
    assert.ok((await again(b, browser)).location?.startsWith(REDIRECT), "B's applications still sign in without a page");
  });

  it('deactivating the member over SCIM revokes the sessions: refresh refused; signing in again is denied and recorded as deactivated', async () => {
    const p = await setup();
    const browser = new Browser();
    const tokens = await signIn(p, browser);

    const res = await p.org.scim.patch(`/Users/${p.memberId}`, [{ op: 'replace', value: { active: false } }]);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.active, false);

    await assert.rejects(client.refreshTokenGrant(p.config, tokens.refresh_token!), invalidGrant);
    assert.equal((await client.tokenIntrospection(p.config, tokens.access_token)).active, false, 'the access token is revoked too');
    const [row] = await sessionRows(p);
    assert.notEqual(row.revoked_at, null);
    assert.equal(row.revoked_reason, 'member_deactivated');

    const page = await again(p, browser);
    assert.equal(headingOf(page.html), 'Sign in', 'the browser must sign in again');
    const passwordPage = await browser.submit(page, '/email', { email: p.email });
    const denied = await browser.submit(passwordPage, '/password', { password: p.password }, { stopAt: (u) => u.startsWith(REDIRECT) });
    assert.equal(denied.status, 403, `${denied.status} ${denied.location} ${denied.html.slice(0, 300)}`);
    assert.equal(headingOf(denied.html), 'You cannot sign in here');

    const { events } = await listAuthEvents(testDb(), { orgId: p.org.org.id, accountId: p.accountId, limit: 20 });
    const failure = events.find((e) => e.type === 'sign_in' && e.outcome === 'failure');
    assert.ok(failure, `a failed sign-in is recorded: ${JSON.stringify(events.map((e) => [e.type, e.outcome, e.reason]))}`);
    assert.equal(failure.reason, 'deactivated');
    assert.ok(events.some((e) => e.type === 'session_revoked' && e.reason === 'member_deactivated'), 'the revocation is recorded');
  });

  it('listSessions shows the session (device, ip, factors, provider, client); listAuthEvents lists the successful sign-in and the failures with reasons', async () => {
    const p = await setup();
    const browser = new Browser({ userAgent: IPHONE });
    const nobody = `${unique('nobody-')}@example.test`;

    // Two failures first: an address without an account, then a wrong password.
    const { page, finish } = await authorize(p.config, browser);
    let step = await browser.submit(page, '/email', { email: nobody });
    step = await browser.submit(step, '/password', { password: 'not the password at all' });
    assert.equal(step.status, 401);
    step = await browser.submit(step, '/restart');
    assert.equal(headingOf(step.html), 'Sign in');
    step = await browser.submit(step, '/email', { email: p.email });
    step = await browser.submit(step, '/password', { password: 'not the password either' });
    assert.equal(step.status, 401);
    const done = await browser.submit(step, '/password', { password: p.password }, { stopAt: (u) => u.startsWith(REDIRECT) });
    assert.ok(done.location?.startsWith(REDIRECT), `${done.status}: ${done.html.slice(0, 300)}`);
    await finish(done.location!);

    const sessions = await listSessions(testDb(), { orgId: p.org.org.id, accountId: p.accountId, limit: 10 });
    assert.equal(sessions.length, 1);
    const [s] = sessions;
    assert.equal(s.accountId, p.accountId);
    assert.equal(s.clientId, p.clientId);
    assert.equal(s.provider, 'password');
    assert.deepEqual(s.factors, ['pwd']);
    assert.equal(s.device, 'Mobile Safari on iOS (Apple iPhone)');
    assert.equal(s.ip, '127.0.0.1');
    assert.equal(s.revokedAt, null);
    assert.ok(s.expiresAt > s.createdAt);

    const { events } = await listAuthEvents(testDb(), { orgId: p.org.org.id, limit: 50 });
    const signIns = events.filter((e) => e.type === 'sign_in');
    const success = signIns.filter((e) => e.outcome === 'success');
    assert.equal(success.length, 1);
    assert.equal(success[0].accountId, p.accountId);
    assert.equal(success[0].clientId, p.clientId);
    assert.equal(success[0].device, 'Mobile Safari on iOS (Apple iPhone)');
    assert.equal(success[0].ip, '127.0.0.1');
    const failures = signIns.filter((e) => e.outcome === 'failure').map((e) => ({ reason: e.reason, email: e.email }));
    assert.deepEqual(failures.sort((a, b) => String(a.reason).localeCompare(String(b.reason))), [
      { reason: 'unknown_account', email: nobody },
      { reason: 'wrong_password', email: p.email },
    ]);
    // Newest first: the success came last.
    assert.equal(signIns[0].outcome, 'success');
  });
});
