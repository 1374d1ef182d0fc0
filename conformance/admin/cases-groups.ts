// Groups made through the admin API: created with members, listed and paged, renamed, members added and
// taken out, a role granted to their members, deleted.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { qs } from './client.ts';
import { expectBadRequest, expectJson, expectList, expectNoContent, expectProblem, ids, isDate } from './admin.ts';
import { test } from './runner.ts';

const memberIds = (g: any) => (g.members ?? []).map((m: any) => m.id).sort();

test('groups: created with members (201, managed by admin), read with its members, listed with its size, renamed, members added and taken out, deleted (204); audited', async (ctx) => {
  const { api } = ctx;
  const a = (await ctx.createMember({ name: 'Group Member A' })).member;
  const b = (await ctx.createMember({ name: 'Group Member B' })).member;
  const group = await ctx.createGroup({ name: `  ${ctx.name('Engineering')}  `, memberIds: [a.id] });
  assert.equal(typeof group.id, 'string');
  assert.equal(group.name, `${ctx.scope}-Engineering`, 'the name is trimmed');
  assert.equal(group.managedBy, 'admin');
  assert.equal(group.role, null);
  assert.ok(isDate(group.createdAt));
  assert.deepEqual(memberIds(group), [a.id]);
  assert.deepEqual(expectJson(await api.get(api.org(`/groups/${group.id}`))), group, 'GET answers the group POST answered');
  await ctx.expectAudit('group.created', group.id, { type: 'api_key' });
  const inRoster = expectJson(await api.get(api.org(`/members/${a.id}`)));
  assert.deepEqual(inRoster.groups, [{ id: group.id, name: group.name }], "the member's groups");

  const renamed = expectJson(await api.patch(api.org(`/groups/${group.id}`), { name: ctx.name('Platform') }));
  assert.equal(renamed.name, `${ctx.scope}-Platform`);
  assert.equal(renamed.id, group.id);
  const added = await api.post(api.org(`/groups/${group.id}/members`), { memberIds: [b.id, b.id] });
  expectJson(added);
  assert.deepEqual(memberIds(expectJson(await api.get(api.org(`/groups/${group.id}`)))), ids([a, b]));
  const listed = expectList(await api.get(api.org(`/groups/${group.id}/members`)));
  assert.deepEqual(ids(listed), ids([a, b]));
  assert.ok(listed.every((m: any) => typeof m.userName === 'string' && 'name' in m), JSON.stringify(listed));
  const inList = expectList(await api.get(api.org(`/groups${qs({ limit: 200 })}`)));
  const entry = inList.find((g: any) => g.id === group.id);
  assert.ok(entry, 'the list lacks the group (or it is past the first 200)');
  assert.equal(entry.memberCount, 2);
  assert.equal(entry.name, renamed.name);

  expectNoContent(await api.del(api.org(`/groups/${group.id}/members/${a.id}`)));
  assert.deepEqual(ids(expectList(await api.get(api.org(`/groups/${group.id}/members`)))), [b.id]);
  assert.deepEqual(expectJson(await api.get(api.org(`/members/${a.id}`))).groups, []);
  await ctx.expectAudit('group.updated', group.id, { type: 'api_key' });

  expectNoContent(await api.del(api.org(`/groups/${group.id}`)));
  expectProblem(await api.get(api.org(`/groups/${group.id}`)), 404, 'not_found');
  expectProblem(await api.del(api.org(`/groups/${group.id}`)), 404, 'not_found');
  await ctx.expectAudit('group.deleted', group.id, { type: 'api_key' });
  assert.deepEqual(expectJson(await api.get(api.org(`/members/${b.id}`))).groups, [], 'deleting the group leaves its members, out of it');
  assert.equal(expectJson(await api.get(api.org(`/members/${b.id}`))).status, 'active');
});

test('groups: bad input is 400; a taken name (any case) is 409 group_name_taken; unknown members 400; an unknown group 404; nothing changes', async (ctx) => {
  const { api } = ctx;
  const group = await ctx.createGroup({ name: ctx.name('Ops') });
  const other = await ctx.createGroup({ name: ctx.name('Sales') });
  for (const body of [{}, { name: '' }, { name: '   ' }, { name: 'x'.repeat(257) }, { name: ctx.name('G'), memberIds: ['not-a-uuid'] }, { name: ctx.name('G'), memberIds: [randomUUID()] }, { name: ctx.name('G'), unknownField: 1 }]) {
    expectBadRequest(await api.post(api.org('/groups'), body));
  }
  expectProblem(await api.post(api.org('/groups'), { name: group.name.toUpperCase() }), 409, 'group_name_taken');
  expectProblem(await api.patch(api.org(`/groups/${other.id}`), { name: group.name.toLowerCase() }), 409, 'group_name_taken');
  for (const body of [{}, { name: '' }, { name: ctx.name('New'), role: 'admin' }]) {
    expectBadRequest(await api.patch(api.org(`/groups/${other.id}`), body));
  }
  for (const body of [{}, { memberIds: [] }, { memberIds: ['not-a-uuid'] }, { memberIds: [randomUUID()] }]) {
    expectBadRequest(await api.post(api.org(`/groups/${other.id}/members`), body));
  }
  const all = expectList(await api.get(api.org(`/groups${qs({ limit: 200 })}`)));
  assert.deepEqual(all.filter((g: any) => g.name.startsWith(ctx.scope)).map((g: any) => g.name).sort(), [group.name, other.name].sort(), 'a refused request made or renamed a group');
  assert.equal(all.find((g: any) => g.id === other.id).memberCount, 0);
  for (const id of [randomUUID(), 'not-a-uuid']) {
    const p = (s = '') => api.org(`/groups/${id}${s}`);
    for (const res of [
      await api.get(p()), await api.patch(p(), { name: ctx.name('Nobody') }), await api.del(p()), await api.get(p('/members')),
      await api.post(p('/members'), { memberIds: [randomUUID()] }), await api.del(p(`/members/${randomUUID()}`)), await api.put(p('/role'), { role: 'member' }),
    ]) {
      expectProblem(res, 404, 'not_found');
    }
  }
});

test('groups: the list is ordered by name and pages by nextCursor with no repeats and a steady total; bad parameters are 400', async (ctx) => {
  const { api } = ctx;
  for (const n of ['Charlie', 'alpha', 'Bravo']) await ctx.createGroup({ name: ctx.name(n) });
  const seen: any[] = [];
  let cursor: string | undefined;
  let total: number | null = null;
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 1000, 'paging does not end');
    const res = await api.get(api.org(`/groups${qs({ limit: 2, cursor })}`));
    const items = expectList(res);
    assert.ok(items.length <= 2);
    total ??= res.body.total;
    assert.equal(res.body.total, total, 'the same total on every page');
    seen.push(...items);
    if (!res.body.nextCursor) break;
    cursor = res.body.nextCursor;
  }
  assert.equal(seen.length, total, 'the pages hold the total');
  assert.equal(new Set(seen.map((g) => g.id)).size, seen.length, 'no repeats');
  const ours = seen.filter((g) => g.name.startsWith(ctx.scope)).map((g) => g.name);
  assert.deepEqual(ours, ['alpha', 'Bravo', 'Charlie'].map((n) => `${ctx.scope}-${n}`), 'by name, ignoring case');
  for (const bad of [{ limit: 0 }, { limit: 201 }, { limit: 'x' }, { search: 'x' }]) {
    expectBadRequest(await api.get(api.org(`/groups${qs(bad)}`)));
  }
});

test("groups: PUT role grants a role to the group's members besides their own (shown in grantedRoles); null takes it away; owner or an unknown role is 400; audited", async (ctx) => {
  const { api } = ctx;
  const { member } = await ctx.createMember();
  const group = await ctx.createGroup({ memberIds: [member.id] });
  const granted = expectJson(await api.put(api.org(`/groups/${group.id}/role`), { role: 'admin' }));
  assert.equal(granted.role, 'admin');
  assert.equal(expectJson(await api.get(api.org(`/groups/${group.id}`))).role, 'admin');
  const m = expectJson(await api.get(api.org(`/members/${member.id}`)));
  assert.equal(m.role, 'member', 'the own role stays');
  assert.deepEqual(m.grantedRoles, [{ role: 'admin', groupId: group.id, groupName: group.name }]);
  assert.equal(expectList(await api.get(api.org(`/groups${qs({ limit: 200 })}`))).find((g: any) => g.id === group.id)?.role, 'admin');
  await ctx.expectAudit('group.role_changed', group.id, { type: 'api_key' });
  for (const body of [{ role: 'owner' }, { role: 'emperor' }, {}, { role: '' }, { role: 'admin', extra: 1 }]) {
    expectBadRequest(await api.put(api.org(`/groups/${group.id}/role`), body));
  }
  assert.equal(expectJson(await api.get(api.org(`/groups/${group.id}`))).role, 'admin', 'a refused PUT changed the role');
  const removed = expectJson(await api.put(api.org(`/groups/${group.id}/role`), { role: null }));
  assert.equal(removed.role, null);
  assert.deepEqual(expectJson(await api.get(api.org(`/members/${member.id}`))).grantedRoles, []);
  // A role id this organisation does not have: 400, like any unknown role.
  expectBadRequest(await api.put(api.org(`/groups/${group.id}/role`), { role: randomUUID() }));
  assert.equal(expectJson(await api.get(api.org(`/groups/${group.id}`))).role, null);
});
