// The OpenID Connect provider mounted in Roster's app, on the test database, driven by a real openid-client.
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { createClient, revokeClient } from '../../src/directory/clients.ts';
import { createOrganization } from '../../src/directory/organizations.ts';
import { createSealer } from '../../src/directory/sealing.ts';
import { listSigningKeys, rotateSigningKey } from '../../src/directory/signing-keys.ts';
import type { OidcService } from '../../src/oidc/provider.ts';
import { type Srv, startServer, stopServer } from '../oidc-server.ts';
import { TEST_SECRET as SECRET, unique } from '../helpers.ts';
import { testDb } from '../setup.ts';

const actor = { type: 'system', id: 'test' } as const;

/** The OAuth error code of a refusal: in the body, or (a 401) in the WWW-Authenticate challenge. */
type OAuthFailure = { error?: string; cause?: { parameters?: { error?: string } }[] };
const oauthError = (e: OAuthFailure) => e.error ?? e.cause?.[0]?.parameters?.error;

async function newOrgId(): Promise<string> {
  const name = unique('oidc-');
  return (await createOrganization(testDb(), { name, ownerEmail: `owner@${name}.test` })).org.id;
}

describe('OIDC provider (client credentials, introspection, revocation)', function () {
  this.timeout(60_000);
  let srv: Srv;
  let issuer: string;
  let oidc: OidcService;

  before(async () => {
    srv = await startServer();
    ({ issuer, oidc } = srv);
  });
  after(() => stopServer(srv));

  const configFor = async (clientId: string, secret: string) =>
    client.discovery(new URL(issuer), clientId, undefined, client.ClientSecretBasic(secret), { execute: [client.allowInsecureRequests] });

  it('publishes discovery and the signing key; a registered confidential client gets a token that introspects until revoked', async () => {
    const orgId = await newOrgId();
    const { clientId, clientSecret } = await createClient(testDb(), { orgId, actor, redirectUris: ['https://app.example/callback'], public: false });
    assert.match(clientSecret!, /^rst_secret_/);
    const config = await configFor(clientId, clientSecret!);
    const meta = config.serverMetadata();
    assert.equal(meta.issuer, issuer);
    assert.equal(meta.token_endpoint, `${issuer}/oidc/token`);
    assert.deepEqual(meta.response_types_supported, ['code'], 'no implicit or hybrid flows');
    const jwks = (await (await fetch(meta.jwks_uri!)).json()) as { keys: { kid: string; d?: string }[] };
    const published = await listSigningKeys(testDb());
    assert.ok(published[0].active);
    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), published.map((k) => k.kid).sort(), 'the signing key and those still published');
    assert.equal(jwks.keys[0].d, undefined, 'no private part is published');

    const token = await client.clientCredentialsGrant(config);
    const seen = await client.tokenIntrospection(config, token.access_token);
    assert.deepEqual([seen.active, seen.client_id], [true, clientId]);
    await client.tokenRevocation(config, token.access_token);
    assert.equal((await client.tokenIntrospection(config, token.access_token)).active, false);
  });

  it('refuses a wrong secret, another client\'s secret, a revoked client and a public client (invalid_client or unauthorized_client)', async () => {
    const orgA = await newOrgId();
    const orgB = await newOrgId();
    const a = await createClient(testDb(), { orgId: orgA, actor, redirectUris: ['https://a.example/cb'], public: false });
    const b = await createClient(testDb(), { orgId: orgB, actor, redirectUris: ['https://b.example/cb'], public: false });
    const pub = await createClient(testDb(), { orgId: orgA, actor, redirectUris: ['http://localhost:5173/cb'], public: true });
    assert.equal(pub.clientSecret, null);
    const refused = async (clientId: string, secret: string, what: string) => {
      const config = await configFor(clientId, secret);
      await assert.rejects(client.clientCredentialsGrant(config), (e: OAuthFailure) => ['invalid_client', 'unauthorized_client'].includes(oauthError(e) ?? ''), what);
    };
    await refused(a.clientId, `${a.clientSecret}x`, 'a wrong secret');
    await refused(a.clientId, b.clientSecret!, "another organisation's client secret");
    await refused(pub.clientId, a.clientSecret!, 'a public client');
    assert.ok(await client.clientCredentialsGrant(await configFor(a.clientId, a.clientSecret!)));
    assert.equal(await revokeClient(testDb(), { orgId: orgB, actor, clientId: a.clientId }), false, 'another organisation cannot revoke it');
    assert.equal(await revokeClient(testDb(), { orgId: orgA, actor, clientId: a.clientId }), true);
    await refused(a.clientId, a.clientSecret!, 'a revoked client');
  });

  it('refuses redirect URIs that are not absolute https (plain http only to localhost), and stores the secret only as a hash', async () => {
    const orgId = await newOrgId();
    for (const uri of ['not a uri', 'http://app.example/cb', 'https://app.example/cb#frag']) {
      await assert.rejects(createClient(testDb(), { orgId, actor, redirectUris: [uri], public: false }), (e: { code?: string }) => e.code === 'invalid', uri);
    }
    assert.equal((await testDb()('oidc_clients').where({ org_id: orgId }).count({ n: '*' }))[0].n, 0);
    const { clientSecret } = await createClient(testDb(), { orgId, actor, redirectUris: ['https://app.example/cb'], public: false });
    const hits = (await testDb().raw('select count(*)::int as n from credentials c where position(? in c::text) > 0', [clientSecret!.slice(11)])).rows[0].n;
    assert.equal(hits, 0);
  });

  it("introspection tells a client about another client's token only within its own organisation; only the token's client revokes it", async () => {
    const orgA = await newOrgId();
    const orgB = await newOrgId();
    const issuing = await createClient(testDb(), { orgId: orgA, actor, redirectUris: ['https://a.example/cb'], public: false });
    const sameOrg = await createClient(testDb(), { orgId: orgA, actor, redirectUris: ['https://api.a.example/cb'], public: false });
    const otherOrg = await createClient(testDb(), { orgId: orgB, actor, redirectUris: ['https://b.example/cb'], public: false });
    const token = (await client.clientCredentialsGrant(await configFor(issuing.clientId, issuing.clientSecret!))).access_token;
    const asSameOrg = await configFor(sameOrg.clientId, sameOrg.clientSecret!);
    const asOtherOrg = await configFor(otherOrg.clientId, otherOrg.clientSecret!);
    assert.equal((await client.tokenIntrospection(asSameOrg, token)).active, true, 'a resource server of the same organisation');
    const leaked = await client.tokenIntrospection(asOtherOrg, token);
    assert.deepEqual(leaked, { active: false }, 'another organisation learns nothing');
    await client.tokenRevocation(asSameOrg, token); // answered 200 (RFC 7009), and ignored: not its token
    assert.equal((await client.tokenIntrospection(asSameOrg, token)).active, true, 'only the issuing client revokes it');
    // Revoking the issuing client ends its tokens at once, and removes them.
    assert.equal(await revokeClient(testDb(), { orgId: orgA, actor, clientId: issuing.clientId }), true);
    assert.equal((await client.tokenIntrospection(asSameOrg, token)).active, false);
    assert.equal(Number((await testDb()('oidc_payloads').whereRaw("payload->>'clientId' = ?", [issuing.clientId]).count({ n: '*' }))[0].n), 0);
  });

  it('follows key rotation without a restart: after `keys rotate` (on any instance) it serves the new key first, the old one still published', async () => {
    assert.equal(await oidc.refresh(), false, 'nothing changed yet');
    const jwksOf = async () => ((await (await fetch(`${issuer}/oidc/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    const before = await jwksOf();
    const { kid, retired } = await rotateSigningKey(testDb(), createSealer(SECRET));
    assert.equal(await oidc.refresh(), true);
    const after = await jwksOf();
    assert.ok(after.includes(kid), 'the new key is published');
    for (const old of retired) assert.ok(after.includes(old), 'the replaced key stays published');
    assert.notDeepEqual(after, before);
    // Tokens keep working across the swap: the storage is the database, not the provider object.
    const orgId = await newOrgId();
    const c = await createClient(testDb(), { orgId, actor, redirectUris: ['https://app.example/cb'], public: false });
    const config = await configFor(c.clientId, c.clientSecret!);
    const token = await client.clientCredentialsGrant(config);
    await oidc.refresh();
    assert.equal((await client.tokenIntrospection(config, token.access_token)).active, true);
  });

  it("names only URLs on ISSUER's host, whatever Host or X-Forwarded-Host a caller sends", async () => {
    const { request } = await import('node:http');
    const url = new URL(`${issuer}/.well-known/openid-configuration`);
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, headers: { host: 'evil.example', 'x-forwarded-host': 'evil.example' } }, (res) => {
        let text = '';
        res.on('data', (c) => { text += c; });
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end();
    });
    const meta = JSON.parse(body) as Record<string, unknown>;
    const urls = Object.values(meta).filter((v): v is string => typeof v === 'string' && /^https?:/.test(v));
    assert.ok(urls.length > 5);
    for (const u of urls) assert.ok(u.startsWith(`${issuer}/`) || u === issuer, u);
  });

  it('answers an interaction that does not exist (or expired) with a page saying so, not an error', async () => {
    const res = await fetch(`${issuer}/oidc/interaction/some-uid`);
    assert.equal(res.status, 400);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await res.text(), /This sign-in has expired/);
  });
});
