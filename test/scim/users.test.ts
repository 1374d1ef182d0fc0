import assert from 'node:assert/strict';
import { assertScimError, createUser, ENTERPRISE, newOrg, SCIM_BASE, unique, USER, userBody } from '../helpers.ts';
import { testDb } from '../setup.ts';

describe('SCIM /Users', () => {
  it('creates a user: 201, the full resource, Location and ETag, and a managed account', async () => {
    const org = await newOrg();
    const userName = `${unique('bjensen')}@example.test`;
    const res = await org.scim.post('/Users', userBody(userName, { externalId: 'ext-1', [ENTERPRISE]: { employeeNumber: '701984', department: 'Tour' } }));
    assert.equal(res.status, 201);
    assert.match(String(res.headers['content-type']), /^application\/scim\+json/);
    const u = res.body;
    assert.deepEqual(u.schemas, [USER, ENTERPRISE]);
    assert.equal(u.userName, userName);
    assert.equal(u.externalId, 'ext-1');
    assert.equal(u.active, true);
    assert.deepEqual(u.name, { givenName: 'Given', familyName: 'Family' });
    assert.equal(u[ENTERPRISE].employeeNumber, '701984');
    assert.equal(u.meta.resourceType, 'User');
    assert.equal(u.meta.location, `${SCIM_BASE}/Users/${u.id}`);
    assert.equal(res.headers.location, u.meta.location);
    assert.equal(res.headers.etag, u.meta.version);
    const account = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [userName]).first();
    assert.equal(account.managed_by_org_id, org.org.id);
    assert.equal(account.given_name, 'Given');
  });

  it('reads a user by id, and answers 404 in SCIM form for an unknown or malformed id', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const res = await org.scim.get(`/Users/${u.id}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.id, u.id);
    assertScimError(await org.scim.get('/Users/7b4b5cb8-0ad0-4d52-8c0f-8f1c25fc4a6a'), 404);
    assertScimError(await org.scim.get('/Users/not-a-uuid'), 404);
    assertScimError(await org.scim.get(`/Users/${encodeURIComponent("1' or '1'='1")}`), 404);
  });

  it('refuses a duplicate userName in any letter case with 409 uniqueness, and writes nothing', async () => {
    const org = await newOrg();
    const userName = `${unique('dup')}@example.test`;
    await createUser(org.scim, userName);
    const before = await testDb()('memberships').where({ org_id: org.org.id }).count({ n: '*' });
    const res = await org.scim.post('/Users', userBody(userName.toUpperCase(), { emails: [{ value: `other-${userName}`, primary: true }] }));
    assertScimError(res, 409, 'uniqueness');
    const after = await testDb()('memberships').where({ org_id: org.org.id }).count({ n: '*' });
    assert.deepEqual(after, before);
    assert.equal(await testDb()('accounts').whereRaw('lower(email) = lower(?)', [`other-${userName}`]).first(), undefined);
  });

  it('refuses wrong types, a missing userName, a missing core schema and malformed JSON with 400, changing nothing', async () => {
    const org = await newOrg();
    const count = async () => (await testDb()('memberships').where({ org_id: org.org.id }).count({ n: '*' }))[0];
    const before = await count();
    assertScimError(await org.scim.post('/Users', { schemas: [USER], userName: 123 }), 400, 'invalidValue');
    assertScimError(await org.scim.post('/Users', { schemas: [USER], name: { givenName: 'x' } }), 400, 'invalidValue');
    assertScimError(await org.scim.post('/Users', { userName: 'x@example.test' }), 400, 'invalidValue');
    assertScimError(await org.scim.post('/Users', { schemas: ['urn:example:unknown'], userName: 'x@example.test' }), 400, 'invalidValue');
    assertScimError(await org.scim.post('/Users', userBody('x@example.test', { active: 'maybe' })), 400, 'invalidValue');
    assertScimError(await org.scim.post('/Users', userBody('x@example.test', { emails: 'x@example.test' })), 400, 'invalidValue');
    assertScimError(await org.scim.post('/Users', userBody('x@example.test', { name: 'Jensen' })), 400, 'invalidValue');
    assertScimError(await org.scim.post('/Users', [1, 2]), 400);
    const malformed = await org.scim.post('/Users').send('{"schemas": [');
    assertScimError(malformed, 400, 'invalidSyntax');
    assert.deepEqual(await count(), before);
  });

  it('answers 413 in SCIM form for a body over the size limit', async () => {
    const org = await newOrg();
    const res = await org.scim.post('/Users', userBody('big@example.test', { nickName: 'x'.repeat(1_100_000) }));
    assertScimError(res, 413);
  });

  it('ignores what clients send back and must not be rejected: meta, id, groups, nulls, unknown attributes', async () => {
    const org = await newOrg();
    const userName = `${unique('extra')}@example.test`;
    const res = await org.scim.post('/Users', userBody(userName, {
      id: 'client-chosen', meta: { resourceType: 'User' }, groups: [], roles: [], title: null, nickName: '', customThing: 'x',
    }));
    assert.equal(res.status, 201);
    assert.notEqual(res.body.id, 'client-chosen');
    assert.equal('title' in res.body, false);
    assert.equal('customThing' in res.body, false);
  });

  it('takes booleans as the strings Entra sends ("False")', async () => {
    const org = await newOrg();
    const res = await org.scim.post('/Users', userBody(`${unique('entra')}@example.test`, { active: 'False' }));
    assert.equal(res.status, 201);
    assert.equal(res.body.active, false);
  });

  it('stores a password as an argon2id hash and never returns it', async () => {
    const org = await newOrg();
    const userName = `${unique('pw')}@example.test`;
    const res = await org.scim.post('/Users', userBody(userName, { password: 'correct horse battery staple' }));
    assert.equal(res.status, 201);
    assert.equal('password' in res.body, false);
    const got = await org.scim.get(`/Users/${res.body.id}?attributes=password,userName`);
    assert.equal('password' in got.body, false);
    const account = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [userName]).first();
    assert.match(account.password_hash, /^\$argon2id\$/);
    assert.equal(account.password_hash.includes('correct horse'), false);
  });

  it('links a person who already has an account, changing nothing of that account', async () => {
    const a = await newOrg();
    const b = await newOrg();
    const email = `${unique('shared')}@example.test`;
    await createUser(a.scim, email, { password: 'first-org-password', name: { givenName: 'Alice', familyName: 'A' } });
    const before = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first();
    const res = await b.scim.post('/Users', userBody(email, { password: 'second-org-password', name: { givenName: 'Mallory', familyName: 'M' } }));
    assert.equal(res.status, 201);
    assert.equal(res.body.name.givenName, 'Mallory'); // org B's own view
    const after = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first();
    assert.deepEqual(after, before);
    // Org B does not manage the account: its password write is not applied (and not refused, which would tell).
    const patch = await b.scim.patch(`/Users/${res.body.id}`, [{ op: 'replace', path: 'password', value: 'another-password' }]);
    assert.equal(patch.status, 200);
    assert.equal((await testDb()('accounts').where({ id: before.id }).first()).password_hash, before.password_hash);
  });

  it('replaces a user with PUT, and the managing organisation\'s view reaches the account', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const newEmail = `${unique('renamed')}@example.test`;
    const res = await org.scim.put(`/Users/${u.id}`, userBody(newEmail, { name: { givenName: 'New', familyName: 'Name' }, id: u.id, meta: {} }));
    assert.equal(res.status, 200);
    assert.equal(res.body.userName, newEmail);
    assert.equal(res.body.meta.version, 'W/"2"');
    const member = await testDb()('memberships').where({ org_id: org.org.id, id: u.id }).first();
    const account = await testDb()('accounts').where({ id: member.account_id }).first();
    assert.equal(account.email, newEmail);
    assert.equal(account.given_name, 'New');
  });

  it('deletes a user: 204, then 404; the last membership of a managed account takes the account with it', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const member = await testDb()('memberships').where({ org_id: org.org.id, id: u.id }).first();
    const res = await org.scim.delete(`/Users/${u.id}`);
    assert.equal(res.status, 204);
    assertScimError(await org.scim.get(`/Users/${u.id}`), 404);
    assertScimError(await org.scim.delete(`/Users/${u.id}`), 404);
    assert.equal(await testDb()('accounts').where({ id: member.account_id }).first(), undefined);
  });

  it('keeps an account that another organisation still uses when one organisation deletes its membership', async () => {
    const a = await newOrg();
    const b = await newOrg();
    const email = `${unique('kept')}@example.test`;
    const ua = await createUser(a.scim, email);
    await createUser(b.scim, email);
    assert.equal((await a.scim.delete(`/Users/${ua.id}`)).status, 204);
    const account = await testDb()('accounts').whereRaw('lower(email) = lower(?)', [email]).first();
    assert.ok(account, 'the account survives');
    assert.equal(account.managed_by_org_id, null);
    assert.equal(account.status, 'active');
  });

  it('refuses to delete or deactivate the owner of the organisation', async () => {
    const org = await newOrg();
    assertScimError(await org.scim.delete(`/Users/${org.owner.id}`), 403);
    assertScimError(await org.scim.patch(`/Users/${org.owner.id}`, [{ op: 'replace', value: { active: false } }]), 403);
    const member = await testDb()('memberships').where({ org_id: org.org.id, id: org.owner.id }).first();
    assert.equal(member.status, 'active');
  });

  it('requires an e-mail address to create a person', async () => {
    const org = await newOrg();
    const res = await org.scim.post('/Users', { schemas: [USER], userName: unique('noemail') });
    assertScimError(res, 400, 'invalidValue');
  });

  it('honours If-Match (412 when stale) and If-None-Match (304 when current)', async () => {
    const org = await newOrg();
    const u = await createUser(org.scim);
    const stale = await org.scim.put(`/Users/${u.id}`, userBody(u.userName, { displayName: 'x' })).set('If-Match', 'W/"7"');
    assertScimError(stale, 412);
    const ok = await org.scim.put(`/Users/${u.id}`, userBody(u.userName, { displayName: 'x' })).set('If-Match', u.meta.version);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.etag, 'W/"2"');
    const notModified = await org.scim.get(`/Users/${u.id}`).set('If-None-Match', 'W/"2"');
    assert.equal(notModified.status, 304);
    const modified = await org.scim.get(`/Users/${u.id}`).set('If-None-Match', 'W/"1"');
    assert.equal(modified.status, 200);
    assertScimError(await org.scim.delete(`/Users/${u.id}`).set('If-Match', 'W/"1"'), 412);
  });
});
