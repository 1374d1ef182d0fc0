// Black-box OpenID Connect suite for a Roster deployment, driven by openid-client (a real relying party) and a
// minimal browser (browser.ts) that walks the sign-in pages.
//
//   node conformance/oidc/run.ts --issuer https://id.example.com --client-id <id> --client-secret <secret> \
//     --email <test account> --password <its password> [--new-password <pw>] [--redirect-uri <uri>] [--totp-secret <base32>]
//
// Without a test account it walks what needs none (discovery, JWKS, the client credentials grant,
// introspection, revocation, refusals). With one (--email, --password) it also signs in through the pages with
// the authorization code flow and S256 PKCE, and checks the ID token, refused sign-ins, userinfo, refresh
// rotation and replay, introspection and revocation of the person's tokens, RP-initiated logout and a PKCE
// verifier that does not match. Every sign-in case starts from a new browser (no cookies).
//
// --redirect-uri is one the client registered (default https://conformance.invalid/callback; never fetched:
// the browser stops when it is sent there). --new-password is used only if the deployment asks the account to
// replace a temporary password at its first sign-in; from then on the suite signs in with it (and on a later
// run, when --password is refused, it tries --new-password). --totp-secret is needed only if the account has
// an authenticator app (the organisation requires a second step).
//
// Prints "ok - name" / "not ok - name: reason" (or "skip - name: why") per case, then "N passed, N failed";
// exits 1 when anything failed. It creates nothing but tokens and sign-in sessions, which it revokes or logs
// out where a case is about that; a first run changes a temporary password to --new-password.
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify as verifySignature, type JsonWebKey } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import * as client from 'openid-client';
import { generate as totpCode } from 'otplib';
import { alertsOf, Browser, formActions, headingOf, type PageResult } from './browser.ts';

const usage = `usage: node conformance/oidc/run.ts --issuer <URL> --client-id <id> --client-secret <secret> (a confidential client of the deployment)
  [--email <e-mail> --password <password>]   a test account (a member of the client's organisation) for the sign-in cases
  [--new-password <password>]                 its new password, if the deployment asks it to replace a temporary one
  [--redirect-uri <URI>]                      a redirect URI the client registered (default https://conformance.invalid/callback)
  [--totp-secret <base32>]                    the account's authenticator key, if the sign-in asks for a second step`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      issuer: { type: 'string' }, 'client-id': { type: 'string' }, 'client-secret': { type: 'string' },
      email: { type: 'string' }, password: { type: 'string' }, 'new-password': { type: 'string' },
      'redirect-uri': { type: 'string' }, 'totp-secret': { type: 'string' },
    },
    strict: true,
  }));
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`);
  process.exit(2);
}
const issuer = values.issuer?.replace(/\/+$/, '');
const clientId = values['client-id'];
const secret = values['client-secret'] ?? process.env.OIDC_CLIENT_SECRET;
const email = values.email;
const newPassword = values['new-password'];
const totpSecret = values['totp-secret']?.replace(/\s+/g, '');
const redirectUri = values['redirect-uri'] ?? 'https://conformance.invalid/callback';
if (!issuer || !/^https?:\/\//.test(issuer) || !clientId || !secret || Boolean(email) !== Boolean(values.password) || !URL.canParse(redirectUri)) {
  console.error(usage);
  process.exit(2);
}
const insecure = issuer.startsWith('http:') ? { execute: [client.allowInsecureRequests] } : undefined;

/** The OAuth error code of a refusal: in the body, or (a 401) in the WWW-Authenticate challenge. */
type OAuthFailure = { error?: string; cause?: { parameters?: { error?: string } }[] };
const oauthError = (e: OAuthFailure) => e.error ?? e.cause?.[0]?.parameters?.error;
/** A promise that must be refused with this OAuth error code. */
const refusedWith = (promise: Promise<unknown>, code: string, what: string) =>
  assert.rejects(promise, (e: OAuthFailure) => {
    assert.equal(oauthError(e), code, `${what}: expected ${code}, got ${oauthError(e) ?? (e as Error).message}`);
    return true;
  });

const config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(secret), insecure);
const meta = config.serverMetadata();

// ---------------------------------------------------------------------------------------------------------
// Signing in through the pages.

/** Whether the browser is being sent to the client's redirect URI (the relying party's callback). */
const redirect = new URL(redirectUri);
const atRedirect = (url: string) => {
  const u = new URL(url);
  return u.origin === redirect.origin && u.pathname === redirect.pathname;
};
const offers = (page: PageResult, suffix: string) => formActions(page.html).some((a) => a.endsWith(suffix));
const where = (page: PageResult) => `"${headingOf(page.html)}" (${page.status})${alertsOf(page.html).length ? `: ${alertsOf(page.html).join(' / ')}` : ''}`;

/** The account's password as the suite knows it: --password until it was replaced by --new-password. */
const account = { password: values.password ?? '' };

type Authorization = { page: PageResult; verifier: string; state: string; nonce: string };

/** An authorization request (code, S256 PKCE, state, nonce) opened in `browser`: the page it lands on, or the redirect to the client. */
async function authorize(browser: Browser, scope = 'openid email profile offline_access'): Promise<Authorization> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope, state, nonce, code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const page = await browser.go(url.href, { stopAt: atRedirect });
  return { page, verifier, state, nonce };
}

/** The e-mail step, then the password step with `password`: the page after it. */
async function enterCredentials(browser: Browser, page: PageResult, who: string, password: string): Promise<PageResult> {
  assert.ok(offers(page, '/email'), `expected the sign-in page (an e-mail form), got ${where(page)}`);
  const next = await browser.submit(page, '/email', { email: who });
  assert.ok(offers(next, '/password'), `after the e-mail, expected the password page, got ${where(next)}`);
  return browser.submit(next, '/password', { password }, { stopAt: atRedirect });
}

/** TOTP codes are accepted once per 30-second step: wait for a step not yet used by this run. */
let lastTotpStep = -1;
async function nextTotpCode(): Promise<string> {
  if (!totpSecret) throw new Error('the sign-in asks for a code from an authenticator app: pass --totp-secret');
  let step = Math.floor(Date.now() / 30_000);
  if (step <= lastTotpStep) {
    await sleep((lastTotpStep + 1) * 30_000 - Date.now() + 200);
    step = lastTotpStep + 1;
  }
  lastTotpStep = step;
  return totpCode({ secret: totpSecret, epoch: step * 30 + 1 });
}

/**
 * Signs the account in through the pages in a new browser, as far as the redirect back to the client: e-mail,
 * password, then whatever the deployment asks (a new password in place of a temporary one, a TOTP code).
 */
async function signInToCallback(scope?: string): Promise<{ browser: Browser; auth: Authorization; callback: URL }> {
  const browser = new Browser();
  const auth = await authorize(browser, scope);
  let page = await enterCredentials(browser, auth.page, email!, account.password);
  if (page.status === 401 && newPassword && account.password !== newPassword && offers(page, '/password')) {
    // An earlier run replaced the temporary password: the new one is the account's password now.
    const retry = await browser.submit(page, '/password', { password: newPassword }, { stopAt: atRedirect });
    if (retry.status !== 401) {
      console.log('# --password was refused and --new-password accepted (replaced by an earlier run): signing in with --new-password');
      account.password = newPassword;
    }
    page = retry;
  }
  for (let steps = 0; steps < 5; steps++) {
    if (page.status >= 300 && page.status < 400 && page.location && atRedirect(page.location)) {
      return { browser, auth, callback: new URL(page.location) };
    }
    if (offers(page, '/change-password')) {
      if (!newPassword) throw new Error('the deployment asks the account to choose a new password: pass --new-password');
      page = await browser.submit(page, '/change-password', { password: newPassword }, { stopAt: atRedirect });
      assert.ok(!offers(page, '/change-password'), `--new-password was refused: ${where(page)}`);
      account.password = newPassword;
    } else if (offers(page, '/totp-enrol')) {
      throw new Error('the deployment asks the account to set up an authenticator app first: sign in once by hand, then pass --totp-secret');
    } else if (offers(page, '/totp')) {
      page = await browser.submit(page, '/totp', { code: await nextTotpCode() }, { stopAt: atRedirect });
      // A step's code is accepted once: if an earlier run used this step's, once more with the next step's.
      if (page.status === 401 && offers(page, '/totp')) page = await browser.submit(page, '/totp', { code: await nextTotpCode() }, { stopAt: atRedirect });
      assert.ok(!(page.status === 401 && offers(page, '/totp')), `the TOTP code was refused (is --totp-secret the account's key?): ${where(page)}`);
    } else {
      throw new Error(`the sign-in stopped at ${where(page)}`);
    }
  }
  throw new Error(`the sign-in did not come back to the client: ${where(page)}`);
}

/** The code exchange (with the request's PKCE verifier, state and nonce checked by openid-client). */
const exchange = (auth: Authorization, callback: URL) =>
  client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: auth.verifier, expectedState: auth.state, expectedNonce: auth.nonce, idTokenExpected: true });

/** Signs in through the pages in a new browser and exchanges the code: the tokens, and the browser (signed in). */
async function signIn(scope?: string) {
  const { browser, auth, callback } = await signInToCallback(scope);
  return { browser, tokens: await exchange(auth, callback) };
}

/** A refused sign-in of `who` with `password` in a new browser: the page shown, which must not lead to a code. */
async function refusedSignIn(who: string, password: string) {
  const browser = new Browser();
  const auth = await authorize(browser);
  const page = await enterCredentials(browser, auth.page, who, password);
  assert.ok(!(page.location && atRedirect(page.location)), `the sign-in went back to the client: ${page.location}`);
  assert.ok(page.status >= 400 && page.status < 500, `expected a refusal (4xx), got ${where(page)}`);
  assert.ok(offers(page, '/password'), `expected the password form again, got ${where(page)}`);
  assert.ok(!offers(page, '/change-password') && !offers(page, '/totp'), `a wrong password moved the sign-in on: ${where(page)}`);
  const alerts = alertsOf(page.html);
  assert.ok(alerts.length > 0 && alerts.every((a) => a.length > 0), `no error message on ${where(page)}`);
  assert.ok(!/[?&#]code=/.test(page.html), 'the page carries an authorization code');
  return { status: page.status, heading: headingOf(page.html), alerts };
}
let wrongPasswordPage: ReturnType<typeof refusedSignIn> | undefined;
const wrongPassword = () => (wrongPasswordPage ??= refusedSignIn(email!, `${account.password}-not-${randomBytes(4).toString('hex')}`));

/** Checks the ID token's RS256 signature against the provider's JWKS (openid-client leaves this to the RP over TLS). */
async function assertSignedByProvider(idToken: string): Promise<void> {
  const [h, p, s] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg?: string; kid?: string };
  assert.equal(header.alg, 'RS256', `the ID token is signed with ${header.alg}`);
  const { keys } = (await (await fetch(meta.jwks_uri!)).json()) as { keys: (JsonWebKey & { kid?: string })[] };
  const jwk = keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `the ID token's key ${header.kid} is not in the JWKS`);
  assert.ok(verifySignature('sha256', Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url')), 'the ID token signature does not verify');
}

// ---------------------------------------------------------------------------------------------------------
// The cases.

type Case = [string, () => Promise<void>, { needsAccount?: boolean }?];
const withAccount = { needsAccount: true };

const cases: Case[] = [
  ['discovery: the issuer is the URL asked, every endpoint is under it, only the code flow with S256 PKCE', async () => {
    assert.equal(meta.issuer, issuer);
    for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'introspection_endpoint', 'revocation_endpoint'] as const) {
      assert.ok(String(meta[key]).startsWith(`${issuer}/`), `${key} ${meta[key]} is not under the issuer`);
    }
    assert.deepEqual(meta.response_types_supported, ['code']);
    assert.ok(meta.code_challenge_methods_supported?.includes('S256'));
    assert.ok(meta.token_endpoint_auth_methods_supported?.includes('client_secret_basic'));
  }],
  ['discovery: the code flow for people: authorization_code and refresh_token grants, S256 PKCE (not plain), userinfo and end_session, the ID token claims', async () => {
    for (const grant of ['authorization_code', 'refresh_token']) assert.ok(meta.grant_types_supported?.includes(grant), `grant_types_supported lacks ${grant}`);
    assert.ok(meta.code_challenge_methods_supported?.includes('S256'), 'no S256 PKCE');
    assert.ok(!meta.code_challenge_methods_supported?.includes('plain'), 'plain PKCE is offered');
    for (const key of ['userinfo_endpoint', 'end_session_endpoint'] as const) {
      assert.ok(String(meta[key]).startsWith(`${issuer}/`), `${key} ${meta[key]} is not under the issuer`);
    }
    for (const scope of ['openid', 'email', 'offline_access']) assert.ok(meta.scopes_supported?.includes(scope), `scopes_supported lacks ${scope}`);
    for (const claim of ['sub', 'email', 'org_id', 'amr']) assert.ok(meta.claims_supported?.includes(claim), `claims_supported lacks ${claim}`);
    assert.ok(meta.id_token_signing_alg_values_supported?.includes('RS256'), 'no RS256 ID tokens');
  }],
  ['discovery: every endpoint advertised is served (none answers 404 or 5xx)', async () => {
    const endpoints = Object.entries(meta).filter(([key, value]) => (key.endsWith('_endpoint') || key === 'jwks_uri') && typeof value === 'string') as [string, string][];
    const missing: string[] = [];
    for (const [key, url] of endpoints) {
      // A browser's GET for the pages, an empty (unauthenticated) POST for the back-channel endpoints.
      const get = ['authorization_endpoint', 'end_session_endpoint', 'jwks_uri', 'userinfo_endpoint'].includes(key);
      const res = await fetch(url, get ? { redirect: 'manual' } : { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
      await res.arrayBuffer();
      if (res.status === 404 || res.status >= 500) missing.push(`${key} ${url} answers ${res.status}`);
    }
    assert.deepEqual(missing, [], missing.join('; '));
  }],
  ['JWKS: at least one RS256 signing key, and no private part of any key', async () => {
    const res = await fetch(meta.jwks_uri!);
    assert.equal(res.status, 200);
    const { keys } = (await res.json()) as { keys: Record<string, unknown>[] };
    assert.ok(keys.some((k) => k.kty === 'RSA' && (k.alg === undefined || k.alg === 'RS256') && typeof k.kid === 'string'));
    for (const k of keys) for (const part of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) assert.equal(k[part], undefined, `a key publishes "${part}"`);
  }],
  ['client credentials: a bearer token that introspects as active for this client, until revoked', async () => {
    const token = await client.clientCredentialsGrant(config);
    assert.equal(token.token_type.toLowerCase(), 'bearer');
    assert.ok((token.expires_in ?? 0) > 0);
    const seen = await client.tokenIntrospection(config, token.access_token);
    assert.deepEqual([seen.active, seen.client_id, seen.iss], [true, clientId, issuer]);
    await client.tokenRevocation(config, token.access_token);
    assert.equal((await client.tokenIntrospection(config, token.access_token)).active, false);
  }],
  ['introspection: a token the provider never issued is inactive', async () => {
    assert.equal((await client.tokenIntrospection(config, 'not-a-token-of-this-provider')).active, false);
  }],
  ['refusals: a wrong client secret is invalid_client; an implicit response type is refused', async () => {
    const wrong = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(`${secret}-wrong`), insecure);
    await assert.rejects(client.clientCredentialsGrant(wrong), (e: OAuthFailure) => oauthError(e) === 'invalid_client');
    const url = new URL(meta.authorization_endpoint!);
    url.search = new URLSearchParams({ client_id: clientId, response_type: 'token', scope: 'openid', redirect_uri: 'https://invalid.example/cb', nonce: 'n' }).toString();
    const res = await fetch(url, { redirect: 'manual' });
    assert.ok(res.status >= 400 || /error=/.test(res.headers.get('location') ?? ''), `an implicit request answered ${res.status}`);
  }],

  // With the test account.
  ['sign-in: code + S256 PKCE through the pages; the ID token (RS256, from the JWKS) has sub, email, org_id and amr', async () => {
    const { tokens } = await signIn();
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.ok(tokens.access_token && (tokens.expires_in ?? 0) > 0, 'no access token with a lifetime');
    assert.ok(tokens.refresh_token, 'offline_access gave no refresh token');
    const claims = tokens.claims()!;
    assert.equal(claims.iss, issuer);
    assert.ok([claims.aud].flat().includes(clientId), `aud ${claims.aud} lacks the client`);
    assert.ok(typeof claims.sub === 'string' && claims.sub.length > 0, 'no sub');
    assert.equal(String(claims.email).toLowerCase(), email!.toLowerCase());
    assert.ok(typeof claims.org_id === 'string' && claims.org_id.length > 0, `org_id is ${JSON.stringify(claims.org_id)}`);
    assert.ok(Array.isArray(claims.amr) && claims.amr.includes('pwd'), `amr is ${JSON.stringify(claims.amr)}`);
    await assertSignedByProvider(tokens.id_token!);
  }, withAccount],
  ['sign-in refused: a wrong password gives the password page again with an error, and no code', async () => {
    await wrongPassword();
  }, withAccount],
  ['sign-in refused: an unknown e-mail gives the same page, status and error as a wrong password', async () => {
    const unknown = `conformance-${randomBytes(6).toString('hex')}@${email!.split('@').pop()}`;
    const [known, nobody] = [await wrongPassword(), await refusedSignIn(unknown, `Not-a-password-${randomBytes(6).toString('hex')}`)];
    assert.deepEqual(nobody, known, 'an unknown e-mail is told apart from a wrong password');
  }, withAccount],
  ['userinfo: the signed-in person\'s claims for the access token (same sub, e-mail, org_id); no token or a bad one is refused', async () => {
    const { tokens } = await signIn();
    const claims = tokens.claims()!;
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(String(info.email).toLowerCase(), email!.toLowerCase());
    assert.equal(info.org_id, claims.org_id);
    for (const auth of [undefined, 'Bearer not-a-token-of-this-provider']) {
      const res = await fetch(meta.userinfo_endpoint!, { headers: auth ? { authorization: auth } : {} });
      await res.arrayBuffer();
      assert.equal(res.status, 401, `userinfo ${auth ? 'with a bad token' : 'without a token'} answered ${res.status}`);
    }
  }, withAccount],
  ['refresh: each use rotates the refresh token; replaying a used one is invalid_grant and revokes its successor', async () => {
    const { tokens } = await signIn();
    const first = tokens.refresh_token!;
    assert.ok(first, 'no refresh token');
    const second = await client.refreshTokenGrant(config, first);
    assert.ok(second.refresh_token && second.refresh_token !== first, 'the refresh token did not rotate');
    assert.ok(second.access_token && second.access_token !== tokens.access_token, 'no new access token');
    assert.equal(second.claims()?.sub, tokens.claims()!.sub, 'the refreshed ID token is for someone else');
    assert.equal((await client.fetchUserInfo(config, second.access_token, tokens.claims()!.sub)).sub, tokens.claims()!.sub);
    await refusedWith(client.refreshTokenGrant(config, first), 'invalid_grant', 'a replayed refresh token');
    await refusedWith(client.refreshTokenGrant(config, second.refresh_token), 'invalid_grant', 'the successor of a replayed refresh token');
    assert.equal((await client.tokenIntrospection(config, second.access_token)).active, false, 'the successor\'s access token is still active after the replay');
  }, withAccount],
  ['introspection and revocation of the person\'s tokens: active for this client and person until revoked, then refused', async () => {
    const { tokens } = await signIn();
    const sub = tokens.claims()!.sub;
    const access = await client.tokenIntrospection(config, tokens.access_token);
    assert.deepEqual([access.active, access.client_id, access.sub, access.iss], [true, clientId, sub, issuer]);
    assert.ok(String(access.scope).split(' ').includes('openid'), `scope ${access.scope}`);
    const refresh = await client.tokenIntrospection(config, tokens.refresh_token!);
    assert.deepEqual([refresh.active, refresh.client_id, refresh.sub], [true, clientId, sub]);
    await client.tokenRevocation(config, tokens.access_token);
    assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, false, 'a revoked access token is active');
    await assert.rejects(client.fetchUserInfo(config, tokens.access_token, sub), (e: OAuthFailure) => oauthError(e) === 'invalid_token');
    await client.tokenRevocation(config, tokens.refresh_token!);
    assert.equal((await client.tokenIntrospection(config, tokens.refresh_token!)).active, false, 'a revoked refresh token is active');
    await refusedWith(client.refreshTokenGrant(config, tokens.refresh_token!), 'invalid_grant', 'a revoked refresh token');
  }, withAccount],
  ['logout: RP-initiated logout (id_token_hint, post_logout_redirect_uri, confirmed) returns to the client; the next request shows the sign-in page', async () => {
    const { browser, tokens } = await signIn();
    // Signed in: another request from this browser comes straight back with a code.
    const again = await authorize(browser);
    assert.ok(again.page.location && atRedirect(again.page.location) && new URL(again.page.location).searchParams.has('code'), `a signed-in browser was not sent back with a code: ${where(again.page)}`);
    const state = client.randomState();
    const url = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: redirectUri, state });
    const confirm = await browser.go(url.href, { stopAt: atRedirect });
    assert.equal(confirm.status, 200, `the logout confirmation: ${where(confirm)}`);
    const action = formActions(confirm.html).find((a) => new URL(a, confirm.url).href.startsWith(meta.end_session_endpoint!));
    assert.ok(action, `no logout form on ${where(confirm)}`);
    const done = await browser.submit(confirm, action, { logout: 'yes' }, { stopAt: atRedirect });
    assert.ok(done.location && atRedirect(done.location), `the logout did not return to the client: ${where(done)} ${done.location ?? ''}`);
    assert.equal(new URL(done.location).searchParams.get('state'), state, 'the logout lost the state');
    const after = await authorize(browser);
    assert.ok(!(after.page.location && atRedirect(after.page.location)), 'after logout, the browser was sent back to the client without signing in');
    assert.ok(offers(after.page, '/email'), `after logout, expected the sign-in page, got ${where(after.page)}`);
  }, withAccount],
  ['PKCE: a code verifier that does not match the challenge is refused at the token endpoint (invalid_grant)', async () => {
    const { auth, callback } = await signInToCallback();
    const other = { ...auth, verifier: client.randomPKCECodeVerifier() };
    await refusedWith(exchange(other, callback), 'invalid_grant', 'a mismatched PKCE verifier');
  }, withAccount],
];

let passed = 0;
let failed = 0;
let skipped = 0;
for (const [name, fn, opts] of cases) {
  if (opts?.needsAccount && !email) {
    skipped++;
    console.log(`skip - ${name}: no test account (--email, --password)`);
    continue;
  }
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (err) {
    failed++;
    const cause = (err as { cause?: { message?: string; code?: string } }).cause;
    console.log(`not ok - ${name}: ${(err as Error).message.split('\n')[0]}${cause?.message ? ` (${cause.code ?? cause.message})` : ''}`);
  }
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exitCode = failed > 0 ? 1 : 0;
