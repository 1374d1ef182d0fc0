// Roles: the built-in ones, custom roles made, changed and deleted; a role in use is kept; nobody hands out
// more than they may do themselves.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { qs } from './client.ts';
import { expectBadRequest, expectJson, expectList, expectNoContent, expectProblem, ids, PERMISSIONS } from './admin.ts';
import { test } from './runner.ts';

test('roles: GET lists the built-in roles owner, admin, member and billing with their permissions, then custom ones', async ({ api }) => {
  const items = expectList(await api.get(api.org('/roles')));
  const byId = new Map(items.map((r: any) => [r.id, r]));
  for (const id of ['owner', 'admin', 'member', 'billing']) {
    const r: any = byId.get(id);
    assert.ok(r, `no built-in role ${id}`);
    assert.equal(r.builtIn, true);
    assert.ok(typeof r.name === 'string' && r.name.length > 0);
    assert.ok(Array.isArray(r.permissions) && r.permissions.every((p: string) => (PERMISSIONS as readonly string[]).includes(p)), JSON.stringify(r));
    assert.ok(Number.isInteger(r.memberCount));
  }
  assert.deepEqual([...(byId.get('owner') as any).permissions].sort(), [...PERMISSIONS].sort(), 'the owner may do everything');
  assert.deepEqual((byId.get('member') as any).permissions, ['roster.view']);
  assert.deepEqual((byId.get('billing') as any).permissions, ['billing.manage']);
  assert.ok(!(byId.get('admin') as any).permissions.includes('org.own') && !(byId.get('admin') as any).permissions.includes('billing.manage'));
  assert.equal((byId.get('owner') as any).memberCount, 1, 'exactly one owner');
  assert.ok(items.filter((r: any) => !r.builtIn).every((r: any) => typeof r.id === 'string' && !r.permissions.includes('org.own')));
});

test('roles: a custom role is created (201), listed, changed by PATCH (what is given; the rest stays) and deleted (204); then 404; audited', async (ctx) => {
  const { api } = ctx;
  const role = await ctx.createRole({ name: ctx.name('Auditor'), description: 'Reads the activity', color: '#12abef', permissions: ['roster.view', 'activity.view', 'roster.view'] });
  assert.equal(typeof role.id, 'string');
  assert.equal(role.name, `${ctx.scope}-Auditor`);
  assert.equal(role.description, 'Reads the activity');
  assert.equal(role.color, '#12abef');
  assert.deepEqual([...role.permissions].sort(), ['activity.view', 'roster.view'], 'permissions once each');
  assert.equal(role.builtIn, false);
  assert.equal(role.memberCount, 0);
  const listed = expectList(await api.get(api.org('/roles'))).find((r: any) => r.id === role.id);
  assert.deepEqual(listed, role, 'the list has the role as POST answered it');
  await ctx.expectAudit('role.created', role.id, { type: 'api_key' });

  const renamed = expectJson(await api.patch(api.org(`/roles/${role.id}`), { name: ctx.name('Watcher'), permissions: ['roster.view'] }));
  assert.equal(renamed.name, `${ctx.scope}-Watcher`);
  assert.deepEqual(renamed.permissions, ['roster.view']);
  assert.equal(renamed.description, 'Reads the activity', 'the description stays');
  assert.equal(renamed.color, '#12abef', 'the colour stays');
  const cleared = expectJson(await api.patch(api.org(`/roles/${role.id}`), { color: null, description: null }));
  assert.deepEqual([cleared.color, cleared.description, cleared.name], [null, null, renamed.name]);
  assert.deepEqual(expectList(await api.get(api.org('/roles'))).find((r: any) => r.id === role.id), cleared);
  await ctx.expectAudit('role.updated', role.id, { type: 'api_key' });

  expectNoContent(await api.del(api.org(`/roles/${role.id}`)));
  assert.ok(!expectList(await api.get(api.org('/roles'))).some((r: any) => r.id === role.id), 'the deleted role is still listed');
  expectProblem(await api.patch(api.org(`/roles/${role.id}`), { name: ctx.name('Ghost') }), 404, 'not_found');
  expectProblem(await api.del(api.org(`/roles/${role.id}`)), 404, 'not_found');
  await ctx.expectAudit('role.deleted', role.id, { type: 'api_key' });
});

test('roles: bad input (org.own included) is 400; a taken or built-in name 409 role_name_taken; built-in roles cannot be changed or deleted (403 built_in_role); unknown roles 404', async (ctx) => {
  const { api } = ctx;
  const name = ctx.name('Bad');
  for (const body of [
    {},
    { name },
    { permissions: ['roster.view'] },
    { name: '', permissions: [] },
    { name: '   ', permissions: [] },
    { name: 'x'.repeat(101), permissions: [] },
    { name, permissions: ['fly'] },
    { name, permissions: 'roster.view' },
    { name, permissions: [], color: 'red' },
    { name, permissions: [], color: '#12ABEF' },
    { name, permissions: [], description: 'x'.repeat(501) },
    { name, permissions: [], unknownField: 1 },
  ]) {
    expectBadRequest(await api.post(api.org('/roles'), body));
  }
  // org.own is the owner's alone: no custom role carries it.
  expectBadRequest(await api.post(api.org('/roles'), { name, permissions: ['roster.view', 'org.own'] }));
  for (const taken of ['Admin', 'owner', ' MEMBER ']) {
    expectProblem(await api.post(api.org('/roles'), { name: taken, permissions: [] }), 409, 'role_name_taken');
  }
  const role = await ctx.createRole({ name: ctx.name('Taken') });
  expectProblem(await api.post(api.org('/roles'), { name: role.name.toUpperCase(), permissions: [] }), 409, 'role_name_taken');
  const other = await ctx.createRole({ name: ctx.name('Other') });
  expectProblem(await api.patch(api.org(`/roles/${other.id}`), { name: role.name }), 409, 'role_name_taken');
  expectBadRequest(await api.patch(api.org(`/roles/${other.id}`), { permissions: ['org.own'] }));
  expectBadRequest(await api.patch(api.org(`/roles/${other.id}`), { permissions: ['fly'] }));
  expectBadRequest(await api.patch(api.org(`/roles/${other.id}`), { builtIn: true }));
  assert.deepEqual(expectList(await api.get(api.org('/roles'))).find((r: any) => r.id === other.id), other, 'a refused PATCH changed the role');
  for (const builtIn of ['owner', 'admin', 'member', 'billing']) {
    expectProblem(await api.patch(api.org(`/roles/${builtIn}`), { name: ctx.name('Hijack') }), 403, 'built_in_role');
    expectProblem(await api.del(api.org(`/roles/${builtIn}`)), 403, 'built_in_role');
  }
  for (const id of [randomUUID(), 'not-a-role']) {
    expectProblem(await api.patch(api.org(`/roles/${id}`), { name: ctx.name('Nobody') }), 404, 'not_found');
    expectProblem(await api.del(api.org(`/roles/${id}`)), 404, 'not_found');
  }
  const names = expectList(await api.get(api.org('/roles'))).map((r: any) => r.name);
  assert.ok(!names.includes(name) && !names.some((n: string) => n.endsWith('-Hijack')), 'a refused request made or renamed a role');
});

test('roles: a custom role held by a member, a group or a pending invitation cannot be deleted (409 role_in_use); once nobody holds it, it can', async (ctx) => {
  const { api } = ctx;
  const role = await ctx.createRole({ name: ctx.name('Held'), permissions: ['roster.view', 'activity.view'] });
  const { member } = await ctx.createMember({ role: role.id });
  assert.equal(member.role, role.id, 'a member is given a custom role by its id');
  assert.deepEqual(ids(expectList(await api.get(api.org(`/members${qs({ role: role.id })}`)))), [member.id], 'the roster filters by a custom role');
  assert.equal(expectList(await api.get(api.org('/roles'))).find((r: any) => r.id === role.id).memberCount, 1);
  expectProblem(await api.del(api.org(`/roles/${role.id}`)), 409, 'role_in_use');

  expectJson(await api.patch(api.org(`/members/${member.id}`), { role: 'member' }));
  const [inv] = await ctx.invite([ctx.email('held')], role.id);
  assert.equal(inv.role, role.id);
  expectProblem(await api.del(api.org(`/roles/${role.id}`)), 409, 'role_in_use');

  expectNoContent(await api.del(api.org(`/invitations/${inv.id}`)));
  const group = await ctx.createGroup();
  assert.equal(expectJson(await api.put(api.org(`/groups/${group.id}/role`), { role: role.id })).role, role.id);
  expectProblem(await api.del(api.org(`/roles/${role.id}`)), 409, 'role_in_use');

  expectJson(await api.put(api.org(`/groups/${group.id}/role`), { role: null }));
  expectNoContent(await api.del(api.org(`/roles/${role.id}`)));
  assert.equal(expectJson(await api.get(api.org(`/members/${member.id}`))).role, 'member');
});

test('escalation: an admin key cannot hand out more than it may do: an owner or billing key, a role with billing.manage, billing for a member, a group or an invitation (403 escalation)', async (ctx) => {
  const { api } = ctx;
  const admin = await ctx.createKey('admin');
  const a = admin.api;
  const { member } = await ctx.createMember();
  const group = await ctx.createGroup();
  const strong = await ctx.createRole({ name: ctx.name('Strong'), permissions: ['roster.view', 'billing.manage'] });
  for (const res of [
    await a.post(api.org('/api-keys'), { name: ctx.name('sneaky'), role: 'owner' }),
    await a.post(api.org('/api-keys'), { name: ctx.name('sneaky'), role: 'billing' }),
    await a.post(api.org('/roles'), { name: ctx.name('Sneaky'), permissions: ['roster.view', 'billing.manage'] }),
    await a.patch(api.org(`/roles/${strong.id}`), { name: ctx.name('Weaker'), permissions: ['roster.view'] }),
    await a.del(api.org(`/roles/${strong.id}`)),
    await a.patch(api.org(`/members/${member.id}`), { role: 'billing' }),
    await a.patch(api.org(`/members/${member.id}`), { role: strong.id }),
    await a.post(api.org('/members'), { email: ctx.email('sneaky'), role: 'billing' }),
    await a.put(api.org(`/groups/${group.id}/role`), { role: 'billing' }),
    await a.post(api.org('/invitations'), { emails: [ctx.email('sneaky-inv')], role: 'billing' }),
  ]) {
    expectProblem(res, 403, 'escalation');
  }
  // Nothing of it happened.
  assert.ok(!expectList(await api.get(api.org('/api-keys'))).some((k: any) => k.name === `${ctx.scope}-sneaky`), 'a key was made');
  const roles = expectList(await api.get(api.org('/roles')));
  assert.ok(!roles.some((r: any) => r.name === `${ctx.scope}-Sneaky`), 'a role was made');
  assert.deepEqual(roles.find((r: any) => r.id === strong.id), strong, 'the stronger role changed');
  assert.equal(expectJson(await api.get(api.org(`/members/${member.id}`))).role, 'member');
  assert.equal(expectJson(await api.get(api.org(`/groups/${group.id}`))).role, null);
  assert.deepEqual(expectList(await api.get(api.org(`/members${qs({ search: `${ctx.scope}-sneaky` })}`))), []);
  // What it may do, it does: a member key, a role within its own permissions, the admin role.
  const weak = await a.post(api.org('/api-keys'), { name: ctx.name('helper'), role: 'member' });
  if (weak.status === 201) ctx.defer('revoke the helper key', () => api.del(api.org(`/api-keys/${weak.body.id}`)));
  expectJson(weak, 201);
  const fine = await a.post(api.org('/roles'), { name: ctx.name('Fine'), permissions: ['roster.view', 'members.manage'] });
  if (fine.status === 201) ctx.defer('delete the fine role', () => api.del(api.org(`/roles/${fine.body.id}`)));
  expectJson(fine, 201);
  assert.equal(expectJson(await a.patch(api.org(`/members/${member.id}`), { role: 'admin' })).role, 'admin');
  await ctx.expectAudit('member.role_changed', member.id, { type: 'api_key', id: admin.id });
});
