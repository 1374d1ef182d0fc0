// Adversarial: one organisation's SCIM token against another organisation's users and groups.
import assert from 'node:assert/strict';
import { assertScimError, createGroup, createUser, ENTERPRISE, GROUP, newOrg, unique, userBody } from '../helpers.ts';
import { testDb } from '../setup.ts';
import { findUsers, ids, insertSession, snapshot } from './support.ts';

const BULK = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';

describe('security: tenant isolation through SCIM', () => {
  it("B's token cannot read, replace, patch or delete A's user by id: 404, and A's rows stay as they were", async () => {
    const a = await newOrg();
    const b = await newOrg();
    const victim = await createUser(a.scim, `${unique('victim')}@example.test`, { externalId: 'ext-a', title: 'CFO', password: 'victim-password-1' });
    const member = await testDb()('memberships').where({ org_id: a.org.id, id: victim.id }).first();
    await insertSession(a.org.id, member.account_id);
    const before = await snapshot(a.org.id, [victim.id]);

    assertScimError(await b.scim.get(`/Users/${victim.id}`), 404);
    assertScimError(await b.scim.get(`/Users/${victim.id}?attributes=userName`), 404);
    assertScimError(await b.scim.put(`/Users/${victim.id}`, userBody(`${unique('taken')}@evil.test`, { password: 'attacker-pass-1' })), 404);
    assertScimError(await b.scim.put(`/Users/${victim.id}`, userBody(victim.userName, { active: false })).set('If-Match', '*'), 404);
    assertScimError(await b.scim.patch(`/Users/${victim.id}`, [{ op: 'replace', path: 'displayName', value: 'pwned' }]), 404);
    assertScimError(await b.scim.patch(`/Users/${victim.id}`, [{ op: 'replace', value: { active: false } }]), 404);
    assertScimError(await b.scim.patch(`/Users/${victim.id}`, [{ op: 'Replace', path: 'active', value: 'False' }]), 404);
    assertScimError(await b.scim.patch(`/Users/${victim.id}`, [{ op: 'replace', path: 'password', value: 'attacker-pass-2' }]), 404);
    assertScimError(await b.scim.patch(`/Users/${victim.id}`, [{ op: 'replace', path: 'emails', value: [{ value: 'attacker@evil.test', primary: true }] }]), 404);
    assertScimError(await b.scim.delete(`/Users/${victim.id}`), 404);
    assertScimError(await b.scim.delete(`/Users/${victim.id.toUpperCase()}`), 404);

    assert.deepEqual(await snapshot(a.org.id, [victim.id]), before);
    const seen = await a.scim.get(`/Users/${victim.id}`);
    assert.equal(seen.status, 200);
    assert.equal(seen.body.active, true);
    assert.equal(seen.body.title, 'CFO');
    assert.equal(seen.body.meta.version, victim.meta.version);
    // Nothing of A's was audited as done by B.
    const bAudit = await testDb()('audit_events').where({ org_id: b.org.id }).where('target_id', victim.id);
    assert.deepEqual(bAudit, []);
  });

  it("B's token cannot read, replace, patch or delete A's group by id: 404, and A's group and its members stay", async () => {
    const a = await newOrg();
    const b = await newOrg();
    const aUser = await createUser(a.scim);
    const bUser = await createUser(b.scim);
    const group = await createGroup(a.scim, unique('a-group-'), [aUser.id]);
    const before = await snapshot(a.org.id, [aUser.id], [group.id]);

    assertScimError(await b.scim.get(`/Groups/${group.id}`), 404);
    assertScimError(await b.scim.put(`/Groups/${group.id}`, { schemas: [GROUP], displayName: 'pwned', members: [{ value: bUser.id }] }), 404);
    assertScimError(await b.scim.patch(`/Groups/${group.id}`, [{ op: 'add', path: 'members', value: [{ value: bUser.id }] }]), 404);
    assertScimError(await b.scim.patch(`/Groups/${group.id}`, [{ op: 'remove', path: 'members' }]), 404);
    assertScimError(await b.scim.patch(`/Groups/${group.id}`, [{ op: 'remove', path: `members[value eq "${aUser.id}"]` }]), 404);
    assertScimError(await b.scim.patch(`/Groups/${group.id}`, [{ op: 'replace', value: { displayName: 'pwned' } }]), 404);
    assertScimError(await b.scim.delete(`/Groups/${group.id}`), 404);

    assert.deepEqual(await snapshot(a.org.id, [aUser.id], [group.id]), before);
    assert.deepEqual(await testDb()('group_members').where({ membership_id: bUser.id }), []);
    const seen = await a.scim.get(`/Groups/${group.id}`);
    assert.equal(seen.status, 200);
    assert.deepEqual(seen.body.members.map((m: { value: string }) => m.value), [aUser.id]);
  });

  it("B's lists, filters and searches never show A's users or groups", async () => {
    const a = await newOrg();
    const b = await newOrg();
    const email = `${unique('hidden')}@example.test`;
    const aUser = await createUser(a.scim, email, { externalId: unique('ext-'), [ENTERPRISE]: { employeeNumber: 'E-42' } });
    const aGroup = await createGroup(a.scim, unique('hidden-group-'), [aUser.id]);
    const bUser = await createUser(b.scim);
    const bIds = [b.owner.id, bUser.id].sort();

    const all = await b.scim.get('/Users?count=1000');
    assert.equal(all.status, 200);
    assert.deepEqual(ids(all), bIds);
    assert.equal(all.body.totalResults, 2);

    for (const filter of [
      `userName eq "${email}"`,
      `userName eq "${email.toUpperCase()}"`,
      `id eq "${aUser.id}"`,
      `externalId eq "${aUser.externalId}"`,
      `emails.value eq "${email}"`,
      `emails[value eq "${email}"]`,
      `${ENTERPRISE}:employeeNumber eq "E-42"`,
      `groups.value eq "${aGroup.id}"`,
      `groups[value eq "${aGroup.id}"]`,
      `userName co "hidden"`,
      `id eq "${aUser.id}" or userName pr`,
    ]) {
      const found = await findUsers(b, filter);
      assert.equal(found.includes(aUser.id), false, `${filter} leaked A's user`);
      assert.ok(found.every((id) => bIds.includes(id)), `${filter} returned ${found}`);
    }

    const search = await b.scim.post('/Users/.search', { schemas: [SEARCH], filter: `userName eq "${email}"` });
    assert.equal(search.status, 200);
    assert.equal(search.body.totalResults, 0);
    assert.deepEqual(search.body.Resources, []);

    for (const filter of [`displayName eq "${aGroup.displayName}"`, `id eq "${aGroup.id}"`, `members[value eq "${aUser.id}"]`, `members.value eq "${aUser.id}"`]) {
      const res = await b.scim.get(`/Groups?filter=${encodeURIComponent(filter)}`);
      assert.equal(res.status, 200, filter);
      assert.equal(res.body.totalResults, 0, filter);
    }
    const groupSearch = await b.scim.post('/Groups/.search', { schemas: [SEARCH], filter: `displayName eq "${aGroup.displayName}"` });
    assert.equal(groupSearch.status, 200);
    assert.equal(groupSearch.body.totalResults, 0);
    const allGroups = await b.scim.get('/Groups');
    assert.equal(allGroups.body.totalResults, 0);

    const root = await b.scim.post('/.search', { schemas: [SEARCH], count: 1000 });
    assert.equal(root.status, 200);
    assert.deepEqual(ids(root), bIds);
    for (const filter of [`id eq "${aUser.id}"`, `id eq "${aGroup.id}"`, `userName eq "${email}"`, `displayName eq "${aGroup.displayName}"`]) {
      const res = await b.scim.post('/.search', { schemas: [SEARCH], filter });
      assert.equal(res.status, 200, filter);
      assert.equal(res.body.totalResults, 0, filter);
      assert.deepEqual(res.body.Resources, [], filter);
    }
  });

  it("B cannot put A's user into B's group by PATCH, PUT or POST: 400, and no group_members row", async () => {
    const a = await newOrg();
    const b = await newOrg();
    const aUser = await createUser(a.scim);
    const bUser = await createUser(b.scim);
    const bGroup = await createGroup(b.scim, unique('b-group-'), [bUser.id]);
    const before = await snapshot(b.org.id, [bUser.id], [bGroup.id]);

    assertScimError(await b.scim.patch(`/Groups/${bGroup.id}`, [{ op: 'add', path: 'members', value: [{ value: aUser.id }] }]), 400, 'invalidValue');
    assertScimError(await b.scim.patch(`/Groups/${bGroup.id}`, [{ op: 'Add', path: 'members', value: [{ value: aUser.id.toUpperCase() }] }]), 400, 'invalidValue');
    assertScimError(await b.scim.patch(`/Groups/${bGroup.id}`, [{ op: 'replace', value: { members: [{ value: aUser.id }] } }]), 400, 'invalidValue');
    assertScimError(await b.scim.patch(`/Groups/${bGroup.id}`, [{ op: 'replace', path: 'members', value: [{ value: bUser.id }, { value: aUser.id }] }]), 400, 'invalidValue');
    assertScimError(await b.scim.put(`/Groups/${bGroup.id}`, { schemas: [GROUP], displayName: bGroup.displayName, members: [{ value: aUser.id }] }), 400, 'invalidValue');
    const name = unique('smuggle-');
    assertScimError(await b.scim.post('/Groups', { schemas: [GROUP], displayName: name, members: [{ value: aUser.id }] }), 400, 'invalidValue');

    assert.deepEqual(await snapshot(b.org.id, [bUser.id], [bGroup.id]), before);
    assert.deepEqual(await testDb()('group_members').where({ membership_id: aUser.id }), []);
    assert.equal(await testDb()('groups').whereRaw('lower(display_name) = lower(?)', [name]).first(), undefined);
  });

  it("a Bulk request from B that names A's ids fails operation by operation and changes nothing of A's", async () => {
    const a = await newOrg();
    const b = await newOrg();
    const aUser = await createUser(a.scim);
    const aGroup = await createGroup(a.scim, unique('a-bulk-'), [aUser.id]);
    const bUser = await createUser(b.scim);
    const bGroup = await createGroup(b.scim, unique('b-bulk-'));
    const beforeA = await snapshot(a.org.id, [aUser.id], [aGroup.id]);
    const beforeB = await snapshot(b.org.id, [bUser.id], [bGroup.id]);

    const res = await b.scim.post('/Bulk', {
      schemas: [BULK],
      Operations: [
        { method: 'GET', path: `/Users/${aUser.id}` },
        { method: 'PUT', path: `/Users/${aUser.id}`, data: userBody(`${unique('x')}@evil.test`) },
        { method: 'PATCH', path: `/Users/${aUser.id}`, data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', value: { active: false } }] } },
        { method: 'DELETE', path: `/Users/${aUser.id}` },
        { method: 'PATCH', path: `/Groups/${aGroup.id}`, data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: [{ value: bUser.id }] }] } },
        { method: 'PUT', path: `/Groups/${aGroup.id}`, data: { schemas: [GROUP], displayName: 'pwned' } },
        { method: 'DELETE', path: `/Groups/${aGroup.id}` },
        { method: 'POST', bulkId: 'g1', path: '/Groups', data: { schemas: [GROUP], displayName: unique('bulk-smuggle-'), members: [{ value: aUser.id }] } },
        { method: 'PATCH', path: `/Groups/${bGroup.id}`, data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: [{ value: aUser.id }] }] } },
      ],
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const statuses = (res.body.Operations as { status: string }[]).map((o) => o.status);
    assert.equal(statuses.length, 9, JSON.stringify(res.body));
    assert.equal(statuses[0].startsWith('4'), true, `GET in bulk: ${statuses[0]}`);
    assert.deepEqual(statuses.slice(1), ['404', '404', '404', '404', '404', '404', '400', '400'], JSON.stringify(res.body));
    for (const op of res.body.Operations as { response?: { schemas: string[] } }[]) assert.equal(op.response?.schemas[0], 'urn:ietf:params:scim:api:messages:2.0:Error');

    assert.deepEqual(await snapshot(a.org.id, [aUser.id], [aGroup.id]), beforeA);
    assert.deepEqual(await snapshot(b.org.id, [bUser.id], [bGroup.id]), beforeB);
    assert.deepEqual(await testDb()('group_members').where({ membership_id: aUser.id }).whereNot({ org_id: a.org.id }), []);
  });

  it('one person in two organisations: each organisation sees and changes only its own SCIM attributes', async () => {
    const a = await newOrg();
    const b = await newOrg();
    const email = `${unique('shared')}@example.test`;
    const inA = await createUser(a.scim, email, {
      name: { givenName: 'Alice', familyName: 'Anders' }, title: 'Engineer', externalId: 'a-ext',
      phoneNumbers: [{ value: '+1 555 0100', type: 'work' }], [ENTERPRISE]: { department: 'R&D' },
    });
    const inB = await createUser(b.scim, email, { name: { givenName: 'Bea', familyName: 'B' } });
    assert.notEqual(inA.id, inB.id);
    const aView = (await a.scim.get(`/Users/${inA.id}`)).body;
    const account = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first();

    const patched = await b.scim.patch(`/Users/${inB.id}`, [
      { op: 'replace', path: 'name.givenName', value: 'Mallory' },
      { op: 'replace', path: 'emails', value: [{ value: 'mallory@evil.test', type: 'work', primary: true }] },
      { op: 'add', path: 'title', value: 'Attacker' },
      { op: 'replace', path: 'phoneNumbers', value: [{ value: '+1 555 0666', type: 'work' }] },
      { op: 'add', path: `${ENTERPRISE}:department`, value: 'Evil' },
      { op: 'replace', path: 'externalId', value: 'b-ext' },
    ]);
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.equal(patched.body.name.givenName, 'Mallory');

    const after = (await a.scim.get(`/Users/${inA.id}`)).body;
    assert.deepEqual(after, aView);
    assert.deepEqual(await findUsers(a, 'name.givenName eq "Mallory"'), []);
    assert.deepEqual(await findUsers(a, 'emails.value eq "mallory@evil.test"'), []);
    assert.deepEqual(await findUsers(a, `emails.value eq "${email}"`), [inA.id]);
    assert.deepEqual(await testDb()('accounts').where({ id: account.id }).first(), account);

    // And the other way round: the managing org's change reaches the account, never B's view.
    const bView = (await b.scim.get(`/Users/${inB.id}`)).body;
    const byA = await a.scim.patch(`/Users/${inA.id}`, [{ op: 'replace', path: 'name.givenName', value: 'Alicia' }, { op: 'replace', path: 'title', value: 'Lead' }]);
    assert.equal(byA.status, 200);
    assert.deepEqual((await b.scim.get(`/Users/${inB.id}`)).body, bView);
    assert.equal((await testDb()('accounts').where({ id: account.id }).first()).given_name, 'Alicia');
  });

  it("uniqueness is per organisation: B may reuse A's userName and group displayName, so a 409 reveals nothing of A", async () => {
    const a = await newOrg();
    const b = await newOrg();
    const userName = unique('same-name');
    const inA = await createUser(a.scim, userName, { emails: [{ value: `${unique('a')}@example.test`, primary: true }] });
    const aGroup = await createGroup(a.scim, unique('Same Group '));
    const res = await b.scim.post('/Users', userBody(userName.toUpperCase(), { emails: [{ value: `${unique('b')}@example.test`, primary: true }] }));
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.notEqual(res.body.id, inA.id);
    const g = await b.scim.post('/Groups', { schemas: [GROUP], displayName: aGroup.displayName });
    assert.equal(g.status, 201, JSON.stringify(g.body));
    assert.notEqual(g.body.id, aGroup.id);
    assert.equal((await a.scim.get(`/Users/${inA.id}`)).body.userName, userName);
  });

  it("B cannot point its own resources at A's by id in a way that reads A's data back", async () => {
    const a = await newOrg();
    const b = await newOrg();
    const aUser = await createUser(a.scim, undefined, { displayName: 'Secret Person' });
    const bUser = await createUser(b.scim);
    const res = await b.scim.patch(`/Users/${bUser.id}`, [{ op: 'replace', path: `${ENTERPRISE}:manager`, value: { value: aUser.id } }]);
    assert.ok(res.status === 200 || res.status === 400, `${res.status} ${JSON.stringify(res.body)}`);
    const got = await b.scim.get(`/Users/${bUser.id}`);
    assert.equal(JSON.stringify(got.body).includes('Secret Person'), false);
    assert.equal(JSON.stringify(got.body).includes(aUser.userName), false);
    assert.equal((await b.scim.get(`/Users?filter=${encodeURIComponent(`${ENTERPRISE}:manager.value eq "${aUser.id}"`)}&attributes=userName`)).body.Resources.some((r: { id: string }) => r.id === aUser.id), false);
  });
});
