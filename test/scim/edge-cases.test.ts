import assert from 'node:assert/strict';
import { assertScimError, createGroup, createUser, ENTERPRISE, GROUP, newOrg, unique, USER, userBody } from '../helpers.ts';
import { testDb } from '../setup.ts';

describe('SCIM edge cases', () => {
  it('refuses strings that are not well-formed Unicode (lone surrogates) with 400, in bodies and filters', async () => {
    const org = await newOrg();
    assertScimError(await org.scim.post('/Users', userBody(`${unique('s')}@example.test`, { name: { givenName: '\ud800' } })), 400, 'invalidValue');
    assertScimError(await org.scim.post('/Users', userBody(`x\ud800${unique('s')}@example.test`)), 400, 'invalidValue');
    assertScimError(await org.scim.post('/Groups', { schemas: [GROUP], displayName: 'g\ud800' }), 400, 'invalidValue');
    const u = await createUser(org.scim);
    assertScimError(await org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', path: 'emails[value eq "\ud800"].type', value: 'home' }]), 400, 'invalidFilter');
    assertScimError(await org.scim.get(`/Users?filter=${encodeURIComponent('userName eq "\\ud800"')}`), 400, 'invalidFilter');
  });

  it('refuses a blank group displayName or userName', async () => {
    const org = await newOrg();
    assertScimError(await org.scim.post('/Groups', { schemas: [GROUP], displayName: '   ' }), 400, 'invalidValue');
    assertScimError(await org.scim.post('/Users', userBody('   ', { emails: [{ value: `${unique('b')}@example.test` }] })), 400, 'invalidValue');
  });

  it('a person created inactive gets an account that cannot sign in', async () => {
    const org = await newOrg();
    const res = await org.scim.post('/Users', userBody(`${unique('inactive')}@example.test`, { active: 'False' }));
    assert.equal(res.status, 201);
    const member = await testDb()('memberships').where({ id: res.body.id }).first();
    assert.equal((await testDb()('accounts').where({ id: member.account_id }).first()).status, 'deactivated');
  });

  it('removing members with an empty list removes nobody', async () => {
    const org = await newOrg();
    const a = await createUser(org.scim);
    const g = await createGroup(org.scim, undefined, [a.id]);
    assert.equal((await org.scim.patch(`/Groups/${g.id}`, [{ op: 'remove', path: 'members', value: [] }])).status, 204);
    assert.equal((await testDb()('group_members').where({ group_id: g.id })).length, 1);
  });

  it('links the same new person added by two organisations at once to one account', async () => {
    const a = await newOrg();
    const b = await newOrg();
    const email = `${unique('race')}@example.test`;
    const [ra, rb] = await Promise.all([a.scim.post('/Users', userBody(email)), b.scim.post('/Users', userBody(email))]);
    assert.deepEqual([ra.status, rb.status], [201, 201]);
    const accounts = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]);
    assert.equal(accounts.length, 1);
    const members = await testDb()('memberships').whereIn('id', [ra.body.id, rb.body.id]);
    assert.deepEqual(members.map((m) => m.account_id), [accounts[0].id, accounts[0].id]);
  });

  it('never lets concurrent creates exceed the licence limit', async () => {
    const org = await newOrg();
    await testDb()('organizations').where({ id: org.org.id }).update({ license_limit: 3 }); // the owner holds one seat
    const results = await Promise.all(Array.from({ length: 8 }, () => org.scim.post('/Users', userBody(`${unique('seat')}@example.test`))));
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [201, 201, 403, 403, 403, 403, 403, 403]);
    const active = await testDb()('memberships').where({ org_id: org.org.id, status: 'active' }).count({ n: '*' });
    assert.equal(Number(active[0].n), 3);
    // A deactivated person takes no seat, and reactivating needs one.
    const inactive = await org.scim.post('/Users', userBody(`${unique('seat')}@example.test`, { active: false }));
    assert.equal(inactive.status, 201);
    assertScimError(await org.scim.patch(`/Users/${inactive.body.id}`, [{ op: 'replace', path: 'active', value: true }]), 403);
  });

  it('returns a whole extension when attributes names its URN, and refuses sortBy on meta.version with invalidValue', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim, undefined, { [ENTERPRISE]: { department: 'Ops', employeeNumber: '7' } });
    const res = await org.scim.get(`/Users/${u.id}?attributes=${ENTERPRISE}`);
    assert.deepEqual(res.body[ENTERPRISE], { department: 'Ops', employeeNumber: '7' });
    assert.equal('userName' in res.body, false);
    assertScimError(await org.scim.get('/Users?sortBy=meta.version'), 400, 'invalidValue');
    assert.deepEqual(res.body.schemas, [USER, ENTERPRISE]);
  });
});
