// PATCH (RFC 7644 §3.5.2): op forms, paths, value filters, multi-valued semantics, group membership, atomicity.
import assert from 'node:assert/strict';
import { test } from './runner.ts';
import type { Ctx } from './runner.ts';
import {
  ENTERPRISE, emailOf, ent, expectError, expectResource, expectStatus, memberIds, normalized, patchOp, patched,
} from './scim.ts';
import type { PatchOperation } from './scim.ts';

/** PATCH /<kind>/<id> (200 with the resource, or 204); returns a fresh GET of it. */
async function patchOk(ctx: Ctx, kind: 'Users' | 'Groups', id: string, ...ops: PatchOperation[]): Promise<any> {
  const r = await patched(ctx.c, `/${kind}/${id}`, ...ops);
  assert.equal(r.id, id);
  return r;
}

test('patch: Users answer 200 with the full resource and ETag; Groups 204 (RFC 7644 3.5.2), or 200 when attributes are asked for', async (ctx) => {
  const u = await ctx.createUser({ displayName: 'Before' });
  const ures = await ctx.c.patch(`/Users/${u.id}`, patchOp({ op: 'replace', path: 'displayName', value: 'After' }));
  expectStatus(ures, 200);
  expectResource(ures, 'User');
  assert.equal(ures.body.displayName, 'After');
  assert.equal(ures.headers.get('etag'), ures.body.meta.version);
  const g = await ctx.createGroup({ members: [{ value: u.id }] });
  const renamed = ctx.name('renamed');
  const gres = await ctx.c.patch(`/Groups/${g.id}`, patchOp({ op: 'replace', path: 'displayName', value: renamed }));
  expectStatus(gres, 204);
  assert.equal(gres.text, '', '204 has no body');
  const read = await ctx.c.get(`/Groups/${g.id}`);
  assert.equal(read.body.displayName, renamed);
  assert.deepEqual(memberIds(read.body), [u.id]);
  assert.equal(gres.headers.get('etag'), read.body.meta.version, 'the 204 carries the new ETag');
  const projected = await ctx.c.patch(`/Groups/${g.id}?excludedAttributes=members`,
    patchOp({ op: 'replace', path: 'displayName', value: `${renamed}-2` }));
  expectStatus(projected, 200);
  assert.equal(projected.body.displayName, `${renamed}-2`);
  assert.equal(projected.body.members, undefined, 'excludedAttributes=members honoured on PATCH');
});

test('patch: replace with path -> 200 with the full resource; version changes', async (ctx) => {
  const u = await ctx.createUser({ displayName: 'Before', title: 'Kept' });
  const after = await patchOk(ctx, 'Users', u.id, { op: 'replace', path: 'displayName', value: 'After' });
  assert.equal(after.displayName, 'After');
  assert.equal(after.title, 'Kept');
  assert.equal(after.userName, u.userName);
  assert.notEqual(after.meta.version, u.meta.version);
});

test('patch: op names are case-insensitive (Add, Replace, Remove)', async (ctx) => {
  const u = await ctx.createUser({ nickName: 'Nick', displayName: 'D0' });
  const after = await patchOk(ctx, 'Users', u.id,
    { op: 'Add', path: 'title', value: 'Added' },
    { op: 'Replace', path: 'displayName', value: 'Replaced' },
    { op: 'Remove', path: 'nickName' });
  assert.equal(after.title, 'Added');
  assert.equal(after.displayName, 'Replaced');
  assert.equal(after.nickName, undefined);
  const again = await patchOk(ctx, 'Users', u.id, { op: 'REPLACE', path: 'title', value: 'Upper' });
  assert.equal(again.title, 'Upper');
});

test('patch: replace and add without path merge the given attributes', async (ctx) => {
  const u = await ctx.createUser({ title: 'Kept', name: { givenName: 'Old', familyName: 'Family' } });
  const after = await patchOk(ctx, 'Users', u.id,
    { op: 'replace', value: { displayName: 'No Path', name: { givenName: 'New' } } });
  assert.equal(after.displayName, 'No Path');
  assert.equal(after.name.givenName, 'New');
  assert.equal(after.name.familyName, 'Family', 'unspecified sub-attributes are left unchanged');
  assert.equal(after.title, 'Kept');
  const added = await patchOk(ctx, 'Users', u.id, { op: 'add', value: { nickName: 'Nicky', profileUrl: 'https://example.com/p' } });
  assert.equal(added.nickName, 'Nicky');
  assert.equal(added.profileUrl, 'https://example.com/p');
  assert.equal(added.displayName, 'No Path');
});

test('patch: sub-attribute path name.givenName (replace and add)', async (ctx) => {
  const u = await ctx.createUser({ name: { givenName: 'Old', familyName: 'Family' } });
  const r = await patchOk(ctx, 'Users', u.id, { op: 'replace', path: 'name.givenName', value: 'Replaced' });
  assert.equal(r.name.givenName, 'Replaced');
  assert.equal(r.name.familyName, 'Family');
  const a = await patchOk(ctx, 'Users', u.id, { op: 'add', path: 'name.middleName', value: 'Middle' });
  assert.equal(a.name.middleName, 'Middle');
  assert.equal(a.name.givenName, 'Replaced');
  const rm = await patchOk(ctx, 'Users', u.id, { op: 'remove', path: 'name.middleName' });
  assert.equal(rm.name.middleName, undefined);
  assert.equal(rm.name.familyName, 'Family');
});

test('patch: emails[type eq "work"].value replace leaves other emails alone', async (ctx) => {
  const userName = ctx.uname('mail');
  const u = await ctx.createUser({
    userName,
    emails: [{ value: `work-${userName}`, type: 'work', primary: true }, { value: `home-${userName}`, type: 'home' }],
  });
  const after = await patchOk(ctx, 'Users', u.id, { op: 'replace', path: 'emails[type eq "work"].value', value: `new-${userName}` });
  assert.equal(emailOf(after, 'work'), `new-${userName}`);
  assert.equal(emailOf(after, 'home'), `home-${userName}`);
  assert.equal(after.emails.length, 2);
  assert.equal(after.emails.find((e: any) => e.type === 'work').primary, true, 'other sub-attributes of the entry kept');
});

test('patch: remove by value filter and by attribute path', async (ctx) => {
  const userName = ctx.uname('rm');
  const u = await ctx.createUser({
    userName, title: 'Gone soon',
    emails: [{ value: `work-${userName}`, type: 'work' }, { value: `home-${userName}`, type: 'home' }],
  });
  const after = await patchOk(ctx, 'Users', u.id,
    { op: 'remove', path: 'emails[type eq "home"]' },
    { op: 'remove', path: 'title' });
  assert.deepEqual(after.emails.map((e: any) => e.value), [`work-${userName}`]);
  assert.equal(after.title, undefined);
});

test('patch: add to a multi-valued attribute appends; replace replaces all', async (ctx) => {
  const userName = ctx.uname('mv');
  const u = await ctx.createUser({ userName, emails: [{ value: `a-${userName}`, type: 'work' }] });
  const added = await patchOk(ctx, 'Users', u.id, { op: 'add', path: 'emails', value: [{ value: `b-${userName}`, type: 'other' }] });
  assert.deepEqual(added.emails.map((e: any) => e.value).sort(), [`a-${userName}`, `b-${userName}`]);
  const replaced = await patchOk(ctx, 'Users', u.id, { op: 'replace', path: 'emails', value: [{ value: `c-${userName}`, type: 'home' }] });
  assert.deepEqual(replaced.emails.map((e: any) => e.value), [`c-${userName}`]);
  const phones = await patchOk(ctx, 'Users', u.id, { op: 'add', path: 'phoneNumbers', value: [{ value: '+1 555 0100', type: 'mobile' }] });
  assert.equal(phones.phoneNumbers?.[0]?.value, '+1 555 0100');
});

test('patch: enterprise attributes by URN path', async (ctx) => {
  const u = await ctx.createUser({ [ENTERPRISE]: { employeeNumber: '1' } });
  const a = await patchOk(ctx, 'Users', u.id,
    { op: 'add', path: `${ENTERPRISE}:department`, value: 'Sales' },
    { op: 'replace', path: `${ENTERPRISE}:employeeNumber`, value: '2' });
  assert.equal(ent(a).department, 'Sales');
  assert.equal(ent(a).employeeNumber, '2');
  assert.ok(a.schemas.includes(ENTERPRISE), 'schemas lists the extension');
  const r = await patchOk(ctx, 'Users', u.id, { op: 'remove', path: `${ENTERPRISE}:department` });
  assert.equal(ent(r).department, undefined);
  assert.equal(ent(r).employeeNumber, '2');
  const whole = await patchOk(ctx, 'Users', u.id, { op: 'replace', value: { [ENTERPRISE]: { costCenter: 'CC1' } } });
  assert.equal(ent(whole).costCenter, 'CC1');
});

test('patch: userName can be changed and is then found by filter', async (ctx) => {
  const u = await ctx.createUser();
  const newName = ctx.uname('renamed');
  const after = await patchOk(ctx, 'Users', u.id, { op: 'replace', path: 'userName', value: newName });
  assert.equal(after.userName, newName);
  const list = await ctx.c.get(`/Users?filter=${encodeURIComponent(`userName eq "${newName}"`)}`);
  assert.equal(list.body.totalResults, 1);
  assert.equal(list.body.Resources[0].id, u.id);
});

// --- group membership -----------------------------------------------------------------------------

async function groupWithUsers(ctx: Ctx, n: number): Promise<{ g: any; users: any[] }> {
  const users: any[] = [];
  for (let i = 0; i < n; i++) users.push(await ctx.createUser());
  const g = await ctx.createGroup();
  return { g, users };
}

test('patch: group members add (array), remove with members[value eq "id"]', async (ctx) => {
  const { g, users: [a, b, c] } = await groupWithUsers(ctx, 3);
  const added = await patchOk(ctx, 'Groups', g.id, { op: 'add', path: 'members', value: [{ value: a.id }, { value: b.id }, { value: c.id }] });
  assert.deepEqual(memberIds(added), [a.id, b.id, c.id].sort());
  const again = await patchOk(ctx, 'Groups', g.id, { op: 'add', path: 'members', value: [{ value: a.id }] });
  assert.deepEqual(memberIds(again), [a.id, b.id, c.id].sort(), 'adding an existing member changes nothing');
  const removed = await patchOk(ctx, 'Groups', g.id, { op: 'remove', path: `members[value eq "${b.id}"]` });
  assert.deepEqual(memberIds(removed), [a.id, c.id].sort());
});

test('patch: group remove with path "members" and a value array removes only those', async (ctx) => {
  const { g, users: [a, b, c] } = await groupWithUsers(ctx, 3);
  await patchOk(ctx, 'Groups', g.id, { op: 'add', path: 'members', value: [{ value: a.id }, { value: b.id }, { value: c.id }] });
  const removed = await patchOk(ctx, 'Groups', g.id, { op: 'remove', path: 'members', value: [{ value: a.id }, { value: c.id }] });
  assert.deepEqual(memberIds(removed), [b.id]);
  const all = await patchOk(ctx, 'Groups', g.id, { op: 'remove', path: 'members' });
  assert.deepEqual(memberIds(all), [], 'remove "members" without a value removes every member');
});

test('patch: group replace members (Okta) leaves exactly that list', async (ctx) => {
  const { g, users: [a, b, c] } = await groupWithUsers(ctx, 3);
  await patchOk(ctx, 'Groups', g.id, { op: 'add', path: 'members', value: [{ value: a.id }, { value: b.id }] });
  const replaced = await patchOk(ctx, 'Groups', g.id,
    { op: 'replace', path: 'members', value: [{ value: b.id, display: b.userName }, { value: c.id, display: c.userName }] });
  assert.deepEqual(memberIds(replaced), [b.id, c.id].sort());
});

test('patch: group rename with replace value {id, displayName} (Okta) and with path displayName', async (ctx) => {
  const { g, users: [a] } = await groupWithUsers(ctx, 1);
  await patchOk(ctx, 'Groups', g.id, { op: 'add', path: 'members', value: [{ value: a.id }] });
  const renamed = ctx.name('renamed');
  const r = await patchOk(ctx, 'Groups', g.id, { op: 'replace', value: { id: g.id, displayName: renamed } });
  assert.equal(r.displayName, renamed);
  assert.equal(r.id, g.id);
  assert.deepEqual(memberIds(r), [a.id], 'members untouched by a rename');
  const again = ctx.name('renamed-again');
  const p = await patchOk(ctx, 'Groups', g.id, { op: 'Replace', path: 'displayName', value: again });
  assert.equal(p.displayName, again);
});

// --- errors and atomicity -------------------------------------------------------------------------

async function expectAtomic(ctx: Ctx, kind: 'Users' | 'Groups', id: string, ops: PatchOperation[]): Promise<void> {
  const before = await ctx.c.get(`/${kind}/${id}`);
  expectStatus(before, 200);
  const res = await ctx.c.patch(`/${kind}/${id}`, patchOp(...ops));
  expectError(res, 400);
  const after = await ctx.c.get(`/${kind}/${id}`);
  assert.deepEqual(normalized(after.body), normalized(before.body), `a rejected PATCH must change nothing (ops ${JSON.stringify(ops)})`);
}

test('patch: invalid operation -> 400 and nothing applied (all-or-nothing)', async (ctx) => {
  const u = await ctx.createUser({ displayName: 'Original' });
  const good: PatchOperation = { op: 'replace', path: 'displayName', value: 'Changed' };
  await expectAtomic(ctx, 'Users', u.id, [good, { op: 'replace', path: 'fooBarUnknown', value: 'x' }]);
  await expectAtomic(ctx, 'Users', u.id, [good, { op: 'replace', path: 'id', value: 'another-id' }]);
  await expectAtomic(ctx, 'Users', u.id, [good, { op: 'explode', path: 'title', value: 'x' }]);
  await expectAtomic(ctx, 'Users', u.id, [good, { op: 'replace', path: 'active', value: 'maybe' }]);
  await expectAtomic(ctx, 'Users', u.id, [good, { op: 'replace', path: 'emails[type eq "work"', value: 'x' }]);
  const { g, users: [a] } = await groupWithUsers(ctx, 1);
  await expectAtomic(ctx, 'Groups', g.id, [
    { op: 'add', path: 'members', value: [{ value: a.id }] },
    { op: 'replace', path: 'displayName', value: ctx.name('never') },
    { op: 'frobnicate', path: 'members' },
  ]);
});

test('patch: remove without path -> 400 noTarget; unknown id -> 404', async (ctx) => {
  const u = await ctx.createUser({ title: 'T' });
  expectError(await ctx.c.patch(`/Users/${u.id}`, patchOp({ op: 'remove' })), 400, 'noTarget');
  expectError(await ctx.c.patch('/Users/6f1c2a8e-0000-4000-8000-000000000000', patchOp({ op: 'replace', path: 'title', value: 'x' })), 404);
  expectError(await ctx.c.patch('/Groups/abc', patchOp({ op: 'replace', path: 'displayName', value: 'x' })), 404);
});
