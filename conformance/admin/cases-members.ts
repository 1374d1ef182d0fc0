// Members: added directly, listed (search, filters, paging), read, changed, deactivated and reactivated,
// their password reset, removed; the owner protected; ownership transferred and back.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { qs } from './client.ts';
import { describe, expectBadRequest, expectJson, expectList, expectNoContent, expectProblem, ids, isDate } from './admin.ts';
import { test } from './runner.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What the owner's protection answers: owner_protected, or not_managed when the owner's account is another organisation's. */
const ownerRefusal = (owner: any) => (owner.managed ? 'owner_protected' : ['owner_protected', 'not_managed']);

test('members: POST adds a member (201) with a temporary password shown once; GET by id is the same member; audited member.created', async (ctx) => {
  const { api } = ctx;
  const email = ctx.email('new');
  const made = await ctx.createMember({ name: '  Ada Conformance  ', email: `  ${email}  `, role: 'member' });
  const m = made.member;
  assert.match(m.id, UUID);
  assert.equal(m.kind, 'member');
  assert.equal(typeof m.accountId, 'string');
  assert.equal(m.name, 'Ada Conformance', 'the name is trimmed');
  assert.equal(m.email, email, 'the e-mail is trimmed');
  assert.equal(m.role, 'member');
  assert.equal(m.status, 'active');
  assert.equal(m.managed, true, 'a new account is managed by the organisation that made it');
  assert.deepEqual([m.groups, m.grantedRoles, m.mfaMethods, m.identities], [[], [], [], []]);
  assert.ok(isDate(m.joinedAt), `joinedAt: ${m.joinedAt}`);
  assert.equal(m.deactivatedAt, null);
  assert.equal(m.lastSignInAt, null);
  assert.ok(typeof made.temporaryPassword === 'string' && made.temporaryPassword.length >= 12, `a temporary password: ${made.temporaryPassword}`);
  const got = await api.get(api.org(`/members/${m.id}`));
  assert.deepEqual(expectJson(got), m, 'GET answers the member POST answered');
  assert.ok(!got.text.includes(made.temporaryPassword!), 'the temporary password is shown once');
  const listed = await api.get(api.org(`/members${qs({ search: email })}`));
  assert.deepEqual(expectList(listed), [m]);
  assert.ok(!listed.text.includes(made.temporaryPassword!), 'the temporary password is never listed');
  await ctx.expectAudit('member.created', m.id, { type: 'api_key' });
});

test('members: POST with bad input is 400 (invalid_request or invalid_value) and adds nobody', async (ctx) => {
  const { api } = ctx;
  const email = ctx.email('bad');
  for (const body of [
    {},
    { role: 'member' },
    { email },
    { email: 'not-an-email', role: 'member' },
    { email: 'two words@example.com', role: 'member' },
    { email: `${'x'.repeat(320)}@example.com`, role: 'member' },
    { email: 42, role: 'member' },
    { email, role: '' },
    { email, role: 'emperor' },
    { email, role: randomUUID() },
    { email, role: 'owner' },
    { email, role: 'member', name: 'x'.repeat(257) },
    { email, role: 'member', groupIds: ['not-a-uuid'] },
    { email, role: 'member', groupIds: [randomUUID()] },
    { email, role: 'member', password: 'chosen by the admin' },
    { email, role: 'member', unknownField: 1 },
  ]) {
    expectBadRequest(await api.post(api.org('/members'), body));
  }
  assert.deepEqual(expectList(await api.get(api.org(`/members${qs({ search: email })}`))), [], 'a refused POST added someone');
});

test('members: adding an address that is already a member (in any case) is 409 already_member and changes nothing', async (ctx) => {
  const { api } = ctx;
  const { member } = await ctx.createMember();
  const owner = await ctx.owner();
  for (const email of [member.email, member.email.toUpperCase(), owner.email]) {
    expectProblem(await api.post(api.org('/members'), { email, role: 'admin' }), 409, 'already_member');
  }
  assert.deepEqual(expectJson(await api.get(api.org(`/members/${member.id}`))), member, 'the member changed');
  assert.equal(expectList(await api.get(api.org(`/members${qs({ search: member.email })}`))).length, 1);
});

test('members: list: search by part of a name or e-mail (any case) finds the member; status and role filters; % and _ in a search are taken literally', async (ctx) => {
  const { api, scope } = ctx;
  const a = (await ctx.createMember({ name: `Alpha ${scope} Quill`, email: ctx.email('a1') })).member;
  const b = (await ctx.createMember({ name: `Bravo ${scope}`, email: ctx.email('b1'), role: 'admin' })).member;
  const c = (await ctx.createMember({ name: `Charlie ${scope}`, email: ctx.email('c1') })).member;
  expectJson(await api.post(api.org(`/members/${c.id}/deactivate`)));
  const find = async (query: Record<string, string>) => {
    const res = await api.get(api.org(`/members${qs({ limit: 200, ...query })}`));
    const items = expectList(res);
    assert.equal(res.body.total, items.length, `total counts what the query selects: ${describe(res)}`);
    return ids(items);
  };
  assert.deepEqual(await find({ search: scope }), ids([a, b, c]));
  assert.deepEqual(await find({ search: scope.toUpperCase() }), ids([a, b, c]), 'search ignores case');
  assert.deepEqual(await find({ search: `alpha ${scope} QUILL` }), ids([a]), 'search by name');
  assert.deepEqual(await find({ search: `  ${b.email.toUpperCase()}  ` }), ids([b]), 'search by e-mail');
  assert.deepEqual(await find({ search: scope, status: 'deactivated' }), ids([c]));
  assert.deepEqual(await find({ search: scope, status: 'active' }), ids([a, b]));
  assert.deepEqual(await find({ search: scope, role: 'admin' }), ids([b]));
  assert.deepEqual(await find({ search: scope, role: 'member', status: 'active' }), ids([a]));
  assert.deepEqual(await find({ search: scope, status: 'invited' }), []);
  assert.deepEqual(await find({ search: `${scope}%` }), [], '% is not a wildcard');
  assert.deepEqual(await find({ search: scope.replaceAll('-', '_') }), [], '_ is not a wildcard');
  const deactivated = expectList(await api.get(api.org(`/members${qs({ search: c.email })}`)))[0];
  assert.equal(deactivated.status, 'deactivated');
  // Without a search the roster has them too (and the owner).
  const all = new Set<string>();
  let cursor: string | null = null;
  do {
    const res = await api.get(api.org(`/members${qs({ limit: 200, cursor: cursor ?? undefined })}`));
    for (const m of expectList(res)) all.add(m.id);
    cursor = res.body.nextCursor;
  } while (cursor);
  for (const m of [a, b, c, await ctx.owner()]) assert.ok(all.has(m.id), `the roster lacks ${m.email}`);
});

test('members: paging: limit=1 walks every match once by nextCursor, oldest first, with the same total on each page; bad paging parameters are 400', async (ctx) => {
  const { api, scope } = ctx;
  const made = [];
  for (let i = 0; i < 3; i++) made.push((await ctx.createMember()).member);
  for (const limit of [1, 2]) {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const res = await api.get(api.org(`/members${qs({ search: scope, limit, cursor })}`));
      const items = expectList(res);
      assert.equal(res.body.total, 3, `total on every page: ${describe(res)}`);
      assert.ok(items.length <= limit, `a page holds at most limit=${limit}: ${describe(res)}`);
      seen.push(...items.map((m: any) => m.id));
      pages += 1;
      if (!res.body.nextCursor) break;
      assert.ok(pages < 10, 'paging does not end');
      cursor = res.body.nextCursor;
    }
    assert.deepEqual(seen, made.map((m) => m.id), `limit=${limit}: every member once, oldest first`);
    assert.equal(pages, Math.ceil(3 / limit));
  }
  for (const bad of [{ limit: 0 }, { limit: 201 }, { limit: 'abc' }, { limit: -1 }, { cursor: 'not-a-cursor' }, { status: 'gone' }, { sort: 'name' }, { search: 'x'.repeat(201) }]) {
    expectBadRequest(await api.get(api.org(`/members${qs(bad)}`)));
  }
  const page = await api.get(api.org('/members'));
  assert.ok(expectList(page).length <= 50, 'the default page is at most 50');
});

test('members: GET, PATCH, DELETE and every action on an unknown member (a random UUID, or not a UUID) are 404 not_found', async ({ api }) => {
  for (const id of [randomUUID(), 'not-a-uuid']) {
    const p = (s = '') => api.org(`/members/${id}${s}`);
    for (const res of [
      await api.get(p()),
      await api.patch(p(), { name: 'Nobody' }),
      await api.del(p()),
      await api.post(p('/deactivate')),
      await api.post(p('/reactivate')),
      await api.post(p('/reset-password')),
      await api.post(p('/reset-mfa')),
    ]) {
      expectProblem(res, 404, 'not_found');
    }
  }
});

test('members: PATCH changes the name, phone and e-mail of a member the organisation manages (what is given; the rest stays); GET agrees; audited member.updated', async (ctx) => {
  const { api } = ctx;
  const { member } = await ctx.createMember({ name: 'Before Change' });
  const renamed = expectJson(await api.patch(api.org(`/members/${member.id}`), { name: '  After Change  ', phone: '+1 555 0100' }));
  assert.equal(renamed.name, 'After Change');
  assert.equal(renamed.phone, '+1 555 0100');
  assert.equal(renamed.email, member.email, 'the e-mail stays');
  assert.equal(renamed.role, member.role, 'the role stays');
  assert.deepEqual(expectJson(await api.get(api.org(`/members/${member.id}`))), renamed, 'GET agrees');
  const email = ctx.email('moved');
  const moved = expectJson(await api.patch(api.org(`/members/${member.id}`), { email }));
  assert.equal(moved.email, email);
  assert.equal(moved.name, 'After Change', 'the name stays');
  assert.deepEqual(ids(expectList(await api.get(api.org(`/members${qs({ search: email })}`)))), [member.id], 'found by the new e-mail');
  assert.deepEqual(expectList(await api.get(api.org(`/members${qs({ search: member.email })}`))), [], 'not by the old one');
  const cleared = expectJson(await api.patch(api.org(`/members/${member.id}`), { phone: null }));
  assert.equal(cleared.phone, null);
  await ctx.expectAudit('member.updated', member.id, { type: 'api_key' });
});

test('members: PATCH with bad input is 400 and changes nothing (neither the profile nor the role)', async (ctx) => {
  const { api } = ctx;
  const { member } = await ctx.createMember({ name: 'Stays Put' });
  for (const body of [
    { email: 'not-an-email' },
    { email: null },
    { name: 'x'.repeat(257) },
    { phone: 'x'.repeat(65) },
    { role: 'owner' },
    { role: 'emperor' },
    { role: '' },
    { unknownField: 1 },
    { accountId: randomUUID() },
    { status: 'deactivated' },
    // A valid change beside an invalid one: neither applies.
    { name: 'Changed Anyway', email: 'not-an-email' },
    { name: 'Changed Anyway', role: 'owner' },
    { name: 'Changed Anyway', role: 'emperor' },
    { role: 'admin', email: 'not-an-email' },
    { role: 'admin', unknownField: 1 },
  ]) {
    expectBadRequest(await api.patch(api.org(`/members/${member.id}`), body));
  }
  assert.deepEqual(expectJson(await api.get(api.org(`/members/${member.id}`))), member, 'a refused PATCH changed the member');
});

test("members: PATCH role to admin, billing and back (audited member.role_changed); the owner's role cannot be changed (403 owner_protected)", async (ctx) => {
  const { api } = ctx;
  const { member } = await ctx.createMember();
  assert.equal(expectJson(await api.patch(api.org(`/members/${member.id}`), { role: 'admin' })).role, 'admin');
  assert.equal(expectJson(await api.get(api.org(`/members/${member.id}`))).role, 'admin');
  await ctx.expectAudit('member.role_changed', member.id, { type: 'api_key' });
  assert.equal(expectJson(await api.patch(api.org(`/members/${member.id}`), { role: 'billing' })).role, 'billing');
  const both = expectJson(await api.patch(api.org(`/members/${member.id}`), { role: 'member', name: 'Both At Once' }));
  assert.deepEqual([both.role, both.name], ['member', 'Both At Once'], 'a profile and a role change in one PATCH');
  const owner = await ctx.owner();
  expectProblem(await api.patch(api.org(`/members/${owner.id}`), { role: 'admin' }), 403, 'owner_protected');
  const after = expectJson(await api.get(api.org(`/members/${owner.id}`)));
  assert.equal(after.role, 'owner');
});

test("members: the owner's profile is edited by the owner's key only: an admin key gets 403 owner_protected", async (ctx) => {
  const { api } = ctx;
  const owner = await ctx.owner();
  const admin = await ctx.createKey('admin');
  expectProblem(await admin.api.patch(api.org(`/members/${owner.id}`), { name: 'Not The Owner Any More' }), 403, ownerRefusal(owner));
  assert.equal(expectJson(await api.get(api.org(`/members/${owner.id}`))).name, owner.name, 'a refused PATCH changed the owner');
  if (!owner.managed) ctx.skip("the owner's account is another organisation's: nobody here edits its profile");
  ctx.defer("put the owner's name back", () => api.patch(api.org(`/members/${owner.id}`), { name: owner.name }), [200]);
  const renamed = expectJson(await api.patch(api.org(`/members/${owner.id}`), { name: `Owner ${ctx.scope}` }));
  assert.deepEqual([renamed.name, renamed.role, renamed.email], [`Owner ${ctx.scope}`, 'owner', owner.email]);
  await ctx.expectAudit('member.updated', owner.id, { type: 'api_key' });
});

test('members: deactivate and reactivate: status, deactivatedAt and deactivatedBy follow; twice is 409 already_deactivated / already_active; a body other than {} is 400; audited', async (ctx) => {
  const { api } = ctx;
  const { member } = await ctx.createMember();
  expectBadRequest(await api.post(api.org(`/members/${member.id}/deactivate`), { reason: 'left' }), 'invalid_request');
  assert.equal(expectJson(await api.get(api.org(`/members/${member.id}`))).status, 'active', 'a refused deactivation changed nothing');
  const off = expectJson(await api.post(api.org(`/members/${member.id}/deactivate`)));
  assert.equal(off.status, 'deactivated');
  assert.ok(isDate(off.deactivatedAt), `deactivatedAt: ${off.deactivatedAt}`);
  assert.equal(off.deactivatedBy?.type, 'api_key', `deactivatedBy: ${JSON.stringify(off.deactivatedBy)}`);
  assert.deepEqual(expectJson(await api.get(api.org(`/members/${member.id}`))), off, 'GET agrees');
  expectProblem(await api.post(api.org(`/members/${member.id}/deactivate`), {}), 409, 'already_deactivated');
  await ctx.expectAudit('member.deactivated', member.id, { type: 'api_key' });
  const on = expectJson(await api.post(api.org(`/members/${member.id}/reactivate`), {}));
  assert.equal(on.status, 'active');
  assert.equal(on.deactivatedAt, null);
  assert.equal(on.deactivatedBy, null);
  expectProblem(await api.post(api.org(`/members/${member.id}/reactivate`)), 409, 'already_active');
  await ctx.expectAudit('member.reactivated', member.id, { type: 'api_key' });
});

test('members: the owner cannot be deactivated, removed, or have their password or MFA reset: 403 owner_protected; the owner stays', async (ctx) => {
  const { api } = ctx;
  const owner = await ctx.owner();
  expectProblem(await api.post(api.org(`/members/${owner.id}/deactivate`)), 403, 'owner_protected');
  expectProblem(await api.del(api.org(`/members/${owner.id}`)), 403, 'owner_protected');
  expectProblem(await api.post(api.org(`/members/${owner.id}/reset-password`)), 403, ownerRefusal(owner));
  expectProblem(await api.post(api.org(`/members/${owner.id}/reset-mfa`)), 403, ownerRefusal(owner));
  const after = expectJson(await api.get(api.org(`/members/${owner.id}`)));
  assert.deepEqual([after.role, after.status], ['owner', 'active']);
});

test('members: reset-password answers a new temporary password each time, shown once; audited member.password_reset; reset-mfa with no second factor is 400 no_mfa', async (ctx) => {
  const { api } = ctx;
  const made = await ctx.createMember();
  const id = made.member.id;
  const first = expectJson(await api.post(api.org(`/members/${id}/reset-password`)));
  assert.ok(typeof first.temporaryPassword === 'string' && first.temporaryPassword.length >= 12, `temporaryPassword: ${JSON.stringify(first)}`);
  assert.notEqual(first.temporaryPassword, made.temporaryPassword);
  const second = expectJson(await api.post(api.org(`/members/${id}/reset-password`), {}));
  assert.notEqual(second.temporaryPassword, first.temporaryPassword);
  const got = await api.get(api.org(`/members/${id}`));
  assert.ok(!got.text.includes(second.temporaryPassword), 'the temporary password is shown once');
  expectBadRequest(await api.post(api.org(`/members/${id}/reset-password`), { password: 'chosen' }), 'invalid_request');
  await ctx.expectAudit('member.password_reset', id, { type: 'api_key' });
  expectProblem(await api.post(api.org(`/members/${id}/reset-mfa`)), 400, 'no_mfa');
});

test('members: DELETE removes the member (204); then GET, PATCH and DELETE are 404 and the roster has them no more; audited member.removed; the address can be added again', async (ctx) => {
  const { api } = ctx;
  const email = ctx.email('gone');
  const { member } = await ctx.createMember({ email });
  expectNoContent(await api.del(api.org(`/members/${member.id}`)));
  expectProblem(await api.get(api.org(`/members/${member.id}`)), 404, 'not_found');
  expectProblem(await api.patch(api.org(`/members/${member.id}`), { name: 'Ghost' }), 404, 'not_found');
  expectProblem(await api.del(api.org(`/members/${member.id}`)), 404, 'not_found');
  assert.deepEqual(expectList(await api.get(api.org(`/members${qs({ search: email })}`))), []);
  await ctx.expectAudit('member.removed', member.id, { type: 'api_key' });
  const again = await ctx.createMember({ email });
  assert.notEqual(again.member.id, member.id);
  assert.equal(again.member.status, 'active');
});

test('members: transfer-ownership: to a plain member is 400, to the owner 409 already_owner, to nobody 404, by an admin key 403; to an active admin it works, and back', async (ctx) => {
  const { api } = ctx;
  const owner = await ctx.owner();
  const admin = (await ctx.createMember({ role: 'admin' })).member;
  const plain = (await ctx.createMember()).member;
  const adminKey = await ctx.createKey('admin');
  const transfer = (memberId: unknown, via = api) => via.post(api.org('/transfer-ownership'), { memberId });
  expectBadRequest(await transfer(plain.id), 'invalid_value');
  expectProblem(await transfer(owner.id), 409, 'already_owner');
  expectProblem(await transfer(randomUUID()), 404, 'not_found');
  expectBadRequest(await transfer('not-a-uuid'), 'invalid_request');
  expectBadRequest(await api.post(api.org('/transfer-ownership'), {}), 'invalid_request');
  expectProblem(await transfer(admin.id, adminKey.api), 403, ['forbidden', 'owner_only']);
  assert.equal((await ctx.owner()).id, owner.id, 'a refused transfer moved ownership');

  ctx.defer('give ownership back', async () => {
    if ((await ctx.owner()).id !== owner.id) return transfer(owner.id);
  }, [200]);
  const moved = expectJson(await transfer(admin.id));
  assert.equal(moved.id, admin.id);
  assert.equal(moved.role, 'owner');
  assert.equal((await ctx.owner()).id, admin.id);
  assert.equal(expectJson(await api.get(api.org(`/members/${owner.id}`))).role, 'admin', 'the owner became an admin');
  await ctx.expectAudit('organization.ownership_transferred', admin.id, { type: 'api_key' });
  const back = expectJson(await transfer(owner.id));
  assert.equal(back.role, 'owner');
  assert.equal((await ctx.owner()).id, owner.id);
  assert.equal(expectJson(await api.get(api.org(`/members/${admin.id}`))).role, 'admin');
  await ctx.expectAudit('organization.ownership_transferred', owner.id, { type: 'api_key' });
});
