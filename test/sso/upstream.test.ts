// The relying-party side of upstream SSO against a real OpenID provider (a second oidc-provider instance):
// discovery checked, the code flow with PKCE, state and nonce end to end, and every refusal typed.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Browser } from '../../conformance/oidc/browser.ts';
import { Invalid } from '../../src/directory/errors.ts';
import { checkIssuer, clearDiscoveryCache, finishUpstreamLogin, startUpstreamLogin, type UpstreamConnection, UpstreamError } from '../../src/oidc/upstream.ts';
import { unique } from '../helpers.ts';
import { SSO_CALLBACK, startUpstreamIdp, type UpstreamIdp } from './upstream-idp.ts';

describe('Upstream SSO: the relying party (openid-client against a real OpenID provider)', function () {
  this.timeout(30_000);
  let idp: UpstreamIdp;
  let connection: UpstreamConnection;

  before(async () => {
    idp = await startUpstreamIdp();
    connection = { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret, domains: ['acme.test'] };
  });
  after(async () => {
    await idp.stop();
    clearDiscoveryCache();
  });

  /** The browser's trip through the upstream: from the authorization URL to the callback URL it is sent back to. */
  async function signInUpstream(loginHint: string, c: UpstreamConnection = connection) {
    const started = await startUpstreamLogin({ connection: c, redirectUri: SSO_CALLBACK, loginHint });
    const page = await new Browser().go(started.url, { stopAt: (u) => u.startsWith(SSO_CALLBACK) });
    assert.ok(page.location?.startsWith(SSO_CALLBACK), `not sent back to the callback: ${page.status} ${page.location} ${page.html.slice(0, 200)}`);
    return { started, callbackUrl: page.location! };
  }

  async function refusal(p: Promise<unknown>): Promise<UpstreamError> {
    const err = await p.then(() => null, (e: unknown) => e);
    assert.ok(err instanceof UpstreamError, `expected an UpstreamError, got ${String(err)}`);
    return err;
  }

  it('checkIssuer reads the discovery document and returns the issuer as it spells it', async () => {
    const meta = await checkIssuer(idp.issuer);
    assert.equal(meta.issuer, idp.issuer);
    assert.equal(meta.authorizationEndpoint, `${idp.issuer}/auth`);
    assert.equal(meta.tokenEndpoint, `${idp.issuer}/token`);
    assert.equal(meta.userinfoEndpoint, `${idp.issuer}/me`);
    assert.equal((await checkIssuer(`${idp.issuer}/`)).issuer, idp.issuer, 'a trailing slash names the same issuer');
  });

  it('checkIssuer refuses, with one line, an issuer whose discovery fails: nothing listening, not an OpenID provider, another issuer, plain http off the loopback', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    // A web server that is not an OpenID provider, and one whose document names another issuer.
    const liar: Server = createServer((req, res) => {
      if (req.url === '/other/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer: 'https://elsewhere.example', authorization_endpoint: 'https://elsewhere.example/a', token_endpoint: 'https://elsewhere.example/t', jwks_uri: 'https://elsewhere.example/j' }));
      } else res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>not found</h1>');
    });
    await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
    const liarUrl = `http://127.0.0.1:${(liar.address() as AddressInfo).port}`;
    try {
      for (const [issuer, rule, words] of [
        [deadUrl, 'discovery_failed', /cannot connect \(ECONNREFUSED\)/],
        [liarUrl, 'discovery_failed', /unexpected HTTP response status code \(404\)/],
        [`${liarUrl}/other`, 'discovery_failed', /issuer/],
        ['http://idp.example', 'not_https', /must use https/],
        ['not a url', 'not_absolute', /not an absolute URL/],
      ] as const) {
        const err = await checkIssuer(issuer).then(() => null, (e: unknown) => e);
        assert.ok(err instanceof Invalid, `${issuer}: ${String(err)}`);
        assert.equal(err.rule, rule, `${issuer}: ${err.message}`);
        assert.match(err.message, words);
        assert.doesNotMatch(err.message, /\n/, 'one line');
      }
    } finally {
      await new Promise((resolve) => liar.close(resolve));
    }
  });

  it('signs a person in end to end: code + PKCE S256, state, nonce, login_hint; returns the verified e-mail, names and the upstream amr', async () => {
    const account = idp.addAccount({ email: `${unique('ada')}@Acme.test`, emailVerified: true, givenName: 'Ada', familyName: 'Lovelace', amr: ['pwd', 'otp', 'mfa'] });
    const started = await startUpstreamLogin({ connection, redirectUri: SSO_CALLBACK, loginHint: account.email });
    const url = new URL(started.url);
    assert.equal(url.origin + url.pathname, `${idp.issuer}/auth`);
    const q = Object.fromEntries(url.searchParams);
    assert.deepEqual(
      { client_id: q.client_id, response_type: q.response_type, scope: q.scope, redirect_uri: q.redirect_uri, state: q.state, nonce: q.nonce, method: q.code_challenge_method, hint: q.login_hint },
      { client_id: idp.clientId, response_type: 'code', scope: 'openid email profile', redirect_uri: SSO_CALLBACK, state: started.state, nonce: started.nonce, method: 'S256', hint: account.email },
    );
    assert.match(q.code_challenge, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(q.code_challenge, started.codeVerifier, 'the verifier stays with Roster');
    const page = await new Browser().go(started.url, { stopAt: (u) => u.startsWith(SSO_CALLBACK) });
    const login = await finishUpstreamLogin({ connection, callbackUrl: page.location!, expected: started });
    assert.deepEqual(login, {
      issuer: idp.issuer, subject: account.sub, email: account.email, emailVerified: true, givenName: 'Ada', familyName: 'Lovelace', amr: ['pwd', 'otp', 'mfa'],
    });
  });

  it('refuses an e-mail the upstream does not say is verified (false, or no claim at all)', async () => {
    for (const emailVerified of [false, undefined]) {
      const account = idp.addAccount({ email: `${unique('unverified')}@acme.test`, emailVerified });
      const { started, callbackUrl } = await signInUpstream(account.email);
      const err = await refusal(finishUpstreamLogin({ connection, callbackUrl, expected: started }));
      assert.equal(err.code, 'email_not_verified');
      assert.equal(err.email, account.email);
    }
    const stringly = idp.addAccount({ email: `${unique('stringly')}@acme.test`, emailVerified: 'true' });
    const { started, callbackUrl } = await signInUpstream(stringly.email);
    assert.equal((await finishUpstreamLogin({ connection, callbackUrl, expected: started })).email, stringly.email, 'a provider that says "true" is understood');
  });

  it('refuses an e-mail outside the claimed domains, a subdomain included', async () => {
    for (const email of [`${unique('eve')}@evil.test`, `${unique('sub')}@eu.acme.test`]) {
      const account = idp.addAccount({ email, emailVerified: true });
      const { started, callbackUrl } = await signInUpstream(account.email);
      const err = await refusal(finishUpstreamLogin({ connection, callbackUrl, expected: started }));
      assert.equal(err.code, 'email_outside_domains');
      assert.equal(err.email, email);
    }
  });

  it("reports the upstream's own refusal with its error and description", async () => {
    const account = idp.addAccount({ email: `${unique('denied')}@acme.test`, emailVerified: true, deny: { error: 'access_denied', description: 'the app is not assigned to this user' } });
    const { started, callbackUrl } = await signInUpstream(account.email);
    const err = await refusal(finishUpstreamLogin({ connection, callbackUrl, expected: started }));
    assert.deepEqual([err.code, err.upstreamError, err.upstreamDescription], ['upstream_error', 'access_denied', 'the app is not assigned to this user']);
  });

  it('refuses a callback whose state, nonce or code verifier is not the one of this sign-in', async () => {
    const account = idp.addAccount({ email: `${unique('csrf')}@acme.test`, emailVerified: true });
    const state = await signInUpstream(account.email);
    const wrongState = await refusal(finishUpstreamLogin({ connection, callbackUrl: state.callbackUrl, expected: { ...state.started, state: 'another' } }));
    assert.equal(wrongState.code, 'upstream_invalid_response');
    assert.match(wrongState.message, /state/);
    const nonce = await signInUpstream(account.email);
    const wrongNonce = await refusal(finishUpstreamLogin({ connection, callbackUrl: nonce.callbackUrl, expected: { ...nonce.started, nonce: 'another' } }));
    assert.equal(wrongNonce.code, 'upstream_invalid_response');
    const pkce = await signInUpstream(account.email);
    const wrongVerifier = await refusal(finishUpstreamLogin({ connection, callbackUrl: pkce.callbackUrl, expected: { ...pkce.started, codeVerifier: 'x'.repeat(43) } }));
    assert.deepEqual([wrongVerifier.code, wrongVerifier.upstreamError], ['upstream_error', 'invalid_grant']);
  });

  it('a wrong client secret is the upstream refusing the client (invalid_client)', async () => {
    const account = idp.addAccount({ email: `${unique('secret')}@acme.test`, emailVerified: true });
    const wrong = { ...connection, clientSecret: 'not the secret' };
    const { started, callbackUrl } = await signInUpstream(account.email, wrong);
    const err = await refusal(finishUpstreamLogin({ connection: wrong, callbackUrl, expected: started }));
    assert.deepEqual([err.code, err.upstreamError], ['upstream_error', 'invalid_client']);
  });

  it('an upstream that cannot be reached is upstream_unreachable, not a crash', async () => {
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${(gone.address() as AddressInfo).port}`;
    await new Promise((resolve) => gone.close(resolve));
    const err = await refusal(startUpstreamLogin({ connection: { ...connection, issuer }, redirectUri: SSO_CALLBACK }));
    assert.equal(err.code, 'upstream_unreachable');
  });
});
