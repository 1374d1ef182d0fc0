// Okta's provisioning flows, as in Okta's SCIM 2.0 protocol reference and its SPEC / CRUD test plans:
// test connection, user lookup by userName, create, read, PUT update, PATCH deactivation, Group Push.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { qs } from './client.ts';
import { test } from './runner.ts';
import type { Ctx } from './runner.ts';
import {
  GROUP, USER, emailOf, expectError, expectList, expectResource, expectStatus, memberIds, patchOp, patched,
} from './scim.ts';

/** The user body Okta sends on "Create User" (profile attributes mapped to SCIM). */
function oktaUser(ctx: Ctx, label: string): Record<string, unknown> {
  const userName = ctx.uname(label);
  return {
    schemas: [USER],
    userName,
    name: { givenName: 'Test', familyName: 'User' },
    emails: [{ primary: true, value: userName, type: 'work' }],
    displayName: 'Test User',
    locale: 'en-US',
    externalId: `00u${randomUUID().replace(/-/g, '').slice(0, 17)}`,
    groups: [],
    password: `Okta-${randomUUID()}-1a!`,
    active: true,
  };
}

async function lookup(ctx: Ctx, userName: string): Promise<any[]> {
  const res = await ctx.c.get(`/Users${qs({ filter: `userName eq "${userName}"`, startIndex: 1, count: 100 })}`);
  const resources = expectList(res);
  assert.equal(res.body.startIndex, 1);
  return resources;
}

test('okta: test connection GET /Users?startIndex=1&count=2 and /Groups?startIndex=1&count=100', async (ctx) => {
  await ctx.createUser();
  const users = await ctx.c.get(`/Users${qs({ startIndex: 1, count: 2 })}`);
  const page = expectList(users);
  assert.ok(page.length >= 1 && page.length <= 2, `itemsPerPage ${page.length} with count=2`);
  assert.ok(users.body.totalResults >= page.length);
  for (const u of page) assert.ok(typeof u.id === 'string' && typeof u.userName === 'string', 'users carry id and userName');
  expectList(await ctx.c.get(`/Groups${qs({ startIndex: 1, count: 100 })}`));
});

test('okta: SPEC flow: lookup (0), create, read, lookup (1), case-insensitive lookup, duplicate 409, unknown 404', async (ctx) => {
  const body = oktaUser(ctx, 'spec');
  const userName = body.userName as string;
  assert.deepEqual(await lookup(ctx, userName), [], 'user does not exist yet');

  const created = await ctx.c.post('/Users', body);
  if (created.body?.id) ctx.track('Users', created.body.id);
  expectStatus(created, 201);
  expectResource(created, 'User');
  const u = created.body;
  assert.equal(u.userName, userName);
  assert.equal(u.active, true);
  assert.equal(u.externalId, body.externalId);
  assert.equal(u.locale, 'en-US');
  assert.equal(u.password, undefined);

  const get = await ctx.c.get(`/Users/${u.id}`);
  expectStatus(get, 200);
  assert.equal(get.body.userName, userName);
  assert.equal(get.body.name.familyName, 'User');
  assert.equal(emailOf(get.body, 'work'), userName);

  const found = await lookup(ctx, userName);
  assert.deepEqual(found.map((r) => r.id), [u.id]);
  const upper = await lookup(ctx, userName.toUpperCase());
  assert.deepEqual(upper.map((r) => r.id), [u.id], 'userName lookup ignores case');

  const dup = await ctx.c.post('/Users', { ...body, externalId: undefined, password: undefined });
  if (dup.status < 300 && dup.body?.id) ctx.track('Users', dup.body.id);
  expectError(dup, 409, 'uniqueness');

  expectError(await ctx.c.get(`/Users/${randomUUID()}`), 404);
});

test('okta: CRUD flow: create, PUT update, PATCH active false, GET inactive, paging', async (ctx) => {
  const body = oktaUser(ctx, 'crud');
  const userName = body.userName as string;
  assert.equal((await lookup(ctx, userName)).length, 0);
  const created = await ctx.c.post('/Users', body);
  if (created.body?.id) ctx.track('Users', created.body.id);
  expectStatus(created, 201);
  const u = created.body;

  // Okta's PUT sends the whole user back, including id and active.
  const put = await ctx.c.put(`/Users/${u.id}`, {
    schemas: [USER], id: u.id, userName, active: true,
    name: { givenName: 'Updated', familyName: 'User' },
    emails: [{ primary: true, value: userName, type: 'work' }],
    displayName: 'Updated User', locale: 'en-US', externalId: body.externalId, groups: [],
  });
  expectStatus(put, 200);
  assert.equal(put.body.name.givenName, 'Updated');
  assert.equal(put.body.displayName, 'Updated User');
  assert.equal(put.body.active, true);

  const deactivated = await ctx.c.patch(`/Users/${u.id}`, patchOp({ op: 'replace', value: { active: false } }));
  expectStatus(deactivated, 200);
  assert.equal(deactivated.body.active, false);
  const get = await ctx.c.get(`/Users/${u.id}`);
  expectStatus(get, 200);
  assert.equal(get.body.active, false, 'deactivated user is still readable, with active false');
  const listed = await lookup(ctx, userName);
  assert.equal(listed.length, 1, 'deactivated user is still found by userName');
  assert.equal(listed[0].active, false);

  const page = await ctx.c.get(`/Users${qs({ startIndex: 1, count: 100 })}`);
  const resources = expectList(page);
  assert.ok(resources.length <= 100);
  assert.equal(page.body.startIndex, 1);
});

test('okta: deactivate and reactivate with PATCH {"active": ...} without path', async (ctx) => {
  const u = await ctx.createUser();
  const off = await ctx.c.patch(`/Users/${u.id}`, patchOp({ op: 'replace', value: { active: false } }));
  expectStatus(off, 200);
  assert.equal(off.body.active, false);
  const [listed] = await lookup(ctx, u.userName);
  assert.equal(listed?.active, false);
  const on = await ctx.c.patch(`/Users/${u.id}`, patchOp({ op: 'replace', value: { active: true } }));
  expectStatus(on, 200);
  assert.equal(on.body.active, true);
  assert.equal((await ctx.c.get(`/Users/${u.id}`)).body.active, true);
});

test('okta: deactivate with PUT active false (AIW integrations)', async (ctx) => {
  const u = await ctx.createUser();
  const put = await ctx.c.put(`/Users/${u.id}`, { ...u, active: false, meta: undefined });
  expectStatus(put, 200);
  assert.equal(put.body.active, false);
  assert.equal((await ctx.c.get(`/Users/${u.id}`)).body.active, false);
});

test('okta: profile update with PATCH replace of several attributes without path', async (ctx) => {
  const u = await ctx.createUser({ name: { givenName: 'Old', familyName: 'Name' } });
  const res = await ctx.c.patch(`/Users/${u.id}`, patchOp({
    op: 'replace',
    value: { name: { givenName: 'New', familyName: 'Person' }, displayName: 'New Person', emails: [{ primary: true, value: `new-${u.userName}`, type: 'work' }] },
  }));
  expectStatus(res, 200);
  assert.equal(res.body.name.givenName, 'New');
  assert.equal(res.body.name.familyName, 'Person');
  assert.equal(res.body.displayName, 'New Person');
  assert.deepEqual(res.body.emails.map((e: any) => e.value), [`new-${u.userName}`]);
});

test('okta: Group Push: create, lookup, add/remove members, replace members, rename, delete', async (ctx) => {
  const [a, b, c] = [await ctx.createUser(), await ctx.createUser(), await ctx.createUser()];
  const displayName = ctx.name('okta-group');
  const none = await ctx.c.get(`/Groups${qs({ filter: `displayName eq "${displayName}"`, startIndex: 1, count: 100 })}`);
  expectList(none);
  assert.equal(none.body.totalResults, 0);

  const created = await ctx.c.post('/Groups', { schemas: [GROUP], displayName, members: [] });
  if (created.body?.id) ctx.track('Groups', created.body.id);
  expectStatus(created, 201);
  const g = created.body;
  assert.deepEqual(memberIds(g), []);

  const found = await ctx.c.get(`/Groups${qs({ filter: `displayName eq "${displayName}"`, startIndex: 1, count: 100 })}`);
  assert.deepEqual(expectList(found).map((r) => r.id), [g.id]);
  const got = await ctx.c.get(`/Groups/${g.id}${qs({ excludedAttributes: 'members' })}`);
  expectStatus(got, 200);
  assert.equal(got.body.members, undefined);

  const path = `/Groups/${g.id}`;
  const add = await patched(ctx.c, path, { op: 'add', path: 'members', value: [{ value: a.id, display: a.userName }, { value: b.id, display: b.userName }] });
  assert.deepEqual(memberIds(add), [a.id, b.id].sort());
  const remove = await patched(ctx.c, path, { op: 'remove', path: `members[value eq "${a.id}"]` });
  assert.deepEqual(memberIds(remove), [b.id]);
  const replace = await patched(ctx.c, path, { op: 'replace', path: 'members', value: [{ value: a.id }, { value: c.id }] });
  assert.deepEqual(memberIds(replace), [a.id, c.id].sort());

  const newName = ctx.name('okta-group-renamed');
  const rename = await patched(ctx.c, path, { op: 'replace', value: { id: g.id, displayName: newName } });
  assert.equal(rename.displayName, newName);
  assert.deepEqual(memberIds(rename), [a.id, c.id].sort(), 'rename keeps members');

  expectStatus(await ctx.c.del(`/Groups/${g.id}`), 204);
  expectError(await ctx.c.get(`/Groups/${g.id}`), 404);
  expectStatus(await ctx.c.get(`/Users/${a.id}`), 200);
});
