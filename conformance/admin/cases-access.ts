// Who may call the API: the given key opens its organisation; no credential or a bad one is 401; another
// organisation's id (or one that does not exist) is 404 whatever is asked, and changes nothing; unknown
// routes and unreadable bodies are problems too.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { qs } from './client.ts';
import { describe, expectJson, expectList, expectProblem } from './admin.ts';
import { test } from './runner.ts';

test('auth: the given key opens its organisation (GET /orgs/{orgId} is 200 JSON with the same id)', async ({ api, orgId }) => {
  const org = expectJson(await api.get(api.org()));
  assert.equal(org.id, orgId);
});

test('auth: no Authorization header is 401 unauthenticated (problem+json, WWW-Authenticate: Bearer) on reads and writes', async ({ api, anon }) => {
  for (const res of [
    await anon.get(anon.org()),
    await anon.get(anon.org('/members')),
    await anon.patch(anon.org(), { name: 'taken over' }),
    await anon.post(anon.org('/api-keys'), { name: 'sneaky', role: 'owner' }),
    await anon.del(anon.org('/api-keys/00000000-0000-4000-8000-000000000000')),
    await anon.get('/orgs/00000000-0000-4000-8000-000000000000'),
  ]) {
    expectProblem(res, 401, 'unauthenticated');
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer\b/i, `a 401 challenges for a bearer token: ${describe(res)}`);
  }
  assert.notEqual(expectJson(await api.get(api.org())).name, 'taken over');
});

test('auth: a bad credential is 401 unauthenticated: not a bearer, an unknown rst_key_, an empty one, garbage', async ({ api }) => {
  const real = api.key!;
  const cases: Record<string, string>[] = [
    { Authorization: `Basic ${Buffer.from(`x:${real}`).toString('base64')}` },
    { Authorization: `Bearer rst_key_${'A'.repeat(43)}` },
    { Authorization: `Bearer ${real}x` },
    { Authorization: 'Bearer ' },
    { Authorization: 'Bearer not-a-token-at-all' },
    { Authorization: real },
  ];
  for (const headers of cases) {
    const res = await api.withKey(null).get(api.org(), headers);
    expectProblem(res, 401, 'unauthenticated');
  }
});

test('tenancy: another organisation id (a random UUID, or not a UUID) is 404 not_found on every kind of route, and changes nothing', async (ctx) => {
  const { api } = ctx;
  const before = expectJson(await api.get(api.org()));
  const stranger = ctx.email('stranger');
  for (const other of [randomUUID(), 'not-a-uuid']) {
    const o = (p = '') => `/orgs/${other}${p}`;
    for (const res of [
      await api.get(o()),
      await api.patch(o(), { name: 'taken over' }),
      await api.get(o('/members')),
      await api.post(o('/members'), { email: stranger, role: 'member' }),
      await api.get(o(`/members/${randomUUID()}`)),
      await api.post(o('/invitations'), { emails: [stranger], role: 'member' }),
      await api.get(o('/roles')),
      await api.post(o('/roles'), { name: ctx.name('stranger-role'), permissions: ['roster.view'] }),
      await api.get(o('/groups')),
      await api.post(o('/groups'), { name: ctx.name('stranger-group') }),
      await api.get(o('/api-keys')),
      await api.post(o('/api-keys'), { name: 'sneaky', role: 'owner' }),
      await api.del(o(`/api-keys/${randomUUID()}`)),
      await api.get(o('/scim-tokens')),
      await api.get(o('/clients')),
      await api.get(o('/sessions')),
      await api.get(o('/auth-events')),
      await api.get(o('/audit-events')),
    ]) {
      expectProblem(res, 404, 'not_found');
    }
  }
  // Nothing happened to the caller's own organisation either (the org is the one in the path, never the key's).
  const after = expectJson(await api.get(api.org()));
  assert.equal(after.name, before.name, 'the name changed');
  assert.deepEqual(expectList(await api.get(api.org(`/members${qs({ search: stranger })}`))), [], 'a member or invitation was created');
  const keys = expectList(await api.get(api.org('/api-keys')));
  assert.ok(!keys.some((k: any) => k.name === 'sneaky' && k.revokedAt === null), 'an API key was created');
  const groups = expectList(await api.get(api.org(`/groups${qs({ limit: 200 })}`)));
  assert.ok(!groups.some((g: any) => g.name === `${ctx.scope}-stranger-group`), 'a group was created');
});

test('routes: an unknown route under /api/v1 is a 404 problem; an unsupported method is a 404 or 405 problem', async ({ api }) => {
  expectProblem(await api.probe('GET', api.org('/no-such-thing')), 404, 'not_found');
  expectProblem(await api.probe('GET', '/no-such-thing'), 404, 'not_found');
  expectProblem(await api.probe('POST', api.org('/members/search'), { search: 'x' }), 404, 'not_found');
  const put = await api.probe('PUT', api.org(), { name: 'x' });
  assert.ok([404, 405].includes(put.status), `PUT /orgs/{orgId}: expected 404 or 405, got ${describe(put)}`);
  expectProblem(put, put.status);
});

test('requests: a body that is not JSON, or JSON that is not an object, is 400 invalid_request', async ({ api }) => {
  for (const raw of ['{"name": ', 'not json', '[1, 2]', '"a string"', 'null', '42']) {
    expectProblem(await api.patch(api.org(), undefined, { raw }), 400, 'invalid_request');
  }
  // Past the body limit: refused before anything reads it (400, or 413 Content Too Large), as a problem.
  const tooBig = await api.patch(api.org(), { name: 'x'.repeat(150_000) });
  assert.ok([400, 413].includes(tooBig.status), `a 150 kB body: expected 400 or 413, got ${describe(tooBig)}`);
  expectProblem(tooBig, tooBig.status);
});
