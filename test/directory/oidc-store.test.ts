// The OIDC provider's storage: the seven-method adapter contract on the test database, then a real
// oidc-provider (two instances on one database) driven by a real openid-client.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import * as client from 'openid-client';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { deleteExpiredOidcPayloads, OidcModelStore, oidcAdapter } from '../../src/directory/oidc-store.ts';
import { startExpirySweeper } from '../../src/oidc/expiry.ts';
import { hashSecret } from '../../src/directory/tokens.ts';
import { testDb } from '../setup.ts';

const store = (model: string) => new OidcModelStore(testDb(), model);
/** The row id of a bearer token: a hash of the token (the database holds no usable token). */
const rowId = (id: string) => `sha256:${hashSecret(id)}`;
const expire = (model: string, id: string) => testDb()('oidc_payloads').where({ model, id: rowId(id) }).update({ expires_at: testDb().raw("now() - interval '1 second'") });

describe('directory: OIDC provider storage (the adapter contract)', () => {
  it('finds what it stored until it expires; an expired payload is never found, and cleanup removes it', async () => {
    const codes = store('AuthorizationCode');
    const id = randomUUID();
    await codes.upsert(id, { accountId: 'a', grantId: 'g1', kind: 'AuthorizationCode' }, 60);
    assert.deepEqual(await codes.find(id), { accountId: 'a', grantId: 'g1', kind: 'AuthorizationCode', jti: id });
    assert.equal(await store('AccessToken').find(id), undefined, 'another model never sees it');
    await expire('AuthorizationCode', id);
    assert.equal(await codes.find(id), undefined);
    assert.ok((await deleteExpiredOidcPayloads(testDb())) >= 1);
    assert.equal(await testDb()('oidc_payloads').where({ id: rowId(id) }).first(), undefined);
  });

  it('keeps no usable token: a bearer token is stored as its hash, and its payload does not repeat it', async () => {
    const id = randomUUID();
    await store('RefreshToken').upsert(id, { jti: id, grantId: 'g9', kind: 'RefreshToken' }, 60);
    const rows = await testDb()('oidc_payloads').where({ model: 'RefreshToken' }).whereRaw('id = ? or payload::text like ?', [id, `%${id}%`]);
    assert.deepEqual(rows, [], 'the token appears nowhere in the table');
    assert.deepEqual(await store('RefreshToken').find(id), { grantId: 'g9', kind: 'RefreshToken', jti: id });
  });

  it('marks a consumed payload, which is still found with `consumed` (the provider refuses it and detects the replay)', async () => {
    const codes = store('AuthorizationCode');
    const id = randomUUID();
    await codes.upsert(id, { grantId: 'g2' }, 60);
    await codes.consume(id);
    const found = await codes.find(id);
    assert.equal(typeof found?.consumed, 'number');
    assert.ok(Math.abs((found!.consumed as number) - Date.now() / 1000) < 60);
  });

  it('upsert replaces; finds a Session by uid and a device code by user code; destroy removes', async () => {
    const sessions = store('Session');
    const id = randomUUID();
    const uid = randomUUID();
    await sessions.upsert(id, { uid, accountId: 'x' }, 60);
    await sessions.upsert(id, { uid, accountId: 'y' }, 60);
    assert.deepEqual(await sessions.findByUid(uid), { uid, accountId: 'y' });
    const devices = store('DeviceCode');
    const code = randomUUID();
    await devices.upsert(code, { userCode: 'ABCD-EFGH', grantId: 'g3' }, 60);
    assert.deepEqual(await devices.findByUserCode('ABCD-EFGH'), { userCode: 'ABCD-EFGH', grantId: 'g3' });
    await sessions.destroy(id);
    assert.equal(await sessions.findByUid(uid), undefined);
  });

  it('revokeByGrantId removes every token and code of that grant, and nothing of another grant', async () => {
    const grant = `grant-${randomUUID()}`;
    const other = `grant-${randomUUID()}`;
    const ids = { at: randomUUID(), rt: randomUUID(), code: randomUUID(), otherAt: randomUUID() };
    await store('AccessToken').upsert(ids.at, { grantId: grant }, 60);
    await store('RefreshToken').upsert(ids.rt, { grantId: grant }, 3600);
    await store('AuthorizationCode').upsert(ids.code, { grantId: grant }, 60);
    await store('AccessToken').upsert(ids.otherAt, { grantId: other }, 60);
    await store('RefreshToken').revokeByGrantId(grant);
    assert.equal(await store('AccessToken').find(ids.at), undefined);
    assert.equal(await store('RefreshToken').find(ids.rt), undefined);
    assert.equal(await store('AuthorizationCode').find(ids.code), undefined);
    assert.deepEqual(await store('AccessToken').find(ids.otherAt), { grantId: other, jti: ids.otherAt });
  });
});

/** A bare oidc-provider on the test database's storage, served on an ephemeral port. */
async function startProvider(issuer: string, jwk: object): Promise<{ server: Server; url: string }> {
  const provider = new Provider(issuer, {
    adapter: oidcAdapter(testDb()),
    clients: [{ client_id: 'machine', client_secret: 'machine-secret-of-this-test', grant_types: ['client_credentials'], redirect_uris: [], response_types: [], id_token_signed_response_alg: 'ES256' }],
    features: { clientCredentials: { enabled: true }, introspection: { enabled: true }, revocation: { enabled: true }, devInteractions: { enabled: false } },
    jwks: { keys: [jwk as never] },
    scopes: ['api'],
  });
  const server = createServer(provider.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('directory: OIDC provider storage under a real oidc-provider', function () {
  this.timeout(60_000);
  const servers: Server[] = [];
  after(() => Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve)))));

  it('two instances on one database serve one client: a token from one is active on the other until either revokes it', async () => {
    const jwk = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: 'test', alg: 'ES256', use: 'sig' };
    // One issuer, two instances (as behind one load balancer); each client configuration talks to one of them.
    const issuer = 'http://oidc.roster.test';
    const a = await startProvider(issuer, jwk);
    servers.push(a.server);
    const b = await startProvider(issuer, jwk);
    servers.push(b.server);
    const metadata = (base: string) => ({
      issuer, token_endpoint: `${base}/token`, introspection_endpoint: `${base}/token/introspection`, revocation_endpoint: `${base}/token/revocation`,
    });
    const onA = new client.Configuration(metadata(a.url), 'machine', 'machine-secret-of-this-test');
    const onB = new client.Configuration(metadata(b.url), 'machine', 'machine-secret-of-this-test');
    client.allowInsecureRequests(onA);
    client.allowInsecureRequests(onB);

    const token = await client.clientCredentialsGrant(onA, { scope: 'api' });
    assert.equal(token.token_type.toLowerCase(), 'bearer');
    const stored = await testDb()('oidc_payloads').where({ model: 'ClientCredentials' }).whereRaw("payload->>'clientId' = 'machine'").count({ n: '*' });
    assert.ok(Number(stored[0].n) >= 1, 'the token is a row in PostgreSQL');
    const seenByB = await client.tokenIntrospection(onB, token.access_token);
    assert.equal(seenByB.active, true);
    assert.equal(seenByB.client_id, 'machine');
    await client.tokenRevocation(onB, token.access_token);
    assert.equal((await client.tokenIntrospection(onA, token.access_token)).active, false, 'revoked on B, refused on A at once');
  });
});

describe('OIDC storage housekeeping', () => {
  it('removes expired payloads in batches, and only expired ones; the sweeper does it on its own', async () => {
    const ids = Array.from({ length: 7 }, () => randomUUID());
    for (const id of ids) await store('AccessToken').upsert(id, { grantId: 'sweep' }, 60);
    const live = randomUUID();
    await store('AccessToken').upsert(live, { grantId: 'sweep' }, 3600);
    for (const id of ids) await expire('AccessToken', id);
    assert.equal(await deleteExpiredOidcPayloads(testDb(), { batch: 3 }), 3, 'one batch at a time');
    const sweeper = startExpirySweeper({ db: testDb(), logger: pino({ level: 'silent' }), everyMs: 20, batch: 2 });
    try {
      for (let i = 0; i < 500 && (await testDb()('oidc_payloads').whereIn('id', ids.map(rowId)).count({ n: '*' }))[0].n !== 0; i++) await sleep(20);
    } finally {
      await sweeper.stop();
    }
    assert.equal(Number((await testDb()('oidc_payloads').whereIn('id', ids.map(rowId)).count({ n: '*' }))[0].n), 0);
    assert.deepEqual(await store('AccessToken').find(live), { grantId: 'sweep', jti: live }, 'a live token stays');
  });
});
