// Black-box OpenID Connect suite for a Roster deployment, driven by openid-client (a real relying party).
//
//   node conformance/oidc/run.ts --issuer https://id.example.com --client-id <id> --client-secret <secret>
//
// Walks what the provider serves today (discovery, JWKS, the client credentials grant, introspection,
// revocation, refusals) and prints "ok - name" / "not ok - name: reason" per case, then "N passed, N failed";
// exits 1 when anything failed. It creates nothing but tokens, which it revokes. The sign-in flows (code +
// PKCE with a test account, refresh, userinfo, logout) join it when the sign-in pages exist.
import assert from 'node:assert/strict';
import { parseArgs } from 'node:util';
import * as client from 'openid-client';

const usage = 'usage: node conformance/oidc/run.ts --issuer <URL> --client-id <id> --client-secret <secret> (a confidential client of the deployment)';

let values;
try {
  ({ values } = parseArgs({ options: { issuer: { type: 'string' }, 'client-id': { type: 'string' }, 'client-secret': { type: 'string' } }, strict: true }));
} catch (err) {
  console.error(`${(err as Error).message}\n${usage}`);
  process.exit(2);
}
const issuer = values.issuer?.replace(/\/+$/, '');
const clientId = values['client-id'];
const secret = values['client-secret'] ?? process.env.OIDC_CLIENT_SECRET;
if (!issuer || !/^https?:\/\//.test(issuer) || !clientId || !secret) {
  console.error(usage);
  process.exit(2);
}
const insecure = issuer.startsWith('http:') ? { execute: [client.allowInsecureRequests] } : undefined;

/** The OAuth error code of a refusal: in the body, or (a 401) in the WWW-Authenticate challenge. */
type OAuthFailure = { error?: string; cause?: { parameters?: { error?: string } }[] };
const oauthError = (e: OAuthFailure) => e.error ?? e.cause?.[0]?.parameters?.error;

const config = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(secret), insecure);
const meta = config.serverMetadata();

const cases: [string, () => Promise<void>][] = [
  ['discovery: the issuer is the URL asked, every endpoint is under it, only the code flow with S256 PKCE', async () => {
    assert.equal(meta.issuer, issuer);
    for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'introspection_endpoint', 'revocation_endpoint'] as const) {
      assert.ok(String(meta[key]).startsWith(`${issuer}/`), `${key} ${meta[key]} is not under the issuer`);
    }
    assert.deepEqual(meta.response_types_supported, ['code']);
    assert.ok(meta.code_challenge_methods_supported?.includes('S256'));
    assert.ok(meta.token_endpoint_auth_methods_supported?.includes('client_secret_basic'));
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
];

let passed = 0;
let failed = 0;
for (const [name, fn] of cases) {
  try {
    await fn();
    passed++;
    console.log(`ok - ${name}`);
  } catch (err) {
    failed++;
    console.log(`not ok - ${name}: ${(err as Error).message.split('\n')[0]}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
