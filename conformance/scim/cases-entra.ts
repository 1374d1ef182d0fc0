// Microsoft Entra ID provisioning behaviour, as in "Tutorial: Develop and plan provisioning for a SCIM endpoint"
// and "Known issues and resolutions with SCIM 2.0 protocol compliance": capitalised ops, string booleans,
// path-less dotted / URN-qualified keys, filtered paths that create entries, the ADSCIM group schema,
// and concurrent membership updates.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { qs } from './client.ts';
import { test } from './runner.ts';
import type { Ctx } from './runner.ts';
import {
  AD_GROUP, ENTERPRISE, GROUP, USER, emailOf, ent, expectError, expectList, expectResource, expectStatus, memberIds,
  patchOp, patched,
} from './scim.ts';
import type { PatchOperation } from './scim.ts';

/** PATCH (200 with the resource, or 204) and return a fresh GET. */
function patch(ctx: Ctx, kind: 'Users' | 'Groups', id: string, ...ops: PatchOperation[]): Promise<any> {
  return patched(ctx.c, `/${kind}/${id}`, ...ops);
}

async function byUserName(ctx: Ctx, userName: string): Promise<any[]> {
  return expectList(await ctx.c.get(`/Users${qs({ filter: `userName eq "${userName}"` })}`));
}

test('entra: probe filter userName eq "<random guid>" -> 0 results', async (ctx) => {
  const res = await ctx.c.get(`/Users${qs({ filter: `userName eq "${randomUUID()}"` })}`);
  expectList(res);
  assert.equal(res.body.totalResults, 0);
  assert.deepEqual(res.body.Resources, []);
  const ext = await ctx.c.get(`/Users${qs({ filter: `externalId eq "${randomUUID()}"` })}`);
  expectList(ext);
  assert.equal(ext.body.totalResults, 0);
});

test('entra: create user with externalId, enterprise extension, meta and empty arrays', async (ctx) => {
  const userName = ctx.uname('entra');
  const externalId = randomUUID();
  const res = await ctx.c.post('/Users', {
    schemas: [USER, ENTERPRISE],
    externalId,
    userName,
    active: true,
    addresses: [],
    displayName: 'Entra User',
    emails: [{ primary: true, type: 'work', value: userName }],
    meta: { resourceType: 'User' },
    name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
    roles: [],
    [ENTERPRISE]: { employeeNumber: '1234', department: 'Finance' },
  });
  if (res.body?.id) ctx.track('Users', res.body.id);
  expectStatus(res, 201);
  expectResource(res, 'User');
  assert.equal(res.body.externalId, externalId);
  assert.equal(res.body.active, true);
  assert.equal(ent(res.body).employeeNumber, '1234');
  const [found] = await byUserName(ctx, userName);
  assert.equal(found?.id, res.body.id);
  const byExt = expectList(await ctx.c.get(`/Users${qs({ filter: `externalId eq "${externalId}"` })}`));
  assert.deepEqual(byExt.map((r) => r.id), [res.body.id]);
});

test('entra: PATCH Replace with filtered paths emails[type eq "work"].value and addresses[type eq "work"].formatted', async (ctx) => {
  const u = await ctx.createUser({ name: { givenName: 'G', familyName: 'F' } });
  const newMail = `updated-${u.userName}`;
  const after = await patch(ctx, 'Users', u.id,
    { op: 'Replace', path: 'emails[type eq "work"].value', value: newMail },
    { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
    { op: 'Replace', path: 'addresses[type eq "work"].formatted', value: '1 Main St, Springfield' },
    { op: 'Replace', path: 'addresses[type eq "work"].locality', value: 'Springfield' });
  assert.equal(emailOf(after, 'work'), newMail);
  assert.equal(after.name.familyName, 'updatedFamilyName');
  assert.equal(after.addresses?.length, 1, `one work address created: ${JSON.stringify(after.addresses)}`);
  assert.equal(after.addresses[0].type, 'work');
  assert.equal(after.addresses[0].formatted, '1 Main St, Springfield');
  assert.equal(after.addresses[0].locality, 'Springfield');
  const again = await patch(ctx, 'Users', u.id, { op: 'Add', path: 'addresses[type eq "work"].postalCode', value: '12345' });
  assert.equal(again.addresses.length, 1);
  assert.equal(again.addresses[0].postalCode, '12345');
  assert.equal(again.addresses[0].formatted, '1 Main St, Springfield');
});

test('entra: PATCH Replace userName and Add on an existing single-valued attribute', async (ctx) => {
  const u = await ctx.createUser({ name: { givenName: 'Foo', familyName: 'Bar' } });
  const newName = ctx.uname('entra-renamed');
  const after = await patch(ctx, 'Users', u.id,
    { op: 'Replace', path: 'userName', value: newName },
    { op: 'Add', path: 'name.givenName', value: 'Baz' });
  assert.equal(after.userName, newName);
  assert.equal(after.name.givenName, 'Baz', 'add on a single-valued attribute replaces it');
  assert.equal((await byUserName(ctx, newName))[0]?.id, u.id);
});

test('entra: path-less Replace with dotted and URN-qualified keys lands nested', async (ctx) => {
  const u = await ctx.createUser({ schemas: [USER, ENTERPRISE], name: { givenName: 'Old', familyName: 'Family' }, [ENTERPRISE]: { department: 'Kept' } });
  const res = await ctx.c.patch(`/Users/${u.id}`, patchOp({
    op: 'Replace',
    value: {
      'name.givenName': 'x',
      [`${ENTERPRISE}:employeeNumber`]: '42',
      displayName: 'Dotted',
    },
  }));
  expectStatus(res, 200);
  const get = (await ctx.c.get(`/Users/${u.id}`)).body;
  for (const r of [res.body, get]) {
    assert.equal(r.name?.givenName, 'x', 'name.givenName lands inside name');
    assert.equal(r.name?.familyName, 'Family');
    assert.equal(ent(r).employeeNumber, '42', 'employeeNumber lands inside the extension object');
    assert.equal(ent(r).department, 'Kept');
    assert.equal(r.displayName, 'Dotted');
    assert.equal(r['name.givenName'], undefined, 'no literal dotted key');
    assert.equal(r[`${ENTERPRISE}:employeeNumber`], undefined, 'no literal URN-qualified key');
  }
});

test('entra: deactivate with Replace active "False", reactivate with "True"', async (ctx) => {
  const u = await ctx.createUser();
  const off = await ctx.c.patch(`/Users/${u.id}`, patchOp({ op: 'Replace', path: 'active', value: 'False' }));
  expectStatus(off, 200);
  assert.equal(off.body.active, false, 'string "False" is the boolean false');
  assert.equal((await ctx.c.get(`/Users/${u.id}`)).body.active, false, 'deactivated user still readable by id');
  const [listed] = await byUserName(ctx, u.userName);
  assert.equal(listed?.active, false, 'deactivated user still found by userName');
  const on = await ctx.c.patch(`/Users/${u.id}`, patchOp({ op: 'Replace', path: 'active', value: 'True' }));
  expectStatus(on, 200);
  assert.equal(on.body.active, true);
  const off2 = await ctx.c.patch(`/Users/${u.id}`, patchOp({ op: 'Replace', path: 'active', value: false }));
  expectStatus(off2, 200);
  assert.equal(off2.body.active, false, 'real boolean false (tutorial "Disable User")');
  const noPath = await ctx.c.patch(`/Users/${u.id}`, patchOp({ op: 'Replace', value: { active: 'True' } }));
  expectStatus(noPath, 200);
  assert.equal(noPath.body.active, true);
});

test('entra: enterprise manager set as {value: id}, changed, removed with ""', async (ctx) => {
  const [m1, m2] = [await ctx.createUser(), await ctx.createUser()];
  const u = await ctx.createUser({ schemas: [USER, ENTERPRISE], [ENTERPRISE]: { department: 'D' } });
  const path = `${ENTERPRISE}:manager`;
  const set = await patch(ctx, 'Users', u.id, { op: 'Add', path, value: { value: m1.id } });
  assert.equal(ent(set).manager?.value, m1.id);
  const changed = await patch(ctx, 'Users', u.id, { op: 'Replace', path, value: { value: m2.id } });
  assert.equal(ent(changed).manager?.value, m2.id);
  const removed = await patch(ctx, 'Users', u.id, { op: 'Replace', path, value: '' });
  assert.ok(!ent(removed).manager?.value, `manager removed, got ${JSON.stringify(ent(removed).manager)}`);
  assert.equal(ent(removed).department, 'D');
  await patch(ctx, 'Users', u.id, { op: 'Add', path, value: { value: m1.id } });
  const rfcRemove = await patch(ctx, 'Users', u.id, { op: 'Remove', path });
  assert.ok(!ent(rfcRemove).manager?.value, 'manager removed by Remove');
});

test('entra: create group with the ADSCIM schema URN, get, filter with excludedAttributes=members', async (ctx) => {
  const displayName = ctx.name('entra-group');
  const res = await ctx.c.post('/Groups', {
    schemas: [GROUP, AD_GROUP], externalId: randomUUID(), displayName, meta: { resourceType: 'Group' },
  });
  if (res.body?.id) ctx.track('Groups', res.body.id);
  expectStatus(res, 201);
  expectResource(res, 'Group');
  const g = res.body;
  const one = await ctx.c.get(`/Groups/${g.id}${qs({ excludedAttributes: 'members' })}`);
  expectStatus(one, 200);
  assert.equal(one.body.displayName, displayName);
  const list = await ctx.c.get(`/Groups${qs({ excludedAttributes: 'members', filter: `displayName eq "${displayName}"` })}`);
  const found = expectList(list);
  assert.deepEqual(found.map((r) => r.id), [g.id]);
  assert.equal(found[0].members, undefined);
  const renamed = `${displayName}updatedDisplayName`;
  const after = await patch(ctx, 'Groups', g.id, { op: 'Replace', path: 'displayName', value: renamed });
  assert.equal(after.displayName, renamed);
});

test('entra: group Add members / Remove members with {"$ref": null, value}', async (ctx) => {
  const [a, b] = [await ctx.createUser(), await ctx.createUser()];
  const g = await ctx.createGroup({ schemas: [GROUP, AD_GROUP] });
  const added = await patch(ctx, 'Groups', g.id, { op: 'Add', path: 'members', value: [{ $ref: null, value: a.id }, { $ref: null, value: b.id }] });
  assert.deepEqual(memberIds(added), [a.id, b.id].sort());
  const removed = await patch(ctx, 'Groups', g.id, { op: 'Remove', path: 'members', value: [{ $ref: null, value: a.id }] });
  assert.deepEqual(memberIds(removed), [b.id]);
});

test('entra: 10 concurrent Add-member PATCHes on one group all succeed', async (ctx) => {
  const users: any[] = [];
  for (let i = 0; i < 10; i++) users.push(await ctx.createUser());
  const g = await ctx.createGroup();
  const results = await Promise.all(users.map((u) =>
    ctx.c.patch(`/Groups/${g.id}`, patchOp({ op: 'Add', path: 'members', value: [{ $ref: null, value: u.id }] }))));
  for (const res of results) expectStatus(res, 200, 204);
  const get = await ctx.c.get(`/Groups/${g.id}`);
  expectStatus(get, 200);
  assert.deepEqual(memberIds(get.body), users.map((u) => u.id).sort(), 'all 10 members present');
  const removals = await Promise.all(users.slice(0, 5).map((u) =>
    ctx.c.patch(`/Groups/${g.id}`, patchOp({ op: 'Remove', path: 'members', value: [{ $ref: null, value: u.id }] }))));
  for (const res of removals) expectStatus(res, 200, 204);
  assert.deepEqual(memberIds((await ctx.c.get(`/Groups/${g.id}`)).body), users.slice(5).map((u) => u.id).sort());
});

test('entra: delete user -> 204 and the user is gone', async (ctx) => {
  const u = await ctx.createUser();
  expectStatus(await ctx.c.del(`/Users/${u.id}`), 204);
  expectError(await ctx.c.get(`/Users/${u.id}`), 404);
  assert.equal((await byUserName(ctx, u.userName)).length, 0);
});
