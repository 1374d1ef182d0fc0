// Resource CRUD (RFC 7644 §3.3-3.6), versioning (§3.14), uniqueness and attribute mutability (RFC 7643 §2, §7).
import assert from 'node:assert/strict';
import { test } from './runner.ts';
import {
  ENTERPRISE, GROUP, USER, emailOf, ent, expectError, expectResource, expectStatus,
  memberIds, patchOp,
} from './scim.ts';

test('users: POST -> 201 with the full resource, Location = meta.location, ETag = meta.version', async (ctx) => {
  const userName = ctx.uname('create');
  const body = {
    schemas: [USER, ENTERPRISE],
    userName,
    externalId: ctx.name('ext'),
    name: { givenName: 'Barbara', familyName: 'Jensen', formatted: 'Ms. Barbara J Jensen' },
    displayName: 'Babs Jensen',
    title: 'Tour Guide',
    emails: [{ value: userName, type: 'work', primary: true }, { value: `home-${userName}`, type: 'home' }],
    phoneNumbers: [{ value: '555-555-8377', type: 'work' }],
    active: true,
    [ENTERPRISE]: { employeeNumber: '701984', department: 'Tour Operations' },
  };
  const res = await ctx.c.post('/Users', body);
  if (res.body?.id) ctx.track('Users', res.body.id);
  expectStatus(res, 201);
  expectResource(res, 'User');
  const u = res.body;
  assert.equal(res.headers.get('location'), u.meta.location, 'Location header must equal meta.location');
  assert.equal(res.headers.get('etag'), u.meta.version, 'ETag header must equal meta.version');
  assert.equal(u.userName, userName);
  assert.equal(u.externalId, body.externalId);
  assert.equal(u.name.givenName, 'Barbara');
  assert.equal(u.name.familyName, 'Jensen');
  assert.equal(u.displayName, 'Babs Jensen');
  assert.equal(u.title, 'Tour Guide');
  assert.equal(u.active, true);
  assert.equal(emailOf(u, 'work'), userName);
  assert.equal(emailOf(u, 'home'), `home-${userName}`);
  assert.equal(u.phoneNumbers?.[0]?.value, '555-555-8377');
  assert.equal(ent(u).employeeNumber, '701984');
  assert.equal(ent(u).department, 'Tour Operations');
  assert.ok(u.schemas.includes(ENTERPRISE), 'schemas must list the enterprise extension when it has values');
});

test('users: GET by id returns the resource with ETag; unknown ids -> 404 SCIM error', async (ctx) => {
  const { c } = ctx;
  const u = await ctx.createUser({ displayName: 'Get Me' });
  const res = await c.get(`/Users/${u.id}`);
  expectStatus(res, 200);
  expectResource(res, 'User');
  assert.equal(res.body.id, u.id);
  assert.equal(res.body.userName, u.userName);
  assert.equal(res.body.displayName, 'Get Me');
  assert.equal(res.headers.get('etag'), res.body.meta.version, 'ETag header must equal meta.version');
  assert.equal(res.body.meta.created, u.meta.created, 'meta.created is stable');
  expectError(await c.get('/Users/6f1c2a8e-0000-4000-8000-000000000000'), 404);
  expectError(await c.get('/Users/abc'), 404);
  expectError(await c.get('/Groups/abc'), 404);
  expectError(await c.get('/Groups/6f1c2a8e-0000-4000-8000-000000000000'), 404);
});

test('users: PUT replaces the resource; id and meta.created kept, version changes', async (ctx) => {
  const { c } = ctx;
  const u = await ctx.createUser({ displayName: 'Before', title: 'Old title' });
  const res = await c.put(`/Users/${u.id}`, {
    schemas: [USER],
    userName: u.userName,
    name: { givenName: 'After', familyName: 'Put' },
    displayName: 'After',
    emails: [{ value: `new-${u.userName}`, type: 'work', primary: true }],
    active: true,
  });
  expectStatus(res, 200);
  expectResource(res, 'User');
  assert.equal(res.body.id, u.id);
  assert.equal(res.body.displayName, 'After');
  assert.equal(res.body.name.givenName, 'After');
  assert.deepEqual((res.body.emails ?? []).map((e: any) => e.value), [`new-${u.userName}`], 'emails replaced as a whole');
  assert.equal(res.body.meta.created, u.meta.created, 'meta.created must not change');
  assert.notEqual(res.body.meta.version, u.meta.version, 'meta.version must change on PUT');
  assert.equal(res.headers.get('etag'), res.body.meta.version, 'ETag header on PUT');
  assert.ok(Date.parse(res.body.meta.lastModified) >= Date.parse(u.meta.lastModified), 'lastModified moves forward');
  const get = await c.get(`/Users/${u.id}`);
  assert.equal(get.body.displayName, 'After');
  expectError(await c.put('/Users/6f1c2a8e-0000-4000-8000-000000000000', { schemas: [USER], userName: ctx.uname('ghost') }), 404);
});

test('users: DELETE -> 204, then GET/PUT/PATCH/DELETE -> 404', async (ctx) => {
  const { c } = ctx;
  const u = await ctx.createUser();
  const del = await c.del(`/Users/${u.id}`);
  expectStatus(del, 204);
  assert.equal(del.text, '', '204 must have no body');
  expectError(await c.get(`/Users/${u.id}`), 404);
  expectError(await c.put(`/Users/${u.id}`, { schemas: [USER], userName: u.userName }), 404);
  expectError(await c.patch(`/Users/${u.id}`, patchOp({ op: 'replace', path: 'displayName', value: 'x' })), 404);
  expectError(await c.del(`/Users/${u.id}`), 404);
  const list = await c.get(`/Users?filter=${encodeURIComponent(`userName eq "${u.userName}"`)}`);
  assert.equal(list.body.totalResults, 0, 'a deleted user must not be listed');
});

test('groups: POST with members, GET, PUT replace, DELETE', async (ctx) => {
  const { c } = ctx;
  const a = await ctx.createUser();
  const b = await ctx.createUser();
  const displayName = ctx.name('grp');
  const created = await c.post('/Groups', { schemas: [GROUP], displayName, externalId: ctx.name('gext'), members: [{ value: a.id }] });
  if (created.body?.id) ctx.track('Groups', created.body.id);
  expectStatus(created, 201);
  expectResource(created, 'Group');
  const g = created.body;
  assert.equal(created.headers.get('location'), g.meta.location, 'Location header must equal meta.location');
  assert.equal(created.headers.get('etag'), g.meta.version, 'ETag header must equal meta.version');
  assert.equal(g.displayName, displayName);
  assert.deepEqual(memberIds(g), [a.id]);

  const get = await c.get(`/Groups/${g.id}`);
  expectStatus(get, 200);
  expectResource(get, 'Group');
  assert.deepEqual(memberIds(get.body), [a.id]);

  const renamed = ctx.name('grp2');
  const put = await c.put(`/Groups/${g.id}`, { schemas: [GROUP], displayName: renamed, members: [{ value: b.id }] });
  expectStatus(put, 200);
  expectResource(put, 'Group');
  assert.equal(put.body.displayName, renamed);
  assert.deepEqual(memberIds(put.body), [b.id], 'PUT replaces the member list');
  assert.notEqual(put.body.meta.version, g.meta.version, 'version changes on PUT');

  const del = await c.del(`/Groups/${g.id}`);
  expectStatus(del, 204);
  expectError(await c.get(`/Groups/${g.id}`), 404);
  expectStatus(await c.get(`/Users/${b.id}`), 200);
});

test('groups: deleting a member user removes it from the group', async (ctx) => {
  const { c } = ctx;
  const a = await ctx.createUser();
  const b = await ctx.createUser();
  const g = await ctx.createGroup({ members: [{ value: a.id }, { value: b.id }] });
  expectStatus(await c.del(`/Users/${a.id}`), 204);
  const get = await c.get(`/Groups/${g.id}`);
  expectStatus(get, 200);
  assert.deepEqual(memberIds(get.body), [b.id]);
});

// --- ETags ----------------------------------------------------------------------------------------

test('etag: If-None-Match with the current version -> 304; with a stale one -> 200', async (ctx) => {
  const { c } = ctx;
  const u = await ctx.createUser();
  const first = await c.get(`/Users/${u.id}`);
  expectStatus(first, 200);
  const etag = first.headers.get('etag');
  assert.ok(etag, 'ETag header missing');
  assert.equal(etag, first.body.meta.version);
  const notModified = await c.get(`/Users/${u.id}`, { 'If-None-Match': etag });
  expectStatus(notModified, 304);
  assert.equal(notModified.text, '', '304 must have no body');
  const g = await ctx.createGroup();
  const gNotModified = await c.get(`/Groups/${g.id}`, { 'If-None-Match': g.meta.version });
  expectStatus(gNotModified, 304);

  const patched = await c.patch(`/Users/${u.id}`, patchOp({ op: 'replace', path: 'displayName', value: 'Changed' }));
  expectStatus(patched, 200);
  assert.notEqual(patched.body.meta.version, etag, 'version must change on PATCH');
  assert.equal(patched.headers.get('etag'), patched.body.meta.version, 'ETag header on PATCH');
  const modified = await c.get(`/Users/${u.id}`, { 'If-None-Match': etag });
  expectStatus(modified, 200);
  assert.equal(modified.body.displayName, 'Changed');
});

test('etag: If-Match with a stale version -> 412 and nothing applied; current version -> 200', async (ctx) => {
  const { c } = ctx;
  const u = await ctx.createUser({ displayName: 'v1' });
  const stale = u.meta.version;
  const p1 = await c.patch(`/Users/${u.id}`, patchOp({ op: 'replace', path: 'displayName', value: 'v2' }));
  expectStatus(p1, 200);
  const current = p1.body.meta.version;

  const put = await c.put(`/Users/${u.id}`, { schemas: [USER], userName: u.userName, displayName: 'stale put' },
    { headers: { 'If-Match': stale } });
  expectError(put, 412);
  const patch = await c.patch(`/Users/${u.id}`, patchOp({ op: 'replace', path: 'displayName', value: 'stale patch' }),
    { headers: { 'If-Match': stale } });
  expectError(patch, 412);
  expectError(await c.req('DELETE', `/Users/${u.id}`, { headers: { 'If-Match': stale } }), 412);
  const get = await c.get(`/Users/${u.id}`);
  assert.equal(get.body.displayName, 'v2', 'a 412 request must not change anything');

  const ok = await c.put(`/Users/${u.id}`, { schemas: [USER], userName: u.userName, displayName: 'v3' },
    { headers: { 'If-Match': current } });
  expectStatus(ok, 200);
  assert.equal(ok.body.displayName, 'v3');
  const star = await c.patch(`/Users/${u.id}`, patchOp({ op: 'replace', path: 'displayName', value: 'v4' }),
    { headers: { 'If-Match': '*' } });
  expectStatus(star, 200);
});

// --- uniqueness -------------------------------------------------------------------------------------

test('uniqueness: duplicate userName (same or different case) -> 409 uniqueness', async (ctx) => {
  const { c } = ctx;
  const u = await ctx.createUser();
  for (const userName of [u.userName, u.userName.toUpperCase()]) {
    const dup = await c.post('/Users', { schemas: [USER], userName });
    if (dup.status < 300 && dup.body?.id) ctx.track('Users', dup.body.id);
    expectError(dup, 409, 'uniqueness');
  }
});

test('uniqueness: PUT or PATCH to an existing userName -> 409 uniqueness', async (ctx) => {
  const { c } = ctx;
  const a = await ctx.createUser();
  const b = await ctx.createUser();
  expectError(await c.put(`/Users/${b.id}`, { schemas: [USER], userName: a.userName }), 409, 'uniqueness');
  expectError(await c.patch(`/Users/${b.id}`, patchOp({ op: 'replace', path: 'userName', value: a.userName.toUpperCase() })),
    409, 'uniqueness');
  const get = await c.get(`/Users/${b.id}`);
  assert.equal(get.body.userName, b.userName);
});

test('uniqueness: duplicate group displayName -> 409 uniqueness', async (ctx) => {
  const g = await ctx.createGroup();
  const dup = await ctx.c.post('/Groups', { schemas: [GROUP], displayName: g.displayName });
  if (dup.status < 300 && dup.body?.id) ctx.track('Groups', dup.body.id);
  expectError(dup, 409, 'uniqueness');
});

// --- mutability -----------------------------------------------------------------------------------

test('password: accepted on POST (and PUT/PATCH with changePassword), never returned', async (ctx) => {
  const { c } = ctx;
  const password = `Conf-${ctx.scope}-Aa1!`;
  const u = await ctx.createUser({ password });
  assert.equal(u.password, undefined, 'POST response must not contain password');
  const get = await c.get(`/Users/${u.id}`);
  assert.equal(get.body.password, undefined, 'GET must not return password');
  const asked = await c.get(`/Users/${u.id}?attributes=password,userName`);
  expectStatus(asked, 200);
  assert.equal(asked.body.password, undefined, 'password is never returned, even when asked for');
  const list = await c.get(`/Users?filter=${encodeURIComponent(`userName eq "${u.userName}"`)}`);
  assert.equal(list.body.Resources?.[0]?.password, undefined, 'list must not return password');
  if ((await ctx.spc()).changePassword?.supported !== true) return; // changing it is then allowed to fail
  const put = await c.put(`/Users/${u.id}`, { schemas: [USER], userName: u.userName, password: `${password}2` });
  expectStatus(put, 200);
  assert.equal(put.body.password, undefined);
  const patch = await c.patch(`/Users/${u.id}`, patchOp({ op: 'replace', path: 'password', value: `${password}3` }));
  expectStatus(patch, 200);
  assert.equal(patch.body.password, undefined);
  assert.ok(!JSON.stringify(patch.body).includes(password), 'no trace of the password in the response');
});

test('client extras ignored: id, meta, groups: [] and null attributes in POST and PUT', async (ctx) => {
  const { c } = ctx;
  const userName = ctx.uname('extras');
  const extras = {
    id: 'client-chosen-id',
    meta: { resourceType: 'User', created: '2001-01-01T00:00:00Z', location: 'https://evil.example/Users/x', version: 'W/"x"' },
    groups: [],
    nickName: null,
    title: null,
    name: { givenName: 'Extra', familyName: 'Data', middleName: null },
  };
  const res = await c.post('/Users', { schemas: [USER], userName, ...extras });
  if (res.body?.id) ctx.track('Users', res.body.id);
  expectStatus(res, 201);
  expectResource(res, 'User');
  const u = res.body;
  assert.notEqual(u.id, 'client-chosen-id', 'id is assigned by the server');
  assert.ok(Date.parse(u.meta.created) > Date.parse('2001-01-02T00:00:00Z'), `meta.created is the server's, got ${u.meta.created}`);
  assert.ok(!u.meta.location.startsWith('https://evil.example'), 'meta.location is assigned by the server');
  assert.ok(u.nickName == null && u.title == null, 'null means unassigned');
  assert.equal(u.name.givenName, 'Extra');

  const put = await c.put(`/Users/${u.id}`, { schemas: [USER], userName, displayName: 'After Put', ...extras });
  expectStatus(put, 200);
  assert.equal(put.body.id, u.id, 'PUT keeps the id from the URL');
  assert.equal(put.body.displayName, 'After Put');

  const g = await c.post('/Groups', { schemas: [GROUP], displayName: ctx.name('g'), id: 'client-group-id', members: [], meta: { resourceType: 'Group' } });
  if (g.body?.id) ctx.track('Groups', g.body.id);
  expectStatus(g, 201);
  assert.notEqual(g.body.id, 'client-group-id');
});
