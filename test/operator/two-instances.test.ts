// Two instances of one deployment: real server processes on one PostgreSQL database, with one SECRET and
// one ISSUER. A sign-in on one instance gives tokens that the other refreshes and revokes, and a revocation
// on one is honoured by the other at once. The embedded database belongs to one process, so PostgreSQL only.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import * as client from 'openid-client';
import { Browser, headingOf } from '../../conformance/oidc/browser.ts';
import { unique } from '../helpers.ts';
import { databaseKind, testDatabaseUrl } from '../setup.ts';
import { killAll, runCli, type Server, startServer } from './processes.ts';

const REDIRECT = 'https://app.example/callback';

/** A port nobody listens on (taken, then given back). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The token endpoint refused the grant with `invalid_grant`. */
const invalidGrant = (err: unknown) => {
  assert.ok(err instanceof client.ResponseBodyError, `expected an OAuth error response, got ${String(err)}`);
  assert.equal(err.error, 'invalid_grant', `${err.error}: ${err.error_description}`);
  return true;
};

/** The same client, speaking to the token, revocation and introspection endpoints of another instance. */
function atInstance(config: client.Configuration, base: string, clientId: string, clientSecret: string): client.Configuration {
  const metadata = JSON.parse(JSON.stringify(config.serverMetadata())) as client.ServerMetadata; // without its helper methods
  const moved = (endpoint: string | undefined) => {
    if (!endpoint) return endpoint;
    const u = new URL(endpoint);
    const b = new URL(base);
    u.protocol = b.protocol;
    u.host = b.host;
    return u.toString();
  };
  const other = new client.Configuration(
    { ...metadata, token_endpoint: moved(metadata.token_endpoint), revocation_endpoint: moved(metadata.revocation_endpoint), introspection_endpoint: moved(metadata.introspection_endpoint), userinfo_endpoint: moved(metadata.userinfo_endpoint) },
    clientId, undefined, client.ClientSecretBasic(clientSecret),
  );
  client.allowInsecureRequests(other);
  return other;
}

// Two processes share a database only on PostgreSQL (the embedded one is one process's by design, which the
// data-lock tests prove), so this suite exists in the PostgreSQL run, the one CI always makes.
if (databaseKind() === 'postgresql') describe('two instances on one PostgreSQL database', function () {
  this.timeout(5 * 60_000);
  const servers: Server[] = [];
  let issuer: string;
  let base2: string;
  let clientId: string;
  let config1: client.Configuration;
  let config2: client.Configuration;
  let owner: { email: string; temporaryPassword: string };
  let password: string;

  before(async () => {
    const databaseUrl = testDatabaseUrl()!;
    const port1 = await freePort();
    issuer = `http://127.0.0.1:${port1}`;
    // One deployment: the same database, SECRET (childEnv gives every PostgreSQL process the run's) and ISSUER.
    const first = await startServer({ DATABASE_URL: databaseUrl, PORT: String(port1), ISSUER: issuer });
    servers.push(first);
    const second = await startServer({ DATABASE_URL: databaseUrl, ISSUER: issuer });
    servers.push(second);
    assert.equal(first.port, port1);
    assert.notEqual(second.port, first.port);
    base2 = `http://127.0.0.1:${second.port}`;

    const email = `${unique('owner-')}@example.test`;
    const org = await runCli(['org', 'create', '--name', unique('Two Instances '), '--owner-email', email, '--json'], { DATABASE_URL: databaseUrl });
    assert.equal(org.code, 0, org.stderr);
    const out = JSON.parse(org.stdout) as { orgId: string; owner: { email: string; temporaryPassword: string } };
    owner = out.owner;
    password = owner.temporaryPassword;
    const created = await runCli(['client', 'create', '--org', out.orgId, '--redirect-uri', REDIRECT, '--json'], { DATABASE_URL: databaseUrl });
    assert.equal(created.code, 0, created.stderr);
    const registered = JSON.parse(created.stdout) as { client_id: string; client_secret: string };
    clientId = registered.client_id;
    assert.ok(registered.client_secret, 'a confidential client has a secret');
    config1 = await client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(registered.client_secret), { execute: [client.allowInsecureRequests] });
    config2 = atInstance(config1, base2, clientId, registered.client_secret);
  });

  after(async () => {
    try {
      for (const s of servers.splice(0)) assert.equal(await s.stop(), 0, s.output().stderr);
    } finally {
      await killAll();
    }
  });

  /** Signs the owner in on instance 1, through the pages (the first time, replacing the temporary password). */
  async function signInOnInstance1() {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config1, {
      redirect_uri: REDIRECT, scope: 'openid email offline_access', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state,
    });
    const browser = new Browser();
    let page = await browser.go(url.toString(), { stopAt: (u) => u.startsWith(REDIRECT) });
    assert.equal(headingOf(page.html), 'Sign in', page.html.slice(0, 400));
    assert.ok(page.url.startsWith(issuer), `the pages are instance 1's: ${page.url}`);
    page = await browser.submit(page, '/email', { email: owner.email });
    page = await browser.submit(page, '/password', { password }, { stopAt: (u) => u.startsWith(REDIRECT) });
    if (headingOf(page.html) === 'Choose a new password') {
      password = 'two instances share one database';
      page = await browser.submit(page, '/change-password', { password }, { stopAt: (u) => u.startsWith(REDIRECT) });
    }
    assert.ok(page.location?.startsWith(REDIRECT), `${page.status}: ${page.html.slice(0, 400)}`);
    const tokens = await client.authorizationCodeGrant(config1, new URL(page.location!), { pkceCodeVerifier: verifier, expectedState: state });
    assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
    assert.equal(tokens.claims()!.email, owner.email);
    return tokens as typeof tokens & { refresh_token: string };
  }

  it('both instances publish the same issuer and signing keys', async () => {
    const discovered2 = await (await fetch(`${base2}/.well-known/openid-configuration`)).json() as { issuer: string };
    assert.equal(discovered2.issuer, issuer);
    const jwks1 = await (await fetch(`${issuer}/oidc/jwks`)).json();
    const jwks2 = await (await fetch(`${base2}/oidc/jwks`)).json();
    assert.deepEqual(jwks2, jwks1);
  });

  it('a sign-in on instance 1 is refreshed on instance 2, revoked on instance 2, and then refused on instance 1', async () => {
    const tokens = await signInOnInstance1();

    // Refresh on instance 2: a new refresh token, and an ID token of the same issuer (openid-client checks it).
    const refreshed = await client.refreshTokenGrant(config2, tokens.refresh_token);
    assert.ok(refreshed.refresh_token);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
    assert.equal(refreshed.claims()?.iss, issuer);
    // What instance 2 issued, instance 1 knows.
    const info = await client.tokenIntrospection(config1, refreshed.access_token);
    assert.equal(info.active, true);
    assert.equal(info.client_id, clientId);

    // Revoke on instance 2; instance 1 refuses the refresh token at once.
    await client.tokenRevocation(config2, refreshed.refresh_token!);
    await assert.rejects(client.refreshTokenGrant(config1, refreshed.refresh_token!), invalidGrant);
    await assert.rejects(client.refreshTokenGrant(config2, refreshed.refresh_token!), invalidGrant);
  });

  it('one refresh token presented to both instances at once: at most one exchange succeeds, and the reuse revokes the grant', async () => {
    const tokens = await signInOnInstance1();
    const configs = Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? config1 : config2));
    const results = await Promise.allSettled(configs.map((c) => client.refreshTokenGrant(c, tokens.refresh_token)));
    const succeeded = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    for (const r of results) if (r.status === 'rejected') invalidGrant(r.reason);
    assert.ok(succeeded.length <= 1, `one refresh token was exchanged ${succeeded.length} times at once across the instances`);
    for (const t of succeeded) {
      await assert.rejects(client.refreshTokenGrant(config1, t.refresh_token!), invalidGrant);
      await assert.rejects(client.refreshTokenGrant(config2, t.refresh_token!), invalidGrant);
    }
  });
});
