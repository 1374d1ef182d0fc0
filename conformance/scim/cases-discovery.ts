// Authentication, media types and the discovery endpoints (RFC 7643 §5-7, RFC 7644 §2, §3.1, §4).
import assert from 'node:assert/strict';
import { test } from './runner.ts';
import {
  ENTERPRISE, GROUP, RESOURCE_TYPE, SCHEMA, SPC, USER, describe, expectError, expectResource, expectScimJson,
  expectStatus, patchOp,
} from './scim.ts';
import type { Res } from './client.ts';

// --- authentication -------------------------------------------------------------------------------

test('auth: missing bearer token -> 401 SCIM error on every resource endpoint', async (ctx) => {
  const { c } = ctx;
  const anon = c.withToken(null);
  const userName = ctx.uname('anon');
  const probes: Array<Promise<Res>> = [
    anon.get('/Users'),
    anon.get('/Groups'),
    anon.get('/Users/00000000-0000-4000-8000-000000000000'),
    anon.post('/Users', { schemas: [USER], userName }),
    anon.post('/Groups', { schemas: [GROUP], displayName: ctx.name('anon') }),
    anon.post('/Users/.search', { schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'] }),
    anon.post('/Bulk', { schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], Operations: [] }),
  ];
  for (const res of await Promise.all(probes)) {
    if (res.status < 300 && typeof res.body?.id === 'string') ctx.track(res.path.startsWith('/Users') ? 'Users' : 'Groups', res.body.id);
    expectError(res, 401);
    assert.equal(typeof res.body.detail, 'string', `401 should carry a detail: ${describe(res)}`);
  }
  const check = await c.get('/Users?filter=' + encodeURIComponent(`userName eq "${userName}"`));
  expectStatus(check, 200);
  assert.equal(check.body.totalResults, 0, 'the unauthenticated POST must not have created a user');
});

test('auth: wrong bearer token or wrong scheme -> 401 SCIM error', async ({ c }) => {
  expectError(await c.withToken(`${c.token}-wrong`).get('/Users'), 401);
  expectError(await c.withToken('x').get('/Groups'), 401);
  const basic = await c.withToken(null).get('/Users', { Authorization: `Basic ${Buffer.from(`u:${c.token}`).toString('base64')}` });
  expectError(basic, 401);
  const empty = await c.withToken(null).get('/Users', { Authorization: 'Bearer ' });
  expectError(empty, 401);
});

// --- media types ----------------------------------------------------------------------------------

test('media type: responses are application/scim+json; application/json requests accepted', async (ctx) => {
  const { c } = ctx;
  expectScimJson(await c.get('/ServiceProviderConfig'));
  expectScimJson(await c.get('/Users?count=1'));

  const userName = ctx.uname('json');
  const created = await c.post('/Users', { schemas: [USER], userName }, { contentType: 'application/json' });
  if (created.body?.id) ctx.track('Users', created.body.id);
  expectStatus(created, 201);
  expectResource(created, 'User');
  const id = created.body.id;

  const put = await c.put(`/Users/${id}`, { schemas: [USER], userName, displayName: 'Json Put' },
    { contentType: 'application/json; charset=utf-8' });
  expectStatus(put, 200);
  expectScimJson(put);
  assert.equal(put.body.displayName, 'Json Put');

  const patched = await c.patch(`/Users/${id}`, patchOp({ op: 'replace', path: 'displayName', value: 'Json Patch' }),
    { contentType: 'application/json' });
  expectStatus(patched, 200);
  expectScimJson(patched);
  assert.equal(patched.body.displayName, 'Json Patch');

  const scimCharset = await c.patch(`/Users/${id}`, patchOp({ op: 'replace', path: 'displayName', value: 'Scim Patch' }),
    { contentType: 'application/scim+json; charset=utf-8' });
  expectStatus(scimCharset, 200);
  assert.equal(scimCharset.body.displayName, 'Scim Patch');
});

// --- ServiceProviderConfig ------------------------------------------------------------------------

test('ServiceProviderConfig: schema and advertised capabilities', async ({ c }) => {
  const res = await c.get('/ServiceProviderConfig');
  expectStatus(res, 200);
  expectScimJson(res);
  const b = res.body;
  assert.ok(Array.isArray(b.schemas) && b.schemas.includes(SPC), `schemas: ${JSON.stringify(b.schemas)}`);
  assert.equal(b.patch?.supported, true, 'patch.supported');
  assert.equal(b.bulk?.supported, true, 'bulk.supported');
  assert.ok(Number.isInteger(b.bulk.maxOperations) && b.bulk.maxOperations > 0, `bulk.maxOperations: ${b.bulk.maxOperations}`);
  assert.ok(Number.isInteger(b.bulk.maxPayloadSize) && b.bulk.maxPayloadSize > 0, `bulk.maxPayloadSize: ${b.bulk.maxPayloadSize}`);
  assert.equal(b.filter?.supported, true, 'filter.supported');
  assert.ok(Number.isInteger(b.filter.maxResults) && b.filter.maxResults > 0, `filter.maxResults: ${b.filter.maxResults}`);
  assert.equal(b.etag?.supported, true, 'etag.supported');
  assert.equal(b.sort?.supported, true, 'sort.supported');
  assert.equal(typeof b.changePassword?.supported, 'boolean', 'changePassword.supported must be a boolean');
  assert.ok(Array.isArray(b.authenticationSchemes) && b.authenticationSchemes.length > 0, 'authenticationSchemes');
  for (const s of b.authenticationSchemes) {
    assert.equal(typeof s.type, 'string', 'authenticationSchemes[].type');
    assert.equal(typeof s.name, 'string', 'authenticationSchemes[].name');
    assert.equal(typeof s.description, 'string', 'authenticationSchemes[].description');
  }
});

// --- ResourceTypes --------------------------------------------------------------------------------

/** /ResourceTypes and /Schemas answer a ListResponse (or, as RFC 7643 §8.6 shows, a bare array). */
function resourcesOf(res: Res): any[] {
  expectStatus(res, 200);
  assert.ok(res.headers.get('content-type')?.startsWith('application/scim+json'), 'Content-Type');
  if (Array.isArray(res.body)) return res.body;
  assert.ok(Array.isArray(res.body?.Resources), `expected a ListResponse: ${describe(res)}`);
  return res.body.Resources;
}

function checkUserType(rt: any): void {
  assert.ok(rt, 'ResourceType User missing');
  assert.equal(rt.id, 'User');
  assert.equal(rt.name, 'User');
  assert.equal(rt.endpoint, '/Users');
  assert.equal(rt.schema, USER);
  const ext = (rt.schemaExtensions ?? []).find((e: any) => e.schema === ENTERPRISE);
  assert.ok(ext, `User schemaExtensions must list ${ENTERPRISE}: ${JSON.stringify(rt.schemaExtensions)}`);
  assert.equal(ext.required, false, 'the enterprise extension is optional');
}

function checkGroupType(rt: any): void {
  assert.ok(rt, 'ResourceType Group missing');
  assert.equal(rt.id, 'Group');
  assert.equal(rt.name, 'Group');
  assert.equal(rt.endpoint, '/Groups');
  assert.equal(rt.schema, GROUP);
}

test('ResourceTypes: lists User and Group', async ({ c }) => {
  const all = resourcesOf(await c.get('/ResourceTypes'));
  checkUserType(all.find((r) => r.id === 'User'));
  checkGroupType(all.find((r) => r.id === 'Group'));
  for (const rt of all) assert.ok(rt.schemas?.includes(RESOURCE_TYPE), `ResourceType ${rt.id} schemas`);
});

test('ResourceTypes: /ResourceTypes/User and /ResourceTypes/Group', async ({ c }) => {
  const user = await c.get('/ResourceTypes/User');
  expectStatus(user, 200);
  expectScimJson(user);
  assert.ok(user.body.schemas?.includes(RESOURCE_TYPE), 'schemas');
  checkUserType(user.body);
  const group = await c.get('/ResourceTypes/Group');
  expectStatus(group, 200);
  expectScimJson(group);
  checkGroupType(group.body);
  expectError(await c.get('/ResourceTypes/Nope'), 404);
});

// --- Schemas --------------------------------------------------------------------------------------

function attr(schema: any, name: string): any {
  const a = (schema.attributes ?? []).find((x: any) => x.name?.toLowerCase() === name.toLowerCase());
  assert.ok(a, `schema ${schema.id} has no attribute ${name}`);
  return a;
}

test('Schemas: lists core User, enterprise User and Group', async ({ c }) => {
  const all = resourcesOf(await c.get('/Schemas'));
  const ids = all.map((s) => s.id);
  for (const urn of [USER, ENTERPRISE, GROUP]) assert.ok(ids.includes(urn), `/Schemas lacks ${urn}: ${ids.join(', ')}`);
});

test('Schemas: core User schema by URN', async ({ c }) => {
  const res = await c.get(`/Schemas/${USER}`);
  expectStatus(res, 200);
  expectScimJson(res);
  const s = res.body;
  assert.equal(s.id, USER);
  assert.ok(s.schemas?.includes(SCHEMA), `schemas: ${JSON.stringify(s.schemas)}`);
  const userName = attr(s, 'userName');
  assert.equal(userName.required, true, 'userName.required');
  assert.equal(userName.uniqueness, 'server', 'userName.uniqueness');
  assert.equal(userName.caseExact, false, 'userName.caseExact');
  const password = attr(s, 'password');
  assert.equal(password.mutability, 'writeOnly', 'password.mutability');
  assert.equal(password.returned, 'never', 'password.returned');
  const name = attr(s, 'name');
  assert.equal(name.type, 'complex');
  assert.ok(name.subAttributes?.some((a: any) => a.name === 'givenName'), 'name.givenName');
  const emails = attr(s, 'emails');
  assert.equal(emails.multiValued, true, 'emails.multiValued');
  assert.equal(attr(s, 'active').type, 'boolean', 'active.type');
  const groups = attr(s, 'groups');
  assert.equal(groups.mutability, 'readOnly', 'groups.mutability');
});

test('Schemas: enterprise User extension by URN', async ({ c }) => {
  const res = await c.get(`/Schemas/${ENTERPRISE}`);
  expectStatus(res, 200);
  const s = res.body;
  assert.equal(s.id, ENTERPRISE);
  for (const n of ['employeeNumber', 'costCenter', 'organization', 'division', 'department']) attr(s, n);
  const manager = attr(s, 'manager');
  assert.equal(manager.type, 'complex');
  assert.ok(manager.subAttributes?.some((a: any) => a.name === 'value'), 'manager.value');
});

test('Schemas: Group schema by URN; unknown URN -> 404', async ({ c }) => {
  const res = await c.get(`/Schemas/${GROUP}`);
  expectStatus(res, 200);
  const s = res.body;
  assert.equal(s.id, GROUP);
  attr(s, 'displayName');
  const members = attr(s, 'members');
  assert.equal(members.multiValued, true, 'members.multiValued');
  expectError(await c.get('/Schemas/urn:example:params:scim:schemas:nope'), 404);
});

test('unknown endpoint -> 404', async ({ c }) => {
  const res = await c.get('/NoSuchEndpoint');
  expectStatus(res, 404);
});
