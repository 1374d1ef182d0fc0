// Error handling (RFC 7644 §3.12): malformed bodies, schema violations, wrong types; every error response carries
// schemas = [Error URN] and status as a string, with Content-Type application/scim+json.
import assert from 'node:assert/strict';
import { test } from './runner.ts';
import type { Ctx } from './runner.ts';
import { GROUP, PATCH_OP, USER, expectError, patchOp } from './scim.ts';
import type { Res } from './client.ts';

/** Track anything a wrongly accepted request created, so the run stays clean. */
function keep(ctx: Ctx, res: Res): Res {
  if (res.status >= 200 && res.status < 300 && typeof res.body?.id === 'string') {
    ctx.track(res.path.startsWith('/Groups') ? 'Groups' : 'Users', res.body.id);
  }
  return res;
}

test('errors: malformed JSON body -> 400 invalidSyntax', async (ctx) => {
  const { c } = ctx;
  const u = await ctx.createUser();
  const g = await ctx.createGroup();
  const bad = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":';
  expectError(keep(ctx, await c.req('POST', '/Users', { raw: bad })), 400, 'invalidSyntax');
  expectError(keep(ctx, await c.req('POST', '/Users', { raw: bad, contentType: 'application/json' })), 400, 'invalidSyntax');
  expectError(await c.req('PUT', `/Users/${u.id}`, { raw: '{not json' }), 400, 'invalidSyntax');
  expectError(await c.req('PATCH', `/Users/${u.id}`, { raw: '{"schemas":[' }), 400, 'invalidSyntax');
  expectError(keep(ctx, await c.req('POST', '/Groups', { raw: '[' })), 400, 'invalidSyntax');
  expectError(await c.req('PATCH', `/Groups/${g.id}`, { raw: 'null,' }), 400, 'invalidSyntax');
  expectError(await c.req('POST', '/Bulk', { raw: '{"Operations": [' }), 400, 'invalidSyntax');
  expectError(await c.req('POST', '/Users/.search', { raw: '{"filter":' }), 400, 'invalidSyntax');
});

test('errors: wrong attribute types -> 400', async (ctx) => {
  const { c } = ctx;
  expectError(keep(ctx, await c.post('/Users', { schemas: [USER], userName: 123 })), 400);
  expectError(keep(ctx, await c.post('/Users', { schemas: [USER], userName: ctx.uname('t1'), active: 'maybe' })), 400);
  expectError(keep(ctx, await c.post('/Users', { schemas: [USER], userName: ctx.uname('t2'), emails: 'not-a-list' })), 400);
  expectError(keep(ctx, await c.post('/Users', { schemas: [USER], userName: ctx.uname('t3'), name: 'not-complex' })), 400);
  expectError(keep(ctx, await c.post('/Groups', { schemas: [GROUP], displayName: 42 })), 400);
  expectError(keep(ctx, await c.post('/Groups', { schemas: [GROUP], displayName: ctx.name('t4'), members: { value: 'x' } })), 400);
  const u = await ctx.createUser();
  expectError(await c.put(`/Users/${u.id}`, { schemas: [USER], userName: ['a', 'b'] }), 400);
  expectError(await c.patch(`/Users/${u.id}`, patchOp({ op: 'replace', path: 'userName', value: 7 })), 400);
});

test('errors: missing required attributes -> 400', async (ctx) => {
  const { c } = ctx;
  expectError(keep(ctx, await c.post('/Users', { schemas: [USER], displayName: 'No userName' })), 400);
  expectError(keep(ctx, await c.post('/Users', { schemas: [USER], userName: '' })), 400);
  expectError(keep(ctx, await c.post('/Groups', { schemas: [GROUP], members: [] })), 400);
  const u = await ctx.createUser();
  expectError(await c.put(`/Users/${u.id}`, { schemas: [USER], displayName: 'PUT without userName' }), 400);
  const g = await ctx.createGroup();
  expectError(await c.put(`/Groups/${g.id}`, { schemas: [GROUP] }), 400);
  expectError(await c.patch(`/Users/${u.id}`, patchOp({ op: 'remove', path: 'userName' })), 400);
  const get = await c.get(`/Users/${u.id}`);
  assert.equal(get.body.userName, u.userName, 'required attribute still there');
});

test('errors: missing or unknown core schema -> 400 invalidSyntax or invalidValue', async (ctx) => {
  const { c } = ctx;
  const types = ['invalidSyntax', 'invalidValue'];
  expectError(keep(ctx, await c.post('/Users', { userName: ctx.uname('noschema') })), 400, types);
  expectError(keep(ctx, await c.post('/Users', { schemas: [], userName: ctx.uname('empty') })), 400, types);
  expectError(keep(ctx, await c.post('/Users', { schemas: ['urn:example:not:a:scim:schema'], userName: ctx.uname('unknown') })), 400, types);
  expectError(keep(ctx, await c.post('/Users', { schemas: [GROUP], userName: ctx.uname('wrongtype') })), 400, types);
  expectError(keep(ctx, await c.post('/Groups', { displayName: ctx.name('noschema') })), 400, types);
  expectError(keep(ctx, await c.post('/Groups', { schemas: [USER], displayName: ctx.name('wrongtype') })), 400, types);
  const u = await ctx.createUser();
  expectError(await c.put(`/Users/${u.id}`, { schemas: ['urn:example:nope'], userName: u.userName }), 400, types);
});

test('errors: PATCH request without PatchOp schema or Operations -> 400', async (ctx) => {
  const { c } = ctx;
  const u = await ctx.createUser({ displayName: 'Unchanged' });
  expectError(await c.patch(`/Users/${u.id}`, { Operations: [{ op: 'replace', path: 'displayName', value: 'x' }] }), 400);
  expectError(await c.patch(`/Users/${u.id}`, { schemas: [USER], Operations: [{ op: 'replace', path: 'displayName', value: 'x' }] }), 400);
  expectError(await c.patch(`/Users/${u.id}`, { schemas: [PATCH_OP] }), 400);
  expectError(await c.patch(`/Users/${u.id}`, { schemas: [PATCH_OP], Operations: 'replace' }), 400);
  expectError(await c.patch(`/Users/${u.id}`, patchOp({ op: 'replace', path: 'displayName' })), 400);
  assert.equal((await c.get(`/Users/${u.id}`)).body.displayName, 'Unchanged');
});

test('errors: unknown ids -> 404 on every method, for Users and Groups', async ({ c }) => {
  for (const kind of ['Users', 'Groups']) {
    for (const id of ['6f1c2a8e-0000-4000-8000-000000000000', 'abc', 'a%20b']) {
      const path = `/${kind}/${id}`;
      expectError(await c.get(path), 404);
      expectError(await c.put(path, kind === 'Users' ? { schemas: [USER], userName: 'conf-404@example.com' } : { schemas: [GROUP], displayName: 'conf-404' }), 404);
      expectError(await c.patch(path, patchOp({ op: 'replace', path: 'displayName', value: 'x' })), 404);
      expectError(await c.del(path), 404);
    }
  }
});

test('errors: group member that is not a user -> 400, nothing created', async (ctx) => {
  const displayName = ctx.name('badmember');
  const res = keep(ctx, await ctx.c.post('/Groups', { schemas: [GROUP], displayName, members: [{ value: '6f1c2a8e-0000-4000-8000-000000000000' }] }));
  assert.ok([400, 404].includes(res.status), `expected 400 (or 404) for an unknown member, got ${res.status}`);
  expectError(res, res.status);
  const g = await ctx.createGroup();
  const patch = await ctx.c.patch(`/Groups/${g.id}`, patchOp({ op: 'add', path: 'members', value: [{ value: 'no-such-user' }] }));
  assert.ok([400, 404].includes(patch.status), `expected 400 (or 404) adding an unknown member, got ${patch.status}`);
  expectError(patch, patch.status);
});
