import assert from 'node:assert/strict';
import { assertScimError, createUser, ENTERPRISE, newOrg } from '../helpers.ts';
import { testDb } from '../setup.ts';

describe('SCIM PATCH /Users', () => {
  it('applies add, replace and remove with paths, ops in any letter case', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim, undefined, { title: 'Old' });
    const res = await org.scim.patch(`/Users/${u.id}`, [
      { op: 'Replace', path: 'name.givenName', value: 'Barbara' },
      { op: 'ADD', path: 'nickName', value: 'Babs' },
      { op: 'remove', path: 'title' },
    ]);
    assert.equal(res.status, 200);
    assert.equal(res.body.name.givenName, 'Barbara');
    assert.equal(res.body.name.familyName, 'Family');
    assert.equal(res.body.nickName, 'Babs');
    assert.equal('title' in res.body, false);
    assert.equal(res.body.meta.version, 'W/"2"');
  });

  it('lands Entra\'s no-path dotted and URN-qualified keys nested, never as literal keys', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const res = await org.scim.patch(`/Users/${u.id}`, [{
      op: 'Replace',
      value: { 'name.givenName': 'Dotted', [`${ENTERPRISE}:employeeNumber`]: '42', [`${ENTERPRISE}:manager`]: 'boss-id', displayName: 'D' },
    }]);
    assert.equal(res.status, 200);
    assert.equal(res.body.name.givenName, 'Dotted');
    assert.equal(res.body[ENTERPRISE].employeeNumber, '42');
    assert.equal(res.body[ENTERPRISE].manager.value, 'boss-id');
    assert.equal(res.body.displayName, 'D');
    assert.equal('name.givenName' in res.body, false);
    const row = await testDb()('memberships').where({ id: u.id }).first();
    assert.equal(row.given_name, 'Dotted');
    assert.equal(row.employee_number, '42');
    assert.equal(row.manager_id, 'boss-id');
    assert.deepEqual(Object.keys(row.protocol_data), [], 'nothing lands as a literal dotted key');
  });

  it('updates filtered value paths in place, and creates the entry when none matches', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const res = await org.scim.patch(`/Users/${u.id}`, [
      { op: 'replace', path: 'emails[type eq "work"].value', value: 'changed@example.test' },
      { op: 'replace', path: 'addresses[type eq "work"].formatted', value: '1 Main St' },
      { op: 'add', path: 'phoneNumbers[type eq "mobile"].value', value: '+15550001' },
    ]);
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.emails, [{ value: 'changed@example.test', type: 'work', primary: true }]);
    assert.deepEqual(res.body.addresses, [{ type: 'work', formatted: '1 Main St' }]);
    assert.deepEqual(res.body.phoneNumbers, [{ type: 'mobile', value: '+15550001' }]);
    const removed = await org.scim.patch(`/Users/${u.id}`, [{ op: 'remove', path: 'phoneNumbers[type eq "mobile"]' }]);
    assert.equal('phoneNumbers' in removed.body, false);
  });

  it('handles the manager as an id string, as {value}, and removes it with ""', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const manager = await createUser(org.scim);
    const path = `${ENTERPRISE}:manager`;
    let res = await org.scim.patch(`/Users/${u.id}`, [{ op: 'add', path, value: manager.id }]);
    assert.equal(res.body[ENTERPRISE].manager.value, manager.id);
    res = await org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', path, value: { value: 'other' } }]);
    assert.equal(res.body[ENTERPRISE].manager.value, 'other');
    res = await org.scim.patch(`/Users/${u.id}`, [{ op: 'Replace', path, value: '' }]);
    assert.equal(res.status, 200);
    assert.equal(res.body[ENTERPRISE]?.manager, undefined);
  });

  it('deactivates with Okta\'s {"active": false} and Entra\'s "False"; the user stays readable by id and filter', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    let res = await org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', value: { active: false } }]);
    assert.equal(res.status, 200);
    assert.equal(res.body.active, false);
    res = await org.scim.patch(`/Users/${u.id}`, [{ op: 'Replace', path: 'active', value: 'True' }]);
    assert.equal(res.body.active, true);
    res = await org.scim.patch(`/Users/${u.id}`, [{ op: 'Replace', path: 'active', value: 'False' }]);
    assert.equal(res.body.active, false);
    assert.equal((await org.scim.get(`/Users/${u.id}`)).body.active, false);
    const found = await org.scim.get(`/Users?filter=${encodeURIComponent(`userName eq "${u.userName}"`)}`);
    assert.equal(found.body.totalResults, 1);
    assert.equal(found.body.Resources[0].active, false);
    const member = await testDb()('memberships').where({ id: u.id }).first();
    assert.equal(member.status, 'deactivated');
    assert.equal((await testDb()('accounts').where({ id: member.account_id }).first()).status, 'deactivated');
  });

  it('is all or nothing: one bad operation leaves the user exactly as it was', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const before = await testDb()('memberships').where({ id: u.id }).first();
    for (const bad of [
      [{ op: 'replace', path: 'displayName', value: 'Changed' }, { op: 'replace', path: 'nosuch', value: 'x' }],
      [{ op: 'replace', path: 'displayName', value: 'Changed' }, { op: 'replace', path: 'id', value: 'x' }],
      [{ op: 'replace', path: 'displayName', value: 'Changed' }, { op: 'replace', path: 'active', value: 'perhaps' }],
      [{ op: 'replace', path: 'displayName', value: 'Changed' }, { op: 'remove', path: 'userName' }],
      [{ op: 'replace', path: 'displayName', value: 'Changed' }, { op: 'move', path: 'title' }],
    ]) {
      const res = await org.scim.patch(`/Users/${u.id}`, bad);
      assert.equal(res.status, 400, JSON.stringify(res.body));
    }
    const after = await testDb()('memberships').where({ id: u.id }).first();
    assert.deepEqual(after, before);
  });

  it('refuses read-only paths with 400 mutability and unknown ones with 400 invalidPath', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    assertScimError(await org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', path: 'meta.created', value: '2020-01-01T00:00:00Z' }]), 400, 'mutability');
    assertScimError(await org.scim.patch(`/Users/${u.id}`, [{ op: 'add', path: 'groups', value: [{ value: 'x' }] }]), 400, 'mutability');
    assertScimError(await org.scim.patch(`/Users/${u.id}`, [{ op: 'add', path: 'favouriteColour', value: 'blue' }]), 400, 'invalidPath');
    assertScimError(await org.scim.patch(`/Users/${u.id}`, [{ op: 'remove' }]), 400, 'noTarget');
    assertScimError(await org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', path: 'emails[type eq', value: 'x' }]), 400);
  });

  it('lets the managing organisation set a password, stored hashed', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const member = await testDb()('memberships').where({ id: u.id }).first();
    const res = await org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', path: 'password', value: 'a new password' }]);
    assert.equal(res.status, 200);
    assert.equal('password' in res.body, false);
    const account = await testDb()('accounts').where({ id: member.account_id }).first();
    assert.match(account.password_hash, /^\$argon2id\$/);
    assertScimError(await org.scim.patch(`/Users/${u.id}`, [{ op: 'replace', path: 'password', value: 'short' }]), 400, 'invalidValue');
  });

  it('refuses a userName change that collides, in any case, with 409', async () => {
    const org = await newOrg();
    const a = await createUser(org.scim);
    const b = await createUser(org.scim);
    const res = await org.scim.patch(`/Users/${b.id}`, [{ op: 'replace', path: 'userName', value: a.userName.toUpperCase() }]);
    assertScimError(res, 409, 'uniqueness');
  });
});
