import assert from 'node:assert/strict';
import { assertScimError, createGroup, createUser, GROUP, newOrg, unique } from '../helpers.ts';
import { testDb } from '../setup.ts';

const memberIds = async (groupId: string) =>
  (await testDb()('group_members').where({ group_id: groupId }).select('membership_id')).map((r) => r.membership_id).sort();

describe('SCIM /Groups', () => {
  it('creates a group with members and reads it back, with excludedAttributes=members honoured', async () => {
    const org = await newOrg();
    const a = await createUser(org.scim);
    const res = await org.scim.post('/Groups', { schemas: [GROUP, 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group'], displayName: unique('Eng '), externalId: 'g-ext', members: [{ value: a.id }] });
    assert.equal(res.status, 201);
    assert.deepEqual(res.body.members.map((m: { value: string }) => m.value), [a.id]);
    assert.equal(res.body.members[0].type, 'User');
    assert.equal(res.body.meta.resourceType, 'Group');
    const slim = await org.scim.get(`/Groups/${res.body.id}?excludedAttributes=members`);
    assert.equal('members' in slim.body, false);
    const user = await org.scim.get(`/Users/${a.id}`);
    assert.deepEqual(user.body.groups.map((g: { value: string }) => g.value), [res.body.id]);
  });

  it('refuses a duplicate displayName in any letter case with 409 uniqueness', async () => {
    const org = await newOrg();
    const g = await createGroup(org.scim);
    assertScimError(await org.scim.post('/Groups', { schemas: [GROUP], displayName: g.displayName.toUpperCase() }), 409, 'uniqueness');
  });

  it('adds members, removes by filter and by value list (only those), with 204', async () => {
    const org = await newOrg();
    const [a, b, c, d] = [await createUser(org.scim), await createUser(org.scim), await createUser(org.scim), await createUser(org.scim)];
    const g = await createGroup(org.scim);
    let res = await org.scim.patch(`/Groups/${g.id}`, [{ op: 'Add', path: 'members', value: [{ value: a.id }, { value: b.id }, { value: c.id }, { value: d.id }] }]);
    assert.equal(res.status, 204);
    assert.deepEqual(await memberIds(g.id), [a.id, b.id, c.id, d.id].sort());
    res = await org.scim.patch(`/Groups/${g.id}`, [{ op: 'Remove', path: `members[value eq "${a.id}"]` }]);
    assert.equal(res.status, 204);
    res = await org.scim.patch(`/Groups/${g.id}`, [{ op: 'remove', path: 'members', value: [{ value: b.id }] }]);
    assert.equal(res.status, 204);
    assert.deepEqual(await memberIds(g.id), [c.id, d.id].sort());
  });

  it('follows Okta: replace members makes exactly that list; replace with {id, displayName} renames', async () => {
    const org = await newOrg();
    const [a, b, c] = [await createUser(org.scim), await createUser(org.scim), await createUser(org.scim)];
    const g = await createGroup(org.scim, undefined, [a.id, b.id]);
    const name = unique('Renamed ');
    const res = await org.scim.patch(`/Groups/${g.id}`, [
      { op: 'replace', value: { id: g.id, displayName: name } },
      { op: 'replace', path: 'members', value: [{ value: c.id }, { value: b.id }] },
    ]);
    assert.equal(res.status, 204);
    assert.deepEqual(await memberIds(g.id), [b.id, c.id].sort());
    const got = await org.scim.get(`/Groups/${g.id}`);
    assert.equal(got.body.displayName, name);
    assert.equal(got.body.meta.version, 'W/"2"');
  });

  it('takes members from a path-less value under any spelling of the attribute, URN-qualified included', async () => {
    const org = await newOrg();
    const [a, b] = [await createUser(org.scim), await createUser(org.scim)];
    const g = await createGroup(org.scim);
    assert.equal((await org.scim.patch(`/Groups/${g.id}`, [{ op: 'add', value: { Members: [{ value: a.id }] } }])).status, 204);
    assert.equal((await org.scim.patch(`/Groups/${g.id}`, [{ op: 'add', value: { [`${GROUP}:members`]: [{ value: b.id }] } }])).status, 204);
    assert.deepEqual(await memberIds(g.id), [a.id, b.id].sort());
  });

  it('returns the group after PATCH when attributes are asked for', async () => {
    const org = await newOrg();
    const a = await createUser(org.scim);
    const g = await createGroup(org.scim);
    const res = await org.scim.patch(`/Groups/${g.id}?attributes=members`, [{ op: 'add', path: 'members', value: [{ value: a.id }] }]);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.members.map((m: { value: string }) => m.value), [a.id]);
  });

  it('takes every one of many membership PATCHes that arrive at once for the same group', async () => {
    const org = await newOrg();
    const users = [];
    for (let i = 0; i < 12; i++) users.push(await createUser(org.scim));
    const g = await createGroup(org.scim);
    const results = await Promise.all(users.map((u) => org.scim.patch(`/Groups/${g.id}`, [{ op: 'Add', path: 'members', value: [{ value: u.id }] }])));
    assert.deepEqual(results.map((r) => r.status), users.map(() => 204));
    assert.deepEqual(await memberIds(g.id), users.map((u) => u.id).sort());
    const removals = await Promise.all(users.slice(0, 6).map((u) => org.scim.patch(`/Groups/${g.id}`, [{ op: 'Remove', path: `members[value eq "${u.id}"]` }])));
    assert.deepEqual(removals.map((r) => r.status), users.slice(0, 6).map(() => 204));
    assert.deepEqual(await memberIds(g.id), users.slice(6).map((u) => u.id).sort());
  });

  it('refuses unknown member ids and nested groups, all or nothing', async () => {
    const org = await newOrg();
    const a = await createUser(org.scim);
    const g = await createGroup(org.scim);
    const other = await createGroup(org.scim);
    assertScimError(await org.scim.patch(`/Groups/${g.id}`, [{ op: 'add', path: 'members', value: [{ value: a.id }, { value: '6f1c1f0e-5a59-4a4e-9d5b-8a1fb2d6c0aa' }] }]), 400, 'invalidValue');
    assertScimError(await org.scim.patch(`/Groups/${g.id}`, [{ op: 'add', path: 'members', value: [{ value: other.id, type: 'Group' }] }]), 400, 'invalidValue');
    assertScimError(await org.scim.patch(`/Groups/${g.id}`, [{ op: 'add', path: 'members', value: [{ value: a.id }] }, { op: 'replace', path: 'displayName', value: 42 }]), 400, 'invalidValue');
    assert.deepEqual(await memberIds(g.id), []);
    const row = await testDb()('groups').where({ id: g.id }).first();
    assert.equal(row.version, 1);
  });

  it('replaces a group with PUT and deletes it (members go, users stay)', async () => {
    const org = await newOrg();
    const [a, b] = [await createUser(org.scim), await createUser(org.scim)];
    const g = await createGroup(org.scim, undefined, [a.id]);
    const res = await org.scim.put(`/Groups/${g.id}`, { schemas: [GROUP], id: g.id, displayName: g.displayName, members: [{ value: b.id }] });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.members.map((m: { value: string }) => m.value), [b.id]);
    assert.equal((await org.scim.delete(`/Groups/${g.id}`)).status, 204);
    assertScimError(await org.scim.get(`/Groups/${g.id}`), 404);
    assert.deepEqual(await memberIds(g.id), []);
    assert.equal((await org.scim.get(`/Users/${b.id}`)).status, 200);
  });

  it('removes a deleted user from its groups', async () => {
    const org = await newOrg();
    const a = await createUser(org.scim);
    const g = await createGroup(org.scim, undefined, [a.id]);
    assert.equal((await org.scim.delete(`/Users/${a.id}`)).status, 204);
    assert.deepEqual(await memberIds(g.id), []);
  });
});
