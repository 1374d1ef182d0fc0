// Adversarial: every way of presenting a wrong credential is one 401 SCIM error with WWW-Authenticate, and the
// token is stored only as its SHA-256 hash.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type supertest from 'supertest';
import { issueCredential } from '../../src/directory/credentials.ts';
import { assertScimError, newOrg, scimClient, type TestOrg, unique, USER, userBody } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { raw } from './support.ts';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** The Authorization header values (undefined: none) that must all be refused. */
function badCredentials(victim: TestOrg, other: TestOrg): [string, string | undefined][] {
  const token = victim.scimToken;
  return [
    ['no header', undefined],
    ['empty header', ''],
    ['scheme only', 'Bearer'],
    ['scheme and blank', 'Bearer    '],
    ['Basic with the token as password', `Basic ${Buffer.from(`scim:${token}`).toString('base64')}`],
    ['Basic with the bare token', `Basic ${token}`],
    ['token without a scheme', token],
    ['unknown scheme', `Token ${token}`],
    ['unknown rst_scim_ token', `Bearer rst_scim_${randomBytes(32).toString('base64url')}`],
    ["another org's API key", `Bearer ${other.apiKey}`],
    ["the org's own API key", `Bearer ${victim.apiKey}`],
    ['the hash instead of the token', `Bearer ${sha256(token)}`],
    ['trailing junk', `Bearer ${token}x`],
    ['trailing junk after a space', `Bearer ${token} x`],
    ['trailing junk after a comma', `Bearer ${token},Bearer ${token}`],
    ['leading junk', `Bearer x${token}`],
    ['one character short', `Bearer ${token.slice(0, -1)}`],
    ['letter case changed', `Bearer ${token.toUpperCase()}`],
    ['prefix only', 'Bearer rst_scim_'],
    ['oversized header (8 KiB)', `Bearer rst_scim_${'A'.repeat(8192)}`],
    ['oversized header made of the token', `Bearer ${token.repeat(60)}`],
    ['percent-encoded NUL appended', `Bearer ${token}%00`],
  ];
}

function withAuth(t: supertest.Test, header: string | undefined): supertest.Test {
  t.set('Accept', 'application/scim+json');
  return header === undefined ? t : t.set('Authorization', header);
}

function assertUnauthorized(res: supertest.Response, what: string): void {
  try {
    assertScimError(res, 401);
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`);
  }
  assert.match(String(res.headers['www-authenticate']), /^Bearer\b/i, `${what}: WWW-Authenticate`);
}

describe('security: SCIM authentication', () => {
  it('refuses every wrong credential with one and the same 401 SCIM error and WWW-Authenticate: Bearer', async () => {
    const victim = await newOrg();
    const other = await newOrg();
    const bodies = new Set<string>();
    for (const [what, header] of badCredentials(victim, other)) {
      const res = await withAuth(raw().get('/Users'), header);
      assertUnauthorized(res, what);
      bodies.add(JSON.stringify(res.body));
    }
    assert.equal(bodies.size, 1, `the 401 body differs by credential: ${[...bodies].join(' | ')}`);
  });

  it('refuses a revoked token, while the same org\'s other tokens keep working', async () => {
    const org = await newOrg();
    const second = await issueCredential(testDb(), { orgId: org.org.id, kind: 'scim_token', name: 'second' });
    assert.equal((await org.scim.get('/Users')).status, 200);
    await testDb()('credentials').where({ org_id: org.org.id, kind: 'scim_token' }).whereNot({ id: second.id }).update({ revoked_at: testDb().fn.now() });
    assertUnauthorized(await org.scim.get('/Users'), 'revoked token');
    assertUnauthorized(await org.scim.get(`/Users/${org.owner.id}`), 'revoked token, by id');
    const before = await testDb()('memberships').where({ org_id: org.org.id }).count({ n: '*' });
    assertUnauthorized(await org.scim.post('/Users', userBody(`${unique('late')}@example.test`)), 'revoked token, create');
    assert.deepEqual(await testDb()('memberships').where({ org_id: org.org.id }).count({ n: '*' }), before);
    const stillGood = await scimClient(second.secret).get(`/Users/${org.owner.id}`);
    assert.equal(stillGood.status, 200);
  });

  it('guards every SCIM endpoint that touches data, and writes nothing for a refused request', async () => {
    const victim = await newOrg();
    const other = await newOrg();
    const userName = `${unique('sneaky')}@example.test`;
    const group = unique('sneaky-group-');
    const id = victim.owner.id;
    const requests: [string, (h: string | undefined) => supertest.Test][] = [
      ['GET /Users/:id', (h) => withAuth(raw().get(`/Users/${id}`), h)],
      ['GET /Groups', (h) => withAuth(raw().get('/Groups'), h)],
      ['POST /Users', (h) => withAuth(raw().post('/Users'), h).set('Content-Type', 'application/scim+json').send(JSON.stringify(userBody(userName)))],
      ['POST /Groups', (h) => withAuth(raw().post('/Groups'), h).set('Content-Type', 'application/scim+json').send(JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: group }))],
      ['PUT /Users/:id', (h) => withAuth(raw().put(`/Users/${id}`), h).set('Content-Type', 'application/scim+json').send(JSON.stringify(userBody(userName)))],
      ['PATCH /Users/:id', (h) => withAuth(raw().patch(`/Users/${id}`), h).set('Content-Type', 'application/scim+json').send(JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: 'x' }] }))],
      ['DELETE /Users/:id', (h) => withAuth(raw().delete(`/Users/${id}`), h)],
      ['POST /Users/.search', (h) => withAuth(raw().post('/Users/.search'), h).set('Content-Type', 'application/scim+json').send(JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'] }))],
      ['POST /.search', (h) => withAuth(raw().post('/.search'), h).set('Content-Type', 'application/scim+json').send(JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'] }))],
      ['POST /Bulk', (h) => withAuth(raw().post('/Bulk'), h).set('Content-Type', 'application/scim+json').send(JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], Operations: [{ method: 'POST', path: '/Users', data: userBody(userName) }] }))],
      ['GET /Users?access_token=', (h) => withAuth(raw().get(`/Users?access_token=${encodeURIComponent(victim.scimToken)}`), h)],
    ];
    const headers: [string, string | undefined][] = [
      ['no header', undefined],
      ["another org's API key", `Bearer ${other.apiKey}`],
      ['trailing junk', `Bearer ${victim.scimToken}.`],
    ];
    const owner = await testDb()('memberships').where({ org_id: victim.org.id, id }).first();
    for (const [what, send] of requests) {
      for (const [how, header] of headers) assertUnauthorized(await send(header), `${what} with ${how}`);
    }
    assert.deepEqual(await testDb()('memberships').where({ org_id: victim.org.id }).pluck('id'), [id]);
    assert.deepEqual(await testDb()('memberships').where({ org_id: victim.org.id, id }).first(), owner);
    assert.deepEqual(await testDb()('groups').where({ org_id: victim.org.id }), []);
    assert.equal(await testDb()('accounts').whereRaw('lower(email) = lower(?)', [userName]).first(), undefined);
  });

  it('checks the credential before reading the body: a malformed or oversized body without a token is still 401', async () => {
    const res = await raw().post('/Users').set('Content-Type', 'application/scim+json').send('{"schemas": [');
    assertUnauthorized(res, 'malformed JSON without credentials');
    const big = await raw().post('/Users').set('Content-Type', 'application/scim+json')
      .send(JSON.stringify(userBody('big@example.test', { nickName: 'x'.repeat(1_100_000) })));
    assertUnauthorized(big, 'oversized body without credentials');
  });

  it('stores SCIM tokens and API keys only as SHA-256 hashes: the plaintext appears nowhere in their tables', async () => {
    const org = await newOrg();
    assert.match(org.scimToken, /^rst_scim_[A-Za-z0-9_-]{43}$/);
    assert.match(org.apiKey, /^rst_key_[A-Za-z0-9_-]{43}$/);
    assert.equal((await org.scim.get('/Users')).status, 200); // used once, so any "last used" bookkeeping has run
    const secrets = [org.scimToken, org.scimToken.slice('rst_scim_'.length), org.apiKey, org.apiKey.slice('rst_key_'.length)];
    const tokens = await testDb()('credentials').where({ org_id: org.org.id, kind: 'scim_token' });
    const keys = await testDb()('credentials').where({ org_id: org.org.id, kind: 'api_key' });
    assert.equal(tokens.length, 1);
    assert.equal(keys.length, 1);
    assert.equal(tokens[0].secret_hash, sha256(org.scimToken));
    assert.equal(keys[0].secret_hash, sha256(org.apiKey));
    for (const table of ['credentials']) {
      const rows = (await testDb().raw(`select t::text as row from ${table} as t`)).rows as { row: string }[];
      for (const { row } of rows) {
        for (const secret of secrets) assert.equal(row.includes(secret), false, `${table} holds a plaintext secret: ${row}`);
      }
    }
  });

  it('the plaintext token and key appear in no table of the database at all', async () => {
    const org = await newOrg();
    await org.scim.post('/Users', { schemas: [USER], userName: `${unique('audit')}@example.test` });
    const secrets = [org.scimToken.slice('rst_scim_'.length), org.apiKey.slice('rst_key_'.length)];
    const tables = (await testDb().raw(`select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE'`)).rows as { table_name: string }[];
    assert.ok(tables.length >= 8);
    for (const { table_name } of tables) {
      for (const secret of secrets) {
        const hits = (await testDb().raw(`select count(*)::int as n from "${table_name}" as t where position(? in t::text) > 0`, [secret])).rows[0].n;
        assert.equal(hits, 0, `table ${table_name} holds a plaintext secret`);
      }
    }
  });
});
